/**
 * Several `tds-server serve` processes on one real PostgreSQL, as behind a load balancer:
 * - concurrent issuance through both, two accounts racing for every MAC, revocations through the
 *   other instance, then SIGKILL of one: every 201 is stored exactly once on its gateway, serials
 *   are unique, no MAC has live certificates in two accounts, nothing is half written, the CRL is
 *   valid for openssl and lists exactly the revoked serials, and the survivor keeps serving;
 * - a CRL signed through one instance is served by the other; a stale CRL is re-signed by exactly
 *   one of them (the advisory lock), also when the one that usually signs is down;
 * - failed-login lockouts count across instances;
 * - /healthz, /readyz and a graceful drain on SIGTERM (in-flight request finished, exit code 0).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, ApiError, ServerUnreachableError, createDeviceCsr } from '@tds/server';
import { startInstance, type ServerInstance } from '../../test/support/instances.js';
import { startPostgres, type PostgresCluster } from '../../test/support/postgres.js';
import { startTestServer, TDS_SERVER_CLI } from '../../test/support/server.js';
import { OpenSsl } from './support/openssl.js';
import { run } from './support/run.js';

let pg: PostgresCluster;
let work: string;
let openssl: OpenSsl;

beforeAll(async () => {
  pg = await startPostgres();
  work = mkdtempSync(path.join(tmpdir(), 'tds-multi-'));
  openssl = new OpenSsl(work);
});
afterAll(async () => {
  await pg?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const macOf = (prefix: string, i: number): string => `${prefix}:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;

/** Serial numbers (uppercase hex, no leading zeros) listed by `openssl crl -text`. */
function crlSerials(text: string): Set<string> {
  return new Set([...text.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => m[1]!.replace(/^0+/, '')));
}

