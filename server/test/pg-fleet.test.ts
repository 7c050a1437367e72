/**
 * What several server instances on one real PostgreSQL share beyond issuance, one cluster for the
 * file and a database per test:
 * - the scheduler: two instances' schedulers on one database run a job once per period between them
 *   (the job's advisory lock and the recorded runs), and the survivor goes on when one stops;
 * - zero-touch limits: the per-address limit and the server-wide admission limit of `bootstrap/`
 *   count across two in-process servers, not per instance;
 * - backup and restore of a PostgreSQL store (`tds-server backup`, `pg_dump` while a server keeps
 *   issuing; `restore` with `pg_restore` into a new database, refused into a used one), then a server
 *   from the restored folder.
 */
import { cpSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, createApiToken, initServerData, startServer, type ProvisionResponse, type RunningServer } from '@tds/server';
import { openStore, type StoreBackend } from '@tds/server/store';
import { Scheduler } from '../src/service/scheduler.js';
import { startPostgres, type PostgresCluster } from '../../test/support/postgres.js';
import { TDS_SERVER_CLI } from '../../test/support/server.js';
import { tempDir } from '../../test/support/temp.js';
import { run } from './support/run.js';

const PASS = 'pg fleet test passphrase';
const BACKUP_PASS = 'pg backup passphrase, long enough';
const quiet = { info() {}, warn() {}, error() {} };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const work = tempDir('tds-pg-fleet-');
let pg: PostgresCluster;

beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(async () => {
  await pg?.stop();
  work.remove();
});

/** An initialised data folder on a fresh PostgreSQL database, and a copy of it (a second host). */
async function installation(name: string, settings: Parameters<typeof initServerData>[0]['settings'] = () => undefined): Promise<{ url: string; a: string; b: string }> {
  const url = await pg.createDatabase(name);
  const a = path.join(work.path, `${name}-a`);
  const b = path.join(work.path, `${name}-b`);
  await initServerData({ dataDir: a, passphrase: PASS, postgresUrl: url, settings });
  cpSync(a, b, { recursive: true });
  return { url, a, b };
}

const serve = (dataDir: string): Promise<RunningServer> => startServer({ dataDir, passphrase: PASS, port: 0, tls: 'off', logger: quiet });

describe('the scheduler with two instances', () => {
  it('runs a job once per period between them, and the survivor keeps running it', async () => {
    const url = await pg.createDatabase('sched');
    const stores: StoreBackend[] = [await openStore({ kind: 'postgres', url }), await openStore({ kind: 'postgres', url })];
    const EVERY = 600;
    const runs: { instance: number; at: number }[] = [];
    const errors: unknown[] = [];
    const schedulers = stores.map(
      (store, instance) =>
        new Scheduler(
          {
            renewal: {
              everyMs: EVERY,
              run: async () => {
                const startedAt = new Date();
                runs.push({ instance, at: Date.now() });
                await sleep(50);
                // As ScheduledJobs records a run (here to the millisecond).
                await store.repo.recordScheduledRun(
                  { job: 'renewal', startedAt: startedAt.toISOString(), finishedAt: new Date().toISOString(), result: 'ok', detail: `instance ${instance}` },
                  { at: startedAt.toISOString(), accountId: null, actor: `instance-${instance}`, action: 'schedule.renewal', object: null, sourceIp: null, result: 'ok', detail: null },
                );
              },
            },
            crl: { everyMs: null, run: async () => undefined },
          },
          () => store.repo.listScheduledRuns(),
          (_job, err) => errors.push(err),
          { cluster: store.cluster!, startDelayMs: 0 },
        ),
    );
    try {
      await Promise.all(schedulers.map((s) => s.start()));
      await sleep(4_200);
      const both = runs.length;
      // Uncoordinated, two schedulers would run it about 14 times in 4.2 s; together once per 600 ms.
      expect(both).toBeGreaterThanOrEqual(3);
      expect(both).toBeLessThanOrEqual(8);
      for (let i = 1; i < runs.length; i++) expect(runs[i]!.at - runs[i - 1]!.at).toBeGreaterThanOrEqual(EVERY - EVERY / 10 - 5);
      expect(errors).toEqual([]);
      // Every run recorded and audited once; /healthz of both shows the same last run.
      const [s0, s1] = await Promise.all(schedulers.map((s) => s.status()));
      expect(s0!.renewal.lastRun).not.toBeNull();
      expect(s0!.renewal.lastRun).toBe(s1!.renewal.lastRun);

      // The instance that ran it last stops; the other one carries on alone.
      const last = runs[runs.length - 1]!.instance;
      schedulers[last]!.stop();
      const before = runs.length;
      await sleep(2_000);
      const after = runs.slice(before);
      expect(after.length).toBeGreaterThanOrEqual(2);
      expect(after.every((r) => r.instance !== last)).toBe(true);
      const audited = await stores[0]!.repo.listAudit(undefined, { limit: 100, offset: 0, action: 'schedule.renewal' });
      expect(audited.count).toBe(runs.length);
    } finally {
      for (const s of schedulers) s.stop();
      for (const s of stores) await s.close();
    }
  });
});

