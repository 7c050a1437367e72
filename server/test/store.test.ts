import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import {
  ImportRowError,
  MacConflictError,
  SqliteRepository,
  createApiToken,
  hashToken,
  migrations,
  type Migration,
  type NewAuditEvent,
  type NewCertificate,
} from '@tds/server';
import { tempDir } from '../../test/support/temp.js';

const audit = (action: string): NewAuditEvent => ({ at: '2026-01-01T00:00:00Z', accountId: null, actor: 'test', action, object: null, sourceIp: null, result: 'ok', detail: null });
let serialCounter = 0;
const cert = (mac: string, expiresAt = '2036-01-01T00:00:00Z'): NewCertificate => ({
  kind: 'device',
  serialNumber: `ABCD${String(++serialCounter).padStart(8, '0')}`,
  subjectCn: mac,
  certificatePem: '-----BEGIN CERTIFICATE-----\n(test)\n-----END CERTIFICATE-----\n',
  keyOrigin: 'device',
  keyType: 'ec',
  issuedAt: '2026-01-01T00:00:00Z',
  expiresAt,
});

describe('SQLite store', () => {
  let dir: ReturnType<typeof tempDir>;
  let file: string;
  let repo: SqliteRepository;

  beforeEach(() => {
    dir = tempDir('tds-store-');
    file = path.join(dir.path, 'db.sqlite');
    repo = new SqliteRepository(file);
  });
  afterEach(async () => {
    await repo.close();
    dir.remove();
  });

  const counts = () => ({
    gateways: (repo.db.prepare('SELECT count(*) n FROM gateways').get() as { n: number }).n,
    certificates: (repo.db.prepare('SELECT count(*) n FROM certificates').get() as { n: number }).n,
  });

  it('opens with WAL, foreign keys and secure_delete, and records applied migrations', () => {
    expect(repo.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(repo.db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(repo.db.pragma('secure_delete', { simple: true })).toBe(1);
    const rows = repo.db.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as { version: number }[];
    expect(rows.map((r) => r.version)).toEqual(migrations.map((m) => m.version));
    expect(() => repo.db.prepare("INSERT INTO gateways (account_id, codigo, mac, nome, created_at, updated_at) VALUES (999, 'x', 'y', 'z', 't', 't')").run()).toThrow(/FOREIGN KEY/);
  });

  it('applies a new migration once, in order, and refuses a database newer than the code', async () => {
    await repo.close();
    const extra: Migration = { version: 900, name: 'test table', sql: 'CREATE TABLE presence_test (mac TEXT PRIMARY KEY, seen TEXT)' };
    repo = new SqliteRepository(file, { migrations: [...migrations, extra] });
    repo.db.prepare("INSERT INTO presence_test VALUES ('aa:bb:cc:dd:ee:02', 'now')").run();
    await repo.close();
    repo = new SqliteRepository(file, { migrations: [...migrations, extra] }); // not re-applied (would fail: table exists)
    expect((repo.db.prepare('SELECT count(*) n FROM presence_test').get() as { n: number }).n).toBe(1);
    await repo.close();
    expect(() => new SqliteRepository(file)).toThrow(/schema \(version 900\) is newer than this tds-server/);
    expect(() => new SqliteRepository(path.join(dir.path, 'other.db'), { migrations: [extra, ...migrations] })).toThrow(/out of order/);
    repo = new SqliteRepository(file, { migrations: [...migrations, extra] });
  });

  it('allows one active certificate per MAC across accounts, and says whose it is only to the owner', async () => {
    const a = await repo.createAccount('A', audit('account.create'));
    const b = await repo.createAccount('B', audit('account.create'));
    const mac = 'aa:bb:cc:dd:ee:02';
    const first = await repo.provisionGateway({ accountId: a.id, mac, codigo: 'GW1', nome: 'one', certificate: cert(mac) }, audit('p'));
    const before = counts();
    const otherErr = await repo.provisionGateway({ accountId: b.id, mac, codigo: 'GW1', nome: 'one', certificate: cert(mac) }, audit('p')).catch((e: unknown) => e);
    expect(otherErr).toBeInstanceOf(MacConflictError);
    expect((otherErr as MacConflictError).ownGatewayId).toBeUndefined();
    const ownErr = await repo.provisionGateway({ accountId: a.id, mac, codigo: 'GW2', nome: 'two', certificate: cert(mac) }, audit('p')).catch((e: unknown) => e);
    expect((ownErr as MacConflictError).ownGatewayId).toBe(first.gateway.id);
    expect(counts()).toEqual(before);

    // The unique index holds even if code skipped the check.
    expect(() =>
      repo.db
        .prepare(
          `INSERT INTO certificates (kind, serial_number, subject_cn, account_id, gateway_id, status, certificate_pem, key_origin, key_type, issued_at, expires_at)
           VALUES ('device', 'FFFF', ?, ?, ?, 'active', 'x', 'device', 'ec', 't', '2036-01-01T00:00:00Z')`,
        )
        .run(mac, a.id, first.gateway.id),
    ).toThrow(/UNIQUE/);

    await repo.revokeGatewayCertificates({ accountId: a.id, gatewayId: first.gateway.id, reason: 'cessationOfOperation', note: null, at: '2026-02-01T00:00:00Z' }, audit('r'));
    const moved = await repo.provisionGateway({ accountId: b.id, mac, codigo: 'GW9', nome: 'moved', certificate: cert(mac) }, audit('p'));
    expect(moved.gateway.accountId).toBe(b.id);
    // The owner re-provisioning after revocation reuses its gateway row only when the MAC is free again.
    expect(await repo.getGateway(b.id, first.gateway.id)).toBeUndefined();
  });

  it('an expired certificate no longer blocks its MAC', async () => {
    const a = await repo.createAccount('A', audit('account.create'));
    const mac = 'aa:bb:cc:dd:ee:04';
    await repo.provisionGateway({ accountId: a.id, mac, codigo: 'GW1', nome: 'old', certificate: cert(mac, '2020-01-01T00:00:00Z') }, audit('p'));
    const again = await repo.provisionGateway({ accountId: a.id, mac, codigo: 'GW1', nome: 'new', certificate: cert(mac) }, audit('p'));
    expect(again.reused).toBe(true);
    const certs = await repo.listGatewayCertificates(again.gateway.id);
    expect(certs.map((c) => c.status)).toEqual(['active', 'expired']);
  });

  it('pending successors: one per MAC (replaced only on request), block provisioning, and die with a revoked predecessor', async () => {
    const a = await repo.createAccount('A', audit('account.create'));
    const b = await repo.createAccount('B', audit('account.create'));
    const mac = 'aa:bb:cc:dd:ee:10';
    // The predecessor is about to expire; its successor was issued before it did.
    const first = await repo.provisionGateway({ accountId: a.id, mac, codigo: 'GW1', nome: 'one', certificate: cert(mac, '2030-01-01T00:00:00Z') }, audit('p'));
    const p1 = await repo.addPendingRenewal(first.certificate.id, cert(mac), audit('certificate.renew_pending'));
    expect(p1).toMatchObject({ certificate: { status: 'pending', replacesId: first.certificate.id, gatewayId: first.gateway.id, accountId: a.id }, replaced: null });
    // A second one needs replacePending; then the first is revoked (superseded) in the same write.
    await expect(repo.addPendingRenewal(first.certificate.id, cert(mac), audit('x'))).rejects.toThrow(/already waiting for confirmation/);
    const p2 = await repo.addPendingRenewal(first.certificate.id, cert(mac), { ...audit('certificate.renew_pending'), accountId: a.id }, { replacePending: true, at: '2026-03-01T00:00:00Z' });
    expect(p2.replaced).toMatchObject({ serialNumber: p1.certificate.serialNumber, status: 'revoked', revokeReason: 'superseded' });
    const trail = (await repo.listAudit(a.id, { limit: 50, offset: 0 })).rows.map((e) => `${e.action} ${e.object}`);
    expect(trail).toContain(`certificate.revoke certificate:${p1.certificate.serialNumber}`);
    expect(trail).toContain(`certificate.renew_pending certificate:${p2.certificate.serialNumber}`);

    // Predecessor expired, successor still pending: the MAC is not free (confirmation would make it active).
    repo.db.prepare("UPDATE certificates SET expires_at = '2020-01-01T00:00:00Z' WHERE id = ?").run(first.certificate.id);
    const other = await repo.provisionGateway({ accountId: b.id, mac, codigo: 'GW9', nome: 'b', certificate: cert(mac) }, audit('p')).catch((e: unknown) => e);
    expect(other).toBeInstanceOf(MacConflictError);
    expect((other as Error).message).toBe(`MAC ${mac} is not available`);
    const own = await repo.provisionGateway({ accountId: a.id, mac, codigo: 'GW1', nome: 'one', certificate: cert(mac) }, audit('p')).catch((e: unknown) => e);
    expect((own as Error).message).toMatch(new RegExp(`waiting for confirmation \\(gateway ${first.gateway.id}\\); confirm it \\(renew/confirm/\\) or cancel it`));
    // Confirmation still works after the predecessor expired (nothing to supersede).
    const done = await repo.activatePendingCertificate(p2.certificate.serialNumber, '2026-03-02T00:00:00Z', audit('certificate.activate'));
    expect(done).toMatchObject({ activated: { status: 'active' }, superseded: null });

    // Revoking an active certificate by serial takes its pending successor with it.
    const p3 = await repo.addPendingRenewal(done.activated.id, cert(mac), audit('certificate.renew_pending'));
    const revoked = await repo.revokeCertificateBySerial(done.activated.serialNumber, 'keyCompromise', null, '2026-03-03T00:00:00Z', audit('certificate.revoke'));
    expect(revoked.map((c) => [c.serialNumber, c.status, c.revokeReason])).toEqual([
      [done.activated.serialNumber, 'revoked', 'keyCompromise'],
      [p3.certificate.serialNumber, 'revoked', 'keyCompromise'],
    ]);
    await expect(repo.activatePendingCertificate(p3.certificate.serialNumber, '2026-03-04T00:00:00Z', audit('x'))).rejects.toThrow(/is not pending/);
    // The guard of renew/cancel/: only a certificate still in the expected state on the expected gateway.
    const again = await repo.provisionGateway({ accountId: b.id, mac, codigo: 'GW9', nome: 'b', certificate: cert(mac) }, audit('p'));
    await expect(repo.revokeCertificateBySerial(again.certificate.serialNumber, 'x', null, 't', audit('x'), { status: 'pending' })).rejects.toThrow(/is active, not pending/);
    await expect(repo.revokeCertificateBySerial(again.certificate.serialNumber, 'x', null, 't', audit('x'), { gatewayId: first.gateway.id })).rejects.toThrow(/no certificate with serial/);
    expect((await repo.getCertificateBySerial(again.certificate.serialNumber))?.status).toBe('active');
  });

  it('MAC takeover through renew/: the store refuses a second account while a pending certificate holds the MAC, and so does the database underneath', async () => {
    const a = await repo.createAccount('A', audit('account.create'));
    const b = await repo.createAccount('B', audit('account.create'));
    const mac = 'aa:bb:cc:dd:ee:20';
    const gwA = await repo.provisionGateway({ accountId: a.id, mac, codigo: 'GWA', nome: 'A', certificate: cert(mac) }, audit('p'));
    await repo.revokeGatewayCertificates({ accountId: a.id, gatewayId: gwA.gateway.id, reason: 'cessationOfOperation', note: null, at: '2026-01-02T00:00:00Z' }, audit('r'));
    const gwB = await repo.provisionGateway({ accountId: b.id, mac, codigo: 'GWB', nome: 'B', certificate: cert(mac, '2030-01-01T00:00:00Z') }, audit('p'));
    await repo.addPendingRenewal(gwB.certificate.id, cert(mac, '2036-01-01T00:00:00Z'), audit('certificate.renew_pending'), { at: '2029-06-01T00:00:00Z' });
    const before = counts();
    // 2031: B's active certificate has expired, its pending successor has not.
    const renewA = await repo
      .renewGatewayCertificate({ accountId: a.id, gatewayId: gwA.gateway.id, certificate: cert(mac), at: '2031-01-01T00:00:00Z' }, audit('certificate.renew'))
      .catch((e: unknown) => e);
    expect(renewA).toBeInstanceOf(MacConflictError);
    expect((renewA as Error).message).toBe(`MAC ${mac} is not available`);
    expect(counts()).toEqual(before);

    // The database refuses it too, whatever the code: a live certificate of A next to B's pending one.
    const insert = (status: string) =>
      repo.db
        .prepare(
          `INSERT INTO certificates (kind, serial_number, subject_cn, account_id, gateway_id, status, certificate_pem, key_origin, key_type, issued_at, expires_at)
           VALUES ('device', ?, ?, ?, ?, ?, 'x', 'device', 'ec', 't', '2036-01-01T00:00:00Z')`,
        )
        .run(`EE${status}`, mac, a.id, gwA.gateway.id, status);
    expect(() => insert('active')).toThrow(/mac-ownership/);
    expect(() => insert('pending')).toThrow(/mac-ownership/);
    expect(() => repo.db.prepare("UPDATE certificates SET status = 'pending', revoked_at = NULL WHERE id = ?").run(gwA.certificate.id)).toThrow(/mac-ownership/);
    insert('expired'); // a dead certificate does not hold the MAC
    expect(counts().certificates).toBe(before.certificates + 1);
  });

  it('imports all rows or none', async () => {
    const a = await repo.createAccount('A', audit('account.create'));
    await repo.provisionGateway({ accountId: a.id, mac: 'aa:bb:cc:dd:ee:06', codigo: 'GW1', nome: 'x', certificate: cert('aa:bb:cc:dd:ee:06') }, audit('p'));
    const before = counts();
    const auditBefore = (await repo.listAudit(a.id, { limit: 100, offset: 0 })).count;
    const writes = ['aa:bb:cc:dd:ee:08', 'aa:bb:cc:dd:ee:06', 'aa:bb:cc:dd:ee:0a'].map((mac) => ({ accountId: a.id, mac, codigo: 'GW', nome: 'n', certificate: cert(mac) }));
    const err = await repo.importGateways(writes, { ...audit('gateway.import'), accountId: a.id }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImportRowError);
    expect((err as ImportRowError).index).toBe(1);
    expect(counts()).toEqual(before);
    expect((await repo.listAudit(a.id, { limit: 100, offset: 0 })).count).toBe(auditBefore);
  });

  it('stores tokens only as hashes', async () => {
    const a = await repo.createAccount('A', audit('account.create'));
    const { token, record } = await createApiToken(repo, { accountId: a.id, role: 'operator' }, 'test');
    expect((await repo.findTokenByHash(hashToken(token)))?.id).toBe(record.id);
    await repo.close();
    const raw = readFileSync(file).toString('latin1') + (() => {
      try {
        return readFileSync(`${file}-wal`).toString('latin1');
      } catch {
        return '';
      }
    })();
    expect(raw).not.toContain(token);
    const db = new Database(file, { readonly: true });
    expect(db.prepare('SELECT token_hash FROM api_tokens').pluck().get()).toBe(hashToken(token));
    db.close();
    repo = new SqliteRepository(file);
  });

  it('hands a sealed key out once, and destroys expired ones with an audit entry', async () => {
    const a = await repo.createAccount('A', audit('account.create'));
    const r1 = await repo.provisionGateway(
      { accountId: a.id, mac: 'aa:bb:cc:dd:ee:0c', codigo: 'G', nome: 'n', certificate: cert('aa:bb:cc:dd:ee:0c'), pendingKey: { sealed: Buffer.from('sealed-1'), expiresAt: '2099-01-01T00:00:00Z' } },
      audit('p'),
    );
    const r2 = await repo.provisionGateway(
      { accountId: a.id, mac: 'aa:bb:cc:dd:ee:0e', codigo: 'G', nome: 'n', certificate: cert('aa:bb:cc:dd:ee:0e'), pendingKey: { sealed: Buffer.from('sealed-2'), expiresAt: '2026-01-01T00:00:00Z' } },
      audit('p'),
    );
    const now = '2026-06-01T00:00:00Z';
    expect((await repo.takePendingKey(r1.certificate.id, now, { ...audit('device_key.download'), accountId: a.id }))?.toString()).toBe('sealed-1');
    expect(await repo.takePendingKey(r1.certificate.id, now, audit('device_key.download'))).toBeUndefined();
    expect(await repo.purgeExpiredPendingKeys(now)).toBe(1);
    expect(await repo.hasPendingKey(r2.certificate.id, '2025-01-01T00:00:00Z')).toBe(false);
    const events = await repo.listAudit(a.id, { limit: 10, offset: 0, action: 'device_key.destroyed' });
    expect(events.rows[0]?.object).toBe(`certificate:${r2.certificate.serialNumber}`);
  });

  it('reserves strictly increasing CRL numbers and keeps only the newest CRL', async () => {
    const n1 = await repo.reserveCrlNumber();
    const n2 = await repo.reserveCrlNumber();
    expect(n2).toBe(n1 + 1);
    expect(await repo.saveCrl({ crlNumber: n2, thisUpdate: 't', nextUpdate: 'u', pem: 'two' }, audit('crl.sign'))).toBe(true);
    expect(await repo.saveCrl({ crlNumber: n1, thisUpdate: 't', nextUpdate: 'u', pem: 'one' }, audit('crl.sign'))).toBe(false);
    expect((await repo.getLatestCrl())?.pem).toBe('two');
  });
});
