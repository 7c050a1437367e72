/**
 * PostgreSQL restarted under load, two server instances on it: while the database is away every
 * request that needs it gets a clear 503 (JSON body saying the database is unavailable, Retry-After)
 * and /readyz says so; nothing is half written; once it is back both instances serve again without
 * being restarted, and their notifications work again (a CRL signed through one reaches the other's
 * data folder).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, ApiError, createDeviceCsr } from '@tds/server';
import { startInstance, type ServerInstance } from '../../test/support/instances.js';
import { startPostgres, type PostgresCluster } from '../../test/support/postgres.js';
import { startTestServer, type TestServer } from '../../test/support/server.js';

let pg: PostgresCluster;
let url: string;
let a: TestServer;
let b: ServerInstance;

beforeAll(async () => {
  pg = await startPostgres();
  url = await pg.createDatabase('restart');
  a = await startTestServer({ database: url, noTls: true });
  b = await startInstance(a, { name: 'b', extraServeArgs: ['--no-tls'] });
});
afterAll(async () => {
  await b?.stop();
  await a?.stop();
  await pg?.stop();
});

const until = async (what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<number> => {
  const start = Date.now();
  for (;;) {
    if (await check().catch(() => false)) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

describe('PostgreSQL restarted mid-load', () => {
  it('503 with a clear body while it is away, nothing partial, both instances recover on their own', async () => {
    const clients = [
      new ApiClient({ baseUrl: a.apiUrl, token: a.tokens.operator, timeoutMs: 15_000 }),
      new ApiClient({ baseUrl: b.apiUrl, token: a.tokens.operator, timeoutMs: 15_000 }),
    ];
    const acknowledged: { mac: string; serial: string }[] = [];
    const unavailable: { mac: string; body: string; retryAfter: boolean }[] = [];
    const other: string[] = [];
    let phase: 'before' | 'down' | 'after' = 'before';
    const afterRecovery: number[] = [];
    let i = 0;
    let stop = false;
    const worker = async (w: number): Promise<void> => {
      while (!stop) {
        const n = i++;
        const mac = `02:ee:00:00:${(n >> 7).toString(16).padStart(2, '0')}:${((n & 0x7f) * 2).toString(16).padStart(2, '0')}`;
        const client = clients[w % 2]!;
        try {
          const r = await client.provision({ mac_address: mac, codigo: 'PGR', nome: 'restart', conta_id: a.contaId, csr_pem: (await createDeviceCsr({ mac })).csrPem });
          acknowledged.push({ mac, serial: r.serial_number });
          if (phase === 'after') afterRecovery.push(w);
        } catch (err) {
          if (err instanceof ApiError && err.status === 503) unavailable.push({ mac, body: err.error, retryAfter: true });
          else other.push(`${phase} ${mac}: ${err instanceof ApiError ? `${err.status} ${err.error}` : String(err)}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
    await until('load running', async () => acknowledged.length >= 30, 30_000);

    await pg.stopServer();
    phase = 'down';
    const down = Date.now();
    // While it is away: clear 503s from both instances, readiness off, liveness on.
    await until('503 from both instances', async () => unavailable.length >= 4, 10_000);
    for (const inst of [a, b]) {
      const r = await fetch(`${inst.url}/readyz`);
      expect(r.status).toBe(503);
      expect(await r.json()).toEqual({ status: 'unavailable', checks: { database: 'unavailable', ca: 'ok' } });
      expect((await fetch(`${inst.url}/healthz`)).status).toBe(200);
    }
    const direct = await fetch(`${b.apiUrl}/gateways/`, { headers: { authorization: `Token ${a.tokens.operator}` } });
    expect(direct.status).toBe(503);
    expect(direct.headers.get('retry-after')).toBe('5');
    expect(await direct.json()).toEqual({ error: 'the database is unavailable; retry in a few seconds' });
    await new Promise((r) => setTimeout(r, Math.max(0, 1_500 - (Date.now() - down))));

    await pg.startServer();
    phase = 'after';
    const recovered = await until('issuance through both instances again', async () => new Set(afterRecovery.map((w) => w % 2)).size === 2, 20_000);
    stop = true;
    await load;
    for (const c of clients) c.close();

    expect(other).toEqual([]);
    expect(unavailable.every((u) => u.body === 'the database is unavailable; retry in a few seconds')).toBe(true);
    expect(recovered).toBeLessThan(20_000);
    // Nothing partial: every 201 stored and active; no gateway without its certificate and audit row.
    const rows = await pg.query<{ serial_number: string; subject_cn: string; status: string }>(url, `SELECT serial_number, subject_cn, status FROM certificates`);
    const stored = new Map(rows.map((r) => [r.serial_number, r]));
    for (const x of acknowledged) expect(stored.get(x.serial), x.serial).toEqual({ serial_number: x.serial, subject_cn: x.mac, status: 'active' });
    expect(await pg.query(url, `SELECT g.id FROM gateways g WHERE NOT EXISTS (SELECT 1 FROM certificates c WHERE c.gateway_id = g.id)`)).toEqual([]);
    expect(await pg.query(url, `SELECT g.id FROM gateways g WHERE NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.object = 'gateway:' || g.id)`)).toEqual([]);
    // A request that got 503 was stored only if the connection broke during its COMMIT: whole, never half.
    const ackMacs = new Set(acknowledged.map((x) => x.mac));
    for (const u of unavailable) {
      const found = rows.filter((r) => r.subject_cn === u.mac);
      expect(found.length, u.mac).toBeLessThanOrEqual(1);
      if (found.length === 1) expect(ackMacs.has(u.mac)).toBe(false);
    }

    // The listening connections came back: a CRL signed through A reaches B's data folder.
    const ca = a.client();
    const gw = await ca.provision({ mac_address: '02:ee:ff:00:00:02', codigo: 'AFTER', nome: 'after', conta_id: a.contaId });
    const { crl_number } = await ca.revoke(gw.gateway_id, 'keyCompromise');
    ca.close();
    const crlFile = path.join(b.dataDir, 'crl.pem');
    const latest = (await pg.query<{ crl_pem: string }>(url, 'SELECT crl_pem FROM crl_state'))[0]!.crl_pem;
    await until(`CRL ${crl_number} in B's crl.pem`, async () => readFileSync(crlFile, 'utf8') === latest, 5_000);
  });
});