describe('zero-touch limits with two instances', () => {
  it('the per-address limit and the admission limit count across the instances', async () => {
    const { a, b } = await installation('ztlimits', (s) => {
      s.bootstrap.perAddressPerMinute = 3;
      s.bootstrap.admissionPerSecond = 1;
    });
    const servers = [await serve(a), await serve(b)];
    try {
      const nonce = async (server: RunningServer, i: number): Promise<{ status: number; code: unknown }> => {
        const res = await fetch(`${server.apiUrl}/gateways/bootstrap/nonce/`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ mac_address: `02:c3:00:00:00:${String(i).padStart(2, '0')}` }),
        });
        const body = (await res.json()) as { details?: { code?: unknown } };
        return { status: res.status, code: body.details?.code };
      };
      const [A, B] = servers as [RunningServer, RunningServer];
      // Admitted (no birth identity: 404), then the other instance within the same second: the server is busy.
      expect(await nonce(A, 1)).toEqual({ status: 404, code: 'no_birth_identity' });
      expect(await nonce(B, 2)).toEqual({ status: 429, code: 'busy' });
      await sleep(1_100);
      // The third request of this address (counted on both instances) passes; the fourth is over the limit.
      expect(await nonce(B, 3)).toEqual({ status: 404, code: 'no_birth_identity' });
      expect(await nonce(A, 4)).toEqual({ status: 429, code: 'rate_limited' });
    } finally {
      for (const s of servers) await s.close();
    }
  });
});

