/**
 * `tds-server migrate-store`: a SQLite installation populated through the real server (CSR and
 * server-made keys, a revocation, a pending renewal, a CSV import whose sealed keys wait for
 * download, tokens, audit, telemetry) is moved into a real PostgreSQL and served from it: every
 * table row for row, the same CRL, the same rules (a MAC held before is still held), ids that go on
 * after the copied ones. The CLI's options and refusals: a non-empty target, a password on the
 * command line, a URL that is not PostgreSQL, an unreachable database, and a copy that fails half
 * way leaves the target empty.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, createDeviceCsr, SqliteMqttRepository, SqliteRepository, type ProvisionResponse } from '@tds/server';
import { freePort } from '../../test/support/ports.js';
import { startPostgres, type PostgresCluster } from '../../test/support/postgres.js';
import { startTestServer, type TestServer } from '../../test/support/server.js';

let pg: PostgresCluster;
let server: TestServer;

beforeAll(async () => {
  [pg, server] = await Promise.all([startPostgres(), startTestServer({ noTls: true })]);
});
afterAll(async () => {
  await server?.stop();
  await pg?.stop();
});

/** Every row of every table, booleans and blobs in one form, for a comparison of the two stores. */
async function dumpSqlite(file: string): Promise<Record<string, Record<string, unknown>[]>> {
  const db = new Database(file, { readonly: true });
  try {
    const tables = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY name`).all() as { name: string }[]).map((r) => r.name);
    return Object.fromEntries(tables.map((t) => [t, (db.prepare(`SELECT * FROM "${t}" ORDER BY 1`).all() as Record<string, unknown>[]).map(normalise)]));
  } finally {
    db.close();
  }
}

async function dumpPostgres(url: string, tables: string[]): Promise<Record<string, Record<string, unknown>[]>> {
  const out: Record<string, Record<string, unknown>[]> = {};
  // `seq` of bootstrap_requests exists only in PostgreSQL (the insertion order SQLite's rowid gives).
  for (const t of tables) out[t] = (await pg.query(url, `SELECT * FROM "${t}" ORDER BY 1`)).map(({ seq: _seq, ...r }) => normalise(r));
  return out;
}

function normalise(r: Record<string, unknown>): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) o[k] = typeof v === 'boolean' ? (v ? 1 : 0) : Buffer.isBuffer(v) ? v.toString('hex') : v;
  return o;
}

describe('migrate-store', () => {
  it('moves a populated SQLite installation into PostgreSQL, checked, and the server runs on it unchanged', async () => {
    const api = server.client();
    const provisioned: ProvisionResponse[] = [];
    for (let i = 0; i < 6; i++) {
      const mac = `02:aa:00:00:00:${(i * 2).toString(16).padStart(2, '0')}`;
      provisioned.push(
        await api.provision({ mac_address: mac, codigo: `GW${i}`, nome: `Gateway ${i} — Sala D'Ávila`, conta_id: server.contaId, ...(i % 2 ? { csr_pem: (await createDeviceCsr({ mac })).csrPem } : {}) }),
      );
    }
    await api.revoke(provisioned[0]!.gateway_id, 'keyCompromise');
    const pending = await api.renewPending(provisioned[1]!.gateway_id);
    await api.importCsv('mac_address,codigo,nome\n02:aa:00:00:01:00,IMP1,importado\n02:aa:00:00:01:02,IMP2,importado\n');
    const other = await server.createAccount('other account');
    // Telemetry straight into the store (no broker in this test).
    const file = path.join(server.dataDir, 'tds-server.db');
    const sqlite = new SqliteRepository(file);
    const mqtt = new SqliteMqttRepository(sqlite.db);
    await mqtt.insertTelemetry(
      Array.from({ length: 2_500 }, (_, i) => ({
        gatewayId: provisioned[2]!.gateway_id,
        measuredAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
        receivedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
        valor: i / 10,
        unidade: 'kWh',
        slaveId: i % 3 === 0 ? null : 1,
        register: 40_001,
        firmwareVersion: '1.0.0',
      })),
    );
    await mqtt.updatePresence(provisioned[3]!.gateway_id, { at: '2026-01-01T00:00:00Z', isOnline: true, lastSeen: '2026-01-01T00:00:00Z', firmwareVersion: '1.0.0' });
    // Zero-touch and fleet rows (a bootstrap request's id is text, its order a PostgreSQL-only column).
    const ev = { at: '2026-01-01T00:00:00Z', accountId: server.contaId, actor: 'test', action: 'test', object: null, sourceIp: null, result: 'ok' as const, detail: null };
    await sqlite.recordBirthCertificate(
      { mac: '02:aa:00:00:03:00', serialNumber: 'B0001', certificatePem: 'pem', keyType: 'ec', model: 'M1', accountId: server.contaId, claimSecretHash: 'h', issuedAt: '2026-01-01T00:00:00Z', expiresAt: '2046-01-01T00:00:00Z' },
      { replace: false, at: '2026-01-01T00:00:00Z' },
      ev,
    );
    for (const id of ['0a'.repeat(16), '0b'.repeat(16)]) {
      await sqlite.createBootstrapRequest(
        {
          id,
          mac: '02:aa:00:00:03:02',
          path: 'open',
          csrPem: 'csr',
          publicKeyDer: Buffer.from([1, 2, 3]),
          keyFingerprint: id,
          keyType: 'ec',
          codeHash: 'c',
          birthSerial: null,
          model: null,
          firmwareVersion: null,
          sourceIp: null,
          createdAt: '2099-01-01T00:00:00Z',
          expiresAt: '2099-01-01T00:30:00Z',
          pollInterval: 5,
        },
        { supersede: 'same-key', caps: { perMac: 3, total: 10 } },
        ev,
      );
    }
    await sqlite.recordClaimFailure(['operator:1'], '2026-01-01T00:00:00Z', ev);
    await sqlite.recordScheduledRun({ job: 'crl', startedAt: '2026-01-01T00:00:00Z', finishedAt: '2026-01-01T00:00:01Z', result: 'ok', detail: null }, ev);
    await sqlite.close();
    const crlBefore = await api.getCrlPem();
    api.close();
    await server.kill();
    const before = await dumpSqlite(file);

    const url = await pg.createDatabase('migrate');
    const r = await server.cli(['migrate-store', '--to', url, '--use', '--json']);
    const report = JSON.parse(r.stdout) as { to: string; tables: Record<string, number>; serials: number; config_updated: boolean };
    expect(report.tables).toEqual(Object.fromEntries(Object.entries(before).map(([t, rows]) => [t, rows.length])));
    expect(report.tables.telemetry).toBe(2_500);
    expect(report.serials).toBe(before.certificates!.length);
    expect(report.config_updated).toBe(true);
    expect(report.to).toBe(`PostgreSQL ${url}`);
    expect(await dumpPostgres(url, Object.keys(before))).toEqual(before);

    // The same server, now on PostgreSQL (config.json records the URL).
    await server.restart();
    const again = server.client();
    expect(server.process.output()).toContain('"store":"postgres"');
    const list = await again.listAllGateways();
    expect(list.map((g) => g.id).sort()).toEqual([...new Set(before.gateways!.map((g) => g.id as number))].sort());
    expect(await again.getCrlPem()).toBe(crlBefore);
    const detail = await again.getGateway(provisioned[1]!.gateway_id);
    expect(detail.certificados.map((c) => c.status).sort()).toEqual(['active', 'pending']);
    await again.confirmRenewal(provisioned[1]!.gateway_id, pending.serial_number);
    // A MAC held in SQLite is still held; a new gateway gets the next id.
    const otherClient = new ApiClient({ baseUrl: server.apiUrl, token: other.tokens.operator });
    await expect(otherClient.provision({ mac_address: provisioned[2]!.mac_address!, codigo: 'X', nome: 'x', conta_id: other.contaId })).rejects.toMatchObject({ status: 409 });
    otherClient.close();
    const fresh = await again.provision({ mac_address: '02:aa:00:00:02:00', codigo: 'NEW', nome: 'new', conta_id: server.contaId });
    expect(fresh.gateway_id).toBe(Math.max(...before.gateways!.map((g) => g.id as number)) + 1);
    // The imported keys still wait, sealed, for their one download.
    const imported = list.find((g) => g.codigo === 'IMP1')!;
    const zip = await again.downloadCertificates(imported.id);
    expect(zip.zip.length).toBeGreaterThan(0);
    // The copied requests keep SQLite's order (newest first, same second: the later insert first).
    expect((await pg.query<{ id: string }>(url, `SELECT id FROM bootstrap_requests ORDER BY created_at DESC, seq DESC`)).map((x) => x.id)).toEqual(['0b'.repeat(16), '0a'.repeat(16)]);
    const telemetry = await again.telemetry(provisioned[2]!.gateway_id, { since: '2026-01-01T00:00:00Z', limit: 10 });
    expect(telemetry.results.map((x) => x.valor)).toEqual([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]);
    again.close();

    // A second run into the same (now used) database is refused and changes nothing.
    const refused = await server.cli(['migrate-store', '--to', url], { allowFailure: true });
    expect(refused.code).toBe(1);
    expect(refused.output).toMatch(/is not empty \(.*accounts.*\); migrate-store only fills an empty database/);
  });

  it('options and refusals: password on the command line, not PostgreSQL, no database name, unreachable, and a failed copy leaves the target empty', async () => {
    const s = await startTestServer({ noTls: true });
    try {
      const cases: [string[], RegExp][] = [
        [['migrate-store', '--to', 'postgres://tds:secret@127.0.0.1:5432/tds'], /--to must not carry a password .*PGPASSWORD or ~\/\.pgpass/],
        [['migrate-store', '--to', 'mysql://127.0.0.1/tds'], /must be a postgres:\/\/ URL/],
        [['migrate-store', '--to', 'postgres://127.0.0.1:5432'], /name the database in the URL/],
        [['migrate-store', '--to', 'not a url'], /is not a URL like postgres:/],
        [['migrate-store'], /required option '--to <url>' not specified/],
        [['migrate-store', '--to', `postgres://postgres@127.0.0.1:${await freePort()}/nothing`], /cannot prepare PostgreSQL postgres:\/\/postgres@127\.0\.0\.1:\d+\/nothing: .*ECONNREFUSED|connect/],
      ];
      for (const [args, message] of cases) {
        const r = await s.cli(args, { allowFailure: true });
        expect(r.code, args.join(' ')).toBe(1);
        expect(r.output, args.join(' ')).toMatch(message);
      }
      // The two dialects disagree on a table (as if a migration lacked its PostgreSQL half): refused
      // after some tables were already copied, and the whole copy is rolled back.
      const url2 = await pg.createDatabase('broken2');
      const prepared = await s.cli(['account', 'list', '--database', url2, '--json']); // migrates the empty target
      expect(JSON.parse(prepared.stdout)).toEqual([]);
      await pg.query(url2, 'ALTER TABLE telemetry ADD COLUMN extra TEXT');
      const broken = await s.cli(['migrate-store', '--to', url2], { allowFailure: true });
      expect(broken.code).toBe(1);
      expect(broken.output).toMatch(/table telemetry: extra only in PostgreSQL; the two migrations disagree/);
      for (const t of ['accounts', 'api_tokens', 'gateways', 'certificates', 'audit_events', 'installation']) {
        expect((await pg.query<{ n: number }>(url2, `SELECT count(*) AS n FROM ${t}`))[0]!.n, t).toBe(0);
      }
    } finally {
      await s.stop();
    }
  });
});
