import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, ApiError, ServerUnreachableError, createDeviceCsr } from '@tds/server';
import { startTestServer, type TestServer } from '../../test/support/server.js';

/**
 * Crash consistency: SIGKILL the server in the middle of a concurrent issuance load. After the
 * restart the database passes integrity_check, serials are unique, and every certificate a client
 * got a 201 for is in the database, active, on the right gateway.
 */
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.stop();
});

describe('crash consistency', () => {
  it('SIGKILL under 32 concurrent provisioning clients loses no acknowledged certificate', async () => {
    const N = 800;
    const work = await Promise.all(
      Array.from({ length: N }, async (_, i) => {
        const mac = `02:cc:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
        return { mac, csrPem: (await createDeviceCsr({ mac })).csrPem };
      }),
    );
    const acknowledged: { mac: string; serial: string; gatewayId: number }[] = [];
    const failures: string[] = [];
    let next = 0;
    let killed = false;
    const client = new ApiClient({ baseUrl: server.apiUrl, caPem: server.caPem, token: server.tokens.operator, timeoutMs: 10_000 });

    const worker = async (): Promise<void> => {
      while (next < N) {
        const job = work[next++]!;
        try {
          const r = await client.provision({ mac_address: job.mac, codigo: 'CRASH', nome: 'crash test', conta_id: server.contaId, csr_pem: job.csrPem });
          acknowledged.push({ mac: job.mac, serial: r.serial_number, gatewayId: r.gateway_id });
        } catch (err) {
          if (err instanceof ServerUnreachableError && killed) return;
          failures.push(err instanceof ApiError ? `${err.status} ${err.error}` : String(err));
          return;
        }
      }
    };
    const killer = (async () => {
      while (acknowledged.length < 150) await new Promise((r) => setTimeout(r, 5));
      killed = true;
      await server.kill();
    })();
    await Promise.all([...Array.from({ length: 32 }, worker), killer]);
    client.close();

    expect(failures).toEqual([]);
    expect(killed).toBe(true);
    expect(acknowledged.length).toBeGreaterThanOrEqual(150);
    expect(acknowledged.length).toBeLessThan(N); // the kill really interrupted the load

    await server.restart();
    const db = new Database(path.join(server.dataDir, 'tds-server.db'), { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(db.pragma('foreign_key_check')).toEqual([]);
      const { total, uniq } = db.prepare('SELECT count(*) AS total, count(DISTINCT serial_number) AS uniq FROM certificates').get() as { total: number; uniq: number };
      expect(uniq).toBe(total);
      const find = db.prepare("SELECT c.status, c.subject_cn, c.gateway_id, g.mac FROM certificates c JOIN gateways g ON g.id = c.gateway_id WHERE c.serial_number = ?");
      for (const a of acknowledged) {
        expect(find.get(a.serial), a.serial).toEqual({ status: 'active', subject_cn: a.mac, gateway_id: a.gatewayId, mac: a.mac });
      }
      const stored = (db.prepare("SELECT count(*) n FROM certificates WHERE subject_cn LIKE '02:cc:%'").get() as { n: number }).n;
      // In-flight requests may have committed without their response arriving; never fewer.
      expect(stored).toBeGreaterThanOrEqual(acknowledged.length);
    } finally {
      db.close();
    }
    // The restarted server works on the same data.
    const after = server.client('operator');
    expect((await after.listGateways({ codigo: 'CRASH', page_size: 1 })).count).toBeGreaterThanOrEqual(acknowledged.length);
    const more = await after.provision({ mac_address: '02:cc:ff:00:00:01', codigo: 'AFTER', nome: 'after restart', conta_id: server.contaId });
    expect(more.serial_number).toMatch(/^[0-9A-F]{32}$/);
    after.close();
  });
});