describe('backup and restore of a PostgreSQL store', () => {
  let server: RunningServer;
  let dataDir: string;
  let backupFile: string;
  let client: ApiClient;
  let accountId: number;
  const before: ProvisionResponse[] = [];
  let during = 0;
  const cli = (args: string[], env: Record<string, string> = {}) => run(process.execPath, [TDS_SERVER_CLI, ...args], { env: { TDS_BACKUP_PASSPHRASE: BACKUP_PASS, ...env }, timeoutMs: 120_000 });

  beforeAll(async () => {
    ({ a: dataDir } = await installation('backup'));
    server = await serve(dataDir);
    const account = await server.repo.createAccount('backup', { at: '2026-01-01T00:00:00Z', accountId: null, actor: 'test', action: 'account.create', object: null, sourceIp: null, result: 'ok', detail: null });
    accountId = account.id;
    const { token } = await createApiToken(server.repo, { accountId, role: 'operator' }, 'test');
    client = new ApiClient({ baseUrl: server.apiUrl, token });
    for (let i = 0; i < 12; i++) before.push(await client.provision({ mac_address: `02:c4:00:00:00:${String(i).padStart(2, '0')}`, codigo: `B${i}`, nome: 'before', conta_id: account.id }));
    await client.revoke(before[0]!.gateway_id, 'keyCompromise');
    // Issuance goes on while pg_dump runs.
    let stop = false;
    const load = (async () => {
      for (let i = 0; !stop; i++) {
        await client.provision({ mac_address: `02:c4:00:00:01:${(i % 256).toString(16).padStart(2, '0')}`, codigo: 'L', nome: 'during', conta_id: account.id }).catch(() => undefined);
        during++;
      }
    })();
    backupFile = path.join(work.path, 'pg.tdsbackup');
    const r = await cli(['backup', '--data', dataDir, '--out', backupFile, '--json']);
    stop = true;
    await load;
    expect(r.code, r.output).toBe(0);
    expect(JSON.parse(r.stdout) as { store: { kind: string } }).toMatchObject({ store: { kind: 'postgres' } });
  }, 180_000);

  afterAll(async () => {
    client?.close();
    await server?.close();
  });

  it('the backup is made online, encrypted (no dump, no certificate readable in it), and checks out', async () => {
    expect(during).toBeGreaterThan(0);
    const bytes = readFileSync(backupFile);
    expect(bytes.includes(Buffer.from('PGDMP'))).toBe(false);
    expect(bytes.includes(Buffer.from('BEGIN CERTIFICATE'))).toBe(false);
    const r = await cli(['restore', '--from', backupFile, '--check', '--json']);
    expect(r.code, r.output).toBe(0);
    expect((JSON.parse(r.stdout) as { files: { path: string }[] }).files.map((f) => f.path)).toContain('postgres.dump');
  });

  it('restore into a database that holds the store already is refused, and nothing is written', async () => {
    const target = path.join(work.path, 'restored-refused');
    const r = await cli(['restore', '--from', backupFile, '--data', target, '--json']);
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/is not empty \(\d+ tables\); restore into a new, empty database/);
    expect(existsSync(target)).toBe(false);
  });

  it('restore into a new database: every certificate answered before the backup is there, the folder uses the new database, a server serves from it', async () => {
    const url = await pg.createDatabase('restored');
    const target = path.join(work.path, 'restored');
    const r = await cli(['restore', '--from', backupFile, '--data', target, '--database', url, '--json']);
    expect(r.code, r.output).toBe(0);
    expect(existsSync(path.join(target, 'postgres.dump'))).toBe(false);
    expect((JSON.parse(readFileSync(path.join(target, 'config.json'), 'utf8')) as { database: { url: string } }).database.url).toBe(url);

    const rows = await pg.query<{ serial_number: string; status: string }>(url, 'SELECT serial_number, status FROM certificates');
    const status = new Map(rows.map((x) => [x.serial_number, x.status]));
    for (const p of before.slice(1)) expect(status.get(p.serial_number)).toBe('active');
    expect(status.get(before[0]!.serial_number)).toBe('revoked');

    const restored = await serve(target);
    try {
      expect(restored.store.kind).toBe('postgres');
      expect(restored.caPem).toBe(server.caPem);
      expect((await restored.repo.listRevoked()).map((x) => x.serialNumber)).toContain(before[0]!.serial_number);
      const token = (await createApiToken(restored.repo, { accountId: accountId, role: 'operator' }, 'test')).token;
      const c = new ApiClient({ baseUrl: restored.apiUrl, token });
      const fresh = await c.provision({ mac_address: '02:c4:00:00:02:00', codigo: 'N', nome: 'after the restore', conta_id: accountId });
      expect(fresh.serial_number).not.toBe('');
      c.close();
    } finally {
      await restored.close();
    }
    // The original database did not change.
    expect((await pg.query(server.settings.database!.url!, `SELECT 1 FROM certificates WHERE subject_cn = '02:c4:00:00:02:00'`)).length).toBe(0);
  });
});