describe('two instances on one PostgreSQL', () => {
  it('concurrent issuance through both, one SIGKILLed mid-load: every 201 stored once, no MAC in two accounts, valid CRL, the survivor serves', async () => {
    const url = await pg.createDatabase('load');
    const a = await startTestServer({ database: url });
    let b: ServerInstance | undefined;
    try {
      b = await startInstance(a, { name: 'b' });
      const other = await a.createAccount('second account');
      const N = 240;
      const work = await Promise.all(Array.from({ length: N }, async (_, i) => ({ mac: macOf('02:dd:00:00', i * 2), csrPem: (await createDeviceCsr({ mac: macOf('02:dd:00:00', i * 2) })).csrPem })));
      const clients = {
        a1: new ApiClient({ baseUrl: a.apiUrl, caPem: a.caPem, token: a.tokens.operator, timeoutMs: 15_000 }),
        b1: new ApiClient({ baseUrl: b.apiUrl, caPem: a.caPem, token: a.tokens.operator, timeoutMs: 15_000 }),
        b2: new ApiClient({ baseUrl: b.apiUrl, caPem: a.caPem, token: other.tokens.operator, timeoutMs: 15_000 }),
        a2: new ApiClient({ baseUrl: a.apiUrl, caPem: a.caPem, token: other.tokens.operator, timeoutMs: 15_000 }),
      };
      const acknowledged: { mac: string; serial: string; gatewayId: number; account: number }[] = [];
      const revokedAck = new Set<string>();
      const unknownOutcome = new Set<string>();
      const failures: string[] = [];
      let killed = false;
      let ackAtKill = 0;
      let next = 0;

      const attempt = async (client: ApiClient, viaA: boolean, account: number, job: { mac: string; csrPem: string }): Promise<void> => {
        try {
          const r = await client.provision({ mac_address: job.mac, codigo: 'LOAD', nome: 'load', conta_id: account, csr_pem: job.csrPem });
          acknowledged.push({ mac: job.mac, serial: r.serial_number, gatewayId: r.gateway_id, account });
          // Every 8th certificate is revoked through the other instance while the load runs.
          if (acknowledged.length % 8 === 0 && account === a.contaId) {
            await clients.b1.revoke(r.gateway_id, 'keyCompromise');
            revokedAck.add(r.serial_number);
          }
        } catch (err) {
          if (err instanceof ApiError && err.status === 409) return; // the other account won the MAC
          if (viaA && killed && (err instanceof ServerUnreachableError || (err instanceof ApiError && err.status >= 500))) {
            unknownOutcome.add(job.mac); // in flight when A died: committed or not, never half
            return;
          }
          failures.push(`${viaA ? 'A' : 'B'} ${job.mac}: ${err instanceof ApiError ? `${err.status} ${err.error}` : String(err)}`);
        }
      };
      const worker = async (): Promise<void> => {
        while (next < N) {
          const job = work[next++]!;
          // Both accounts want this MAC, one through each instance (through B alone once A is dead).
          await Promise.all([attempt(killed ? clients.b1 : clients.a1, !killed, a.contaId, job), attempt(clients.b2, false, other.contaId, job)]);
        }
      };
      const killer = (async () => {
        while (acknowledged.length < 80) await new Promise((r) => setTimeout(r, 5));
        killed = true;
        ackAtKill = acknowledged.length;
        await a.kill();
      })();
      await Promise.all([...Array.from({ length: 16 }, worker), killer]);

      expect(failures).toEqual([]);
      expect(killed).toBe(true);
      expect(next).toBe(N);
      expect(acknowledged.length).toBeGreaterThan(ackAtKill + 20); // the load went on through B
      // Every MAC was won by exactly one request (or is of unknown outcome, A died with it in flight).
      const winners = new Map<string, number>();
      for (const x of acknowledged) winners.set(x.mac, (winners.get(x.mac) ?? 0) + 1);
      expect([...winners.values()].every((n) => n === 1)).toBe(true);

      const rows = await pg.query<{ serial_number: string; subject_cn: string; gateway_id: number; account_id: number; status: string }>(
        url,
        `SELECT serial_number, subject_cn, gateway_id, account_id, status FROM certificates WHERE kind = 'device'`,
      );
      const bySerial = new Map(rows.map((r) => [r.serial_number, r]));
      expect(bySerial.size).toBe(rows.length); // unique serials
      for (const x of acknowledged) {
        expect(bySerial.get(x.serial), x.serial).toEqual({
          serial_number: x.serial,
          subject_cn: x.mac,
          gateway_id: x.gatewayId,
          account_id: x.account,
          status: revokedAck.has(x.serial) ? 'revoked' : 'active',
        });
      }
      // Stored without an acknowledgement only for requests in flight when A died.
      for (const r of rows) if (!acknowledged.some((x) => x.serial === r.serial_number)) expect(unknownOutcome.has(r.subject_cn), r.subject_cn).toBe(true);
      expect(await pg.query(url, `SELECT subject_cn FROM certificates WHERE kind = 'device' AND status IN ('active', 'pending') GROUP BY subject_cn HAVING count(DISTINCT account_id) > 1 OR count(*) FILTER (WHERE status = 'active') > 1`)).toEqual([]);
      // Nothing half written: no gateway without its certificate, no provisioning without its audit row.
      expect(await pg.query(url, `SELECT g.id FROM gateways g WHERE NOT EXISTS (SELECT 1 FROM certificates c WHERE c.gateway_id = g.id)`)).toEqual([]);
      expect(await pg.query(url, `SELECT g.id FROM gateways g WHERE NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.object = 'gateway:' || g.id AND e.action = 'gateway.provision')`)).toEqual([]);

      // The survivor serves: a CRL openssl verifies, listing exactly the revoked serials, and new work.
      const survivor = clients.b1;
      const fresh = await survivor.provision({ mac_address: '02:dd:ff:00:00:02', codigo: 'AFTER', nome: 'after the kill', conta_id: a.contaId });
      await survivor.revoke(fresh.gateway_id, 'cessationOfOperation');
      const crl = await openssl.crlText(await survivor.getCrlPem(), a.caPem);
      expect(crl.ok, crl.text).toBe(true);
      const revokedInDb = (await pg.query<{ serial_number: string }>(url, `SELECT serial_number FROM certificates WHERE status = 'revoked'`)).map((r) => r.serial_number.replace(/^0+/, ''));
      expect(crlSerials(crl.text)).toEqual(new Set(revokedInDb));
      const state = (await pg.query<{ crl_number: number; last_number: number }>(url, 'SELECT crl_number, last_number FROM crl_state'))[0]!;
      expect(crl.text).toMatch(new RegExp(`X509v3 CRL Number:\\s*\\n\\s*${state.crl_number}\\b`));
      for (const c of Object.values(clients)) c.close();
    } finally {
      await b?.stop();
      await a.stop();
    }
  });

  it('CRL: signed through one instance, served by the other; a stale CRL is re-signed once, also with its usual signer down', async () => {
    const url = await pg.createDatabase('crl');
    const a = await startTestServer({ database: url, noTls: true });
    let b: ServerInstance | undefined;
    try {
      b = await startInstance(a, { name: 'b', extraServeArgs: ['--no-tls'] });
      const ca = a.client();
      const cb = b.client();
      const g = await ca.provision({ mac_address: '02:de:00:00:00:02', codigo: 'C', nome: 'c', conta_id: a.contaId });
      const revoked = await ca.revoke(g.gateway_id, 'keyCompromise');
      const served = await openssl.crlText(await cb.getCrlPem(), a.caPem);
      expect(served.ok).toBe(true);
      expect(crlSerials(served.text).has(g.serial_number.replace(/^0+/, ''))).toBe(true);
      expect(served.text).toMatch(new RegExp(`X509v3 CRL Number:\\s*\\n\\s*${revoked.crl_number}\\b`));

      // Stale (past half its lifetime): requests to both instances at once → exactly one new signature.
      const stale = async (): Promise<number> => {
        await pg.query(url, `UPDATE crl_state SET this_update = '2020-01-01T00:00:00Z', next_update = '2020-01-08T00:00:00Z'`);
        return (await pg.query<{ last_number: number }>(url, 'SELECT last_number FROM crl_state'))[0]!.last_number;
      };
      let before = await stale();
      const pems = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? ca : cb).getCrlPem()));
      const after = (await pg.query<{ last_number: number; crl_number: number }>(url, 'SELECT last_number, crl_number FROM crl_state'))[0]!;
      expect(after.last_number).toBe(before + 1);
      expect(after.crl_number).toBe(before + 1);
      const newest = await cb.getCrlPem();
      expect(pems.filter((p) => p === newest).length).toBeGreaterThan(0);

      // The usual signer is gone: the other one keeps the CRL fresh.
      await a.kill();
      before = await stale();
      const fresh = await openssl.crlText(await cb.getCrlPem(), a.caPem);
      expect(fresh.ok).toBe(true);
      expect(fresh.text).toMatch(new RegExp(`X509v3 CRL Number:\\s*\\n\\s*${before + 1}\\b`));
      ca.close();
      cb.close();
    } finally {
      await b?.stop();
      await a.stop();
    }
  });

  it('failed logins count across instances: the limit is reached through both and then holds on both', async () => {
    const url = await pg.createDatabase('auth');
    const a = await startTestServer({ database: url, noTls: true, authFailLimit: 6 });
    let b: ServerInstance | undefined;
    try {
      b = await startInstance(a, { name: 'b', extraServeArgs: ['--no-tls', '--auth-fail-limit', '6'] });
      const bad = (u: string) => new ApiClient({ baseUrl: u, token: 'tds_' + 'x'.repeat(43) });
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) {
        const c = bad(i % 2 ? b.apiUrl : a.apiUrl);
        statuses.push(await c.listGateways().then(() => 200, (e: unknown) => (e as ApiError).status));
        c.close();
      }
      expect(statuses).toEqual([401, 401, 401, 401, 401, 401]);
      for (const u of [a.apiUrl, b.apiUrl]) {
        const c = bad(u);
        const e = (await c.listGateways().catch((x: unknown) => x)) as ApiError;
        expect(e.status, u).toBe(429);
        expect(e.error).toMatch(/too many failed authentication attempts/);
        c.close();
        // A valid token from the locked address is refused too, before it is looked at.
        const good = new ApiClient({ baseUrl: u, token: a.tokens.operator });
        expect(((await good.listGateways().catch((x: unknown) => x)) as ApiError).status).toBe(429);
        good.close();
      }
    } finally {
      await b?.stop();
      await a.stop();
    }
  });

  it('health and readiness for a load balancer; SIGTERM drains: readiness off, the request in flight answered, exit code 0', async () => {
    const url = await pg.createDatabase('drain');
    const a = await startTestServer({ database: url, noTls: true });
    let b: ServerInstance | undefined;
    try {
      b = await startInstance(a, { name: 'b', extraServeArgs: ['--no-tls', '--drain-delay', '1'] });
      expect(await (await fetch(`${b.url}/healthz`)).json()).toMatchObject({ status: 'ok', version: expect.any(String) as string, schedule: { renewal: { enabled: true }, crl: { enabled: true } } });
      const ready = await fetch(`${b.url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'ready', checks: { database: 'ok', ca: 'ok' } });

      // A slow request (RSA-2048 key made by the server) is in flight when SIGTERM arrives.
      const cb = b.client();
      const slow = cb.provision({ mac_address: '02:df:00:00:00:02', codigo: 'SLOW', nome: 'slow', conta_id: a.contaId, key_type: 'rsa' });
      await new Promise((r) => setTimeout(r, 30));
      const exit = b.terminate();
      await new Promise((r) => setTimeout(r, 200));
      const draining = await fetch(`${b.url}/readyz`);
      expect(draining.status).toBe(503);
      expect(await draining.json()).toMatchObject({ status: 'draining' });
      expect((await fetch(`${b.url}/healthz`)).status).toBe(200);
      const answered = await slow;
      expect(answered.private_key_pem).toMatch(/BEGIN PRIVATE KEY/);
      expect(await exit).toBe(0);
      expect(b.process.output()).toMatch(/"msg":"stopped"|stopped/);
      cb.close();
      // What it answered is stored.
      const stored = await pg.query(url, 'SELECT status FROM certificates WHERE serial_number = $1', [answered.serial_number]);
      expect(stored).toEqual([{ status: 'active' }]);
    } finally {
      await b?.stop();
      await a.stop();
    }
  });

  it('configuration refusals: a password on the command line, not PostgreSQL, the embedded broker with PostgreSQL, init of a used database', async () => {
    const url = await pg.createDatabase('config');
    const a = await startTestServer({ database: url, noTls: true });
    try {
      const cli = (args: string[]) => run(process.execPath, [TDS_SERVER_CLI, ...args], { env: { TDS_CA_PASSPHRASE: a.passphrase } });
      const cases: [string[], RegExp][] = [
        [['serve', '--data', a.dataDir, '--database', `postgres://postgres:secret@127.0.0.1:${pg.port}/x`], /--database must not carry a password \(other local users can read the command line\): put it in PGPASSWORD or ~\/\.pgpass/],
        [['serve', '--data', a.dataDir, '--database', 'sqlite:///tmp/x.db'], /--database must be a postgres:\/\/ URL \(SQLite in the data folder is the default: leave it out for SQLite\)/],
        [['serve', '--data', a.dataDir, '--broker'], /the embedded MQTT broker \(--broker\) serves a single server instance .*run Mosquitto: "tds-server broker-kit", then serve with --mqtt-url/],
        [['account', 'list', '--data', a.dataDir, '--database', 'postgres://127.0.0.1'], /--database: name the database in the URL/],
      ];
      for (const [args, message] of cases) {
        const r = await cli(args);
        expect(r.code, args.join(' ')).toBe(1);
        expect(r.output, args.join(' ')).toMatch(message);
      }
      // $TDS_DATABASE_URL may carry a password (the environment is not the process list) and wins over config.json.
      const viaEnv = await run(process.execPath, [TDS_SERVER_CLI, 'account', 'list', '--data', a.dataDir, '--json'], { env: { TDS_DATABASE_URL: `postgres://postgres:unused@127.0.0.1:${pg.port}/${url.split('/').pop()}` } });
      expect(viaEnv.code, viaEnv.output).toBe(0);
      expect((JSON.parse(viaEnv.stdout) as { name: string }[]).map((x) => x.name)).toEqual(['test account']);
      // A second installation may not take over the database of the first, neither by init nor by serve.
      const dir = mkdtempSync(path.join(tmpdir(), 'tds-init-'));
      try {
        const r = await cli(['init', '--data', path.join(dir, 'data'), '--database', url]);
        expect(r.code).toBe(1);
        expect(r.output).toMatch(/already holds a TDS server; refusing to initialise it again \(to add an instance, copy this server's data folder instead\)/);
        expect((await cli(['init', '--data', path.join(dir, 'foreign')])).code).toBe(0);
        const s = await cli(['serve', '--data', path.join(dir, 'foreign'), '--database', url, '--port', '0', '--no-tls']);
        expect(s.code).toBe(1);
        expect(s.output).toMatch(/belongs to another CA .*every instance must use a copy of the same data folder/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    } finally {
      await a.stop();
    }
  });
});
