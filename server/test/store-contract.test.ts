/**
 * The repository contract, one suite for both backends: SQLite (the embedded default) and a real
 * PostgreSQL 15 started for this file (one cluster, a fresh database per test). Whatever a service
 * can observe through `Repository`, `MqttRepository` and `RateCounters` must be the same on both;
 * the rules that live in the database (MAC ownership, unique serials) are also checked behind the
 * repository's back. A new repository method gets its case here.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  ImportRowError,
  MacConflictError,
  NotFoundError,
  StateError,
  createApiToken,
  hashToken,
  migrations,
  type Migration,
  type Repository,
} from '@tds/server/store';
import { fleetCases } from './contract/fleet-cases.js';
import { zeroTouchCases } from './contract/zero-touch-cases.js';
import { Backends, type BackendName, type TestStore } from './support/backends.js';
import { audit, cert } from './support/contract.js';

const backends = new Backends();
beforeAll(() => backends.start());
afterAll(() => backends.stop());

describe.each<BackendName>(['sqlite', 'postgres'])('store contract on %s', (name) => {
  let t: TestStore;
  let repo: Repository;

  beforeEach(async () => {
    t = await backends.open(name);
    repo = t.store.repo;
  });
  afterEach(async () => {
    await t.close();
  });

  const counts = async () => ({ gateways: await t.count('gateways'), certificates: await t.count('certificates'), audit: await t.count('audit_events') });
  const insertRaw = (serial: string, mac: string, accountId: number, gatewayId: number, status: string) =>
    t.raw(
      `INSERT INTO certificates (kind, serial_number, subject_cn, account_id, gateway_id, status, certificate_pem, key_origin, key_type, issued_at, expires_at, revoked_at)
       VALUES ('device', ?, ?, ?, ?, ?, 'x', 'device', 'ec', '2026-01-01T00:00:00Z', '2036-01-01T00:00:00Z', ?)`,
      [serial, mac, accountId, gatewayId, status, status === 'revoked' ? '2026-01-02T00:00:00Z' : null],
    );

  it('accounts and tokens: stored as hashes, revoked once, unknown ones refused', async () => {
    const a = await repo.createAccount('Fábrica', audit('account.create'));
    expect(a).toMatchObject({ name: 'Fábrica', isActive: true });
    expect(await repo.getAccount(a.id)).toEqual(a);
    expect(await repo.listAccounts()).toEqual([a]);
    const { token, record } = await createApiToken(repo, { accountId: a.id, role: 'operator', label: 'bench' }, 'test');
    expect(await repo.findTokenByHash(hashToken(token))).toEqual({ ...record, accountActive: true });
    expect(await t.raw('SELECT token_hash FROM api_tokens')).toEqual([{ token_hash: hashToken(token) }]);
    expect((await repo.listTokens(a.id)).map((x) => x.id)).toEqual([record.id]);
    const revoked = await repo.revokeToken(record.id, audit('token.revoke'));
    expect(revoked.revokedAt).not.toBeNull();
    await expect(repo.revokeToken(record.id, audit('token.revoke'))).rejects.toBeInstanceOf(StateError);
    await expect(repo.revokeToken(9999, audit('token.revoke'))).rejects.toBeInstanceOf(NotFoundError);
    await expect(createApiToken(repo, { accountId: 9999, role: 'admin' }, 'test')).rejects.toBeInstanceOf(NotFoundError);
    const trail = (await repo.listAudit(a.id, { limit: 10, offset: 0 })).rows.map((e) => `${e.action} ${e.object}`);
    expect(trail).toEqual([`token.revoke token:${record.id}`, `token.create token:${record.id}`, `account.create account:${a.id}`]);
  });

  it('provisions, reuses the gateway of a freed MAC, lists with filters and case-insensitive search', async () => {
    const a = await repo.createAccount('A', audit('account.create'));
    const mac = 'aa:bb:cc:dd:ee:01';
    const p1 = await repo.provisionGateway({ accountId: a.id, mac, codigo: 'GW1', nome: 'Sala Norte', certificate: cert(mac) }, audit('gateway.provision', a.id));
    expect(p1).toMatchObject({ reused: false, gateway: { mac, codigo: 'GW1', isOnline: false }, certificate: { status: 'active', gatewayId: p1.gateway.id, accountId: a.id } });
    await repo.provisionGateway({ accountId: a.id, mac: 'aa:bb:cc:dd:ee:03', codigo: 'GW_2', nome: '50% off', certificate: cert('aa:bb:cc:dd:ee:03') }, audit('p', a.id));
    expect((await repo.getGateway(a.id, p1.gateway.id))?.activeCertificate?.serialNumber).toBe(p1.certificate.serialNumber);

    const list = (q: object) => repo.listGateways(a.id, { limit: 10, offset: 0, ...q });
    expect((await list({})).count).toBe(2);
    expect((await list({ search: 'sala' })).rows.map((g) => g.codigo)).toEqual(['GW1']);
    expect((await list({ search: '%' })).rows.map((g) => g.codigo)).toEqual(['GW_2']); // LIKE wildcards are literal
    expect((await list({ search: '_' })).rows.map((g) => g.codigo)).toEqual(['GW_2']);
    expect((await list({ mac })).rows.map((g) => g.id)).toEqual([p1.gateway.id]);
    expect((await list({ isOnline: false })).count).toBe(2);
    expect((await list({ limit: 1, offset: 1 })).rows.map((g) => g.codigo)).toEqual(['GW_2']);

    await repo.revokeGatewayCertificates({ accountId: a.id, gatewayId: p1.gateway.id, reason: 'keyCompromise', note: 'lost', at: '2026-02-01T00:00:00Z' }, audit('r', a.id));
    await expect(repo.revokeGatewayCertificates({ accountId: a.id, gatewayId: p1.gateway.id, reason: 'x', note: null, at: '2026-02-01T00:00:00Z' }, audit('r'))).rejects.toBeInstanceOf(StateError);
    const again = await repo.provisionGateway({ accountId: a.id, mac, codigo: 'GW1b', nome: 'renamed', certificate: cert(mac) }, audit('p', a.id));
    expect(again).toMatchObject({ reused: true, gateway: { id: p1.gateway.id, codigo: 'GW1b', nome: 'renamed' } });
    expect((await repo.listGatewayCertificates(p1.gateway.id)).map((c) => [c.status, c.revokeReason])).toEqual([
      ['active', null],
      ['revoked', 'keyCompromise'],
    ]);
    expect(await repo.listRevoked()).toEqual([{ serialNumber: p1.certificate.serialNumber, revokedAt: '2026-02-01T00:00:00Z', reason: 'keyCompromise' }]);
  });

  it('MAC ownership: one account per MAC while a live certificate exists, the owner alone learns which gateway; the database refuses it too', async () => {
    const a = await repo.createAccount('A', audit('account.create'));
    const b = await repo.createAccount('B', audit('account.create'));
    const mac = 'aa:bb:cc:dd:ee:02';
    const first = await repo.provisionGateway({ accountId: a.id, mac, codigo: 'GW1', nome: 'one', certificate: cert(mac) }, audit('p'));
    const before = await counts();
    const otherErr = await repo.provisionGateway({ accountId: b.id, mac, codigo: 'GW1', nome: 'one', certificate: cert(mac) }, audit('p')).catch((e: unknown) => e);
    expect(otherErr).toBeInstanceOf(MacConflictError);
    expect((otherErr as MacConflictError).ownGatewayId).toBeUndefined();
    expect((otherErr as Error).message).toBe(`MAC ${mac} is not available`);
    const ownErr = await repo.provisionGateway({ accountId: a.id, mac, codigo: 'GW2', nome: 'two', certificate: cert(mac) }, audit('p')).catch((e: unknown) => e);
    expect((ownErr as MacConflictError).ownGatewayId).toBe(first.gateway.id);
    expect(await counts()).toEqual(before);
    expect((await repo.getMacHolder(mac, '2026-06-01T00:00:00Z'))?.serialNumber).toBe(first.certificate.serialNumber);

    // Behind the repository's back: a second active certificate, or a live one in another account.
    const gwB = (await t.raw(`INSERT INTO gateways (account_id, codigo, mac, nome, created_at, updated_at) VALUES (?, 'GWB', ?, 'b', 't', 't') RETURNING id`, [b.id, mac]))[0]!.id as number;
    await expect(insertRaw('FFFF01', mac, a.id, first.gateway.id, 'active')).rejects.toThrow(/UNIQUE|unique/);
    // (PostgreSQL meets the one-active-per-MAC index first here; the pending case below reaches the exclusion constraint.)
    await expect(insertRaw('FFFF02', mac, b.id, gwB, 'active')).rejects.toThrow(name === 'sqlite' ? /mac-ownership/ : /certificates_one_active_per_mac/);
    await expect(insertRaw('FFFF03', mac, b.id, gwB, 'pending')).rejects.toThrow(name === 'sqlite' ? /mac-ownership/ : /certificates_mac_owner/);
    await insertRaw('FFFF04', mac, b.id, gwB, 'revoked'); // a dead certificate holds nothing
    await expect(t.raw(`UPDATE certificates SET status = 'pending', revoked_at = NULL WHERE serial_number = 'FFFF04'`)).rejects.toThrow(
      name === 'sqlite' ? /mac-ownership/ : /certificates_mac_owner/,
    );
    await expect(insertRaw(first.certificate.serialNumber, 'aa:bb:cc:dd:ee:04', a.id, first.gateway.id, 'revoked')).rejects.toThrow(/UNIQUE|unique/); // serials are unique

    await repo.revokeGatewayCertificates({ accountId: a.id, gatewayId: first.gateway.id, reason: 'cessationOfOperation', note: null, at: '2026-02-01T00:00:00Z' }, audit('r'));
    const moved = await repo.provisionGateway({ accountId: b.id, mac, codigo: 'GW9', nome: 'moved', certificate: cert(mac) }, audit('p'));
    expect(moved.gateway).toMatchObject({ accountId: b.id, id: gwB });
  });

  it('an expired certificate frees its MAC (and is marked expired)', async () => {
    const a = await repo.createAccount('A', audit('account.create'));
    const b = await repo.createAccount('B', audit('account.create'));
    const mac = 'aa:bb:cc:dd:ee:04';
    await repo.provisionGateway({ accountId: a.id, mac, codigo: 'GW1', nome: 'old', certificate: cert(mac, '2020-01-01T00:00:00Z') }, audit('p'));
    expect(await repo.getMacHolder(mac, '2026-01-01T00:00:00Z')).toBeUndefined();
    const again = await repo.provisionGateway({ accountId: a.id, mac, codigo: 'GW1', nome: 'new', certificate: cert(mac) }, audit('p'));
    expect(again.reused).toBe(true);
    expect((await repo.listGatewayCertificates(again.gateway.id)).map((c) => c.status)).toEqual(['active', 'expired']);
    // Another account's expired certificate does not hold the MAC either.
    const c = await repo.provisionGateway({ accountId: a.id, mac: 'aa:bb:cc:dd:ee:06', codigo: 'G', nome: 'n', certificate: cert('aa:bb:cc:dd:ee:06', '2020-01-01T00:00:00Z') }, audit('p'));
    const taken = await repo.provisionGateway({ accountId: b.id, mac: 'aa:bb:cc:dd:ee:06', codigo: 'G', nome: 'n', certificate: cert('aa:bb:cc:dd:ee:06') }, audit('p'));
    expect(taken.gateway.accountId).toBe(b.id);
    expect((await repo.getCertificateBySerial(c.certificate.serialNumber))?.status).toBe('expired');
  });

  it('renew: the active and the pending certificate are superseded in the same write; a MAC held elsewhere is refused', async () => {
    const a = await repo.createAccount('A', audit('account.create'));
    const b = await repo.createAccount('B', audit('account.create'));
    const mac = 'aa:bb:cc:dd:ee:20';
    const gwA = await repo.provisionGateway({ accountId: a.id, mac, codigo: 'GWA', nome: 'A', certificate: cert(mac) }, audit('p'));
    const pending = await repo.addPendingRenewal(gwA.certificate.id, cert(mac), audit('certificate.renew_pending'));
    const renewed = await repo.renewGatewayCertificate({ accountId: a.id, gatewayId: gwA.gateway.id, certificate: cert(mac), at: '2026-03-01T00:00:00Z' }, audit('certificate.renew'));
    expect(renewed.superseded?.serialNumber).toBe(gwA.certificate.serialNumber);
    expect(renewed.revoked.map((c) => [c.serialNumber, c.status, c.revokeReason])).toEqual([
      [gwA.certificate.serialNumber, 'revoked', 'superseded'],
      [pending.certificate.serialNumber, 'revoked', 'superseded'],
    ]);
    expect(renewed.certificate).toMatchObject({ status: 'active', replacesId: gwA.certificate.id });
    await expect(repo.renewGatewayCertificate({ accountId: b.id, gatewayId: gwA.gateway.id, certificate: cert(mac), at: '2026-03-01T00:00:00Z' }, audit('x'))).rejects.toBeInstanceOf(NotFoundError);

    // The takeover: A's old gateway, while B's pending certificate holds the MAC after B's active one expired.
    await repo.revokeGatewayCertificates({ accountId: a.id, gatewayId: gwA.gateway.id, reason: 'cessationOfOperation', note: null, at: '2026-03-02T00:00:00Z' }, audit('r'));
    const gwB = await repo.provisionGateway({ accountId: b.id, mac, codigo: 'GWB', nome: 'B', certificate: cert(mac, '2030-01-01T00:00:00Z') }, audit('p'));
    await repo.addPendingRenewal(gwB.certificate.id, cert(mac), audit('certificate.renew_pending'), { at: '2029-06-01T00:00:00Z' });
    const before = await counts();
    const takeover = await repo
      .renewGatewayCertificate({ accountId: a.id, gatewayId: gwA.gateway.id, certificate: cert(mac), at: '2031-01-01T00:00:00Z' }, audit('certificate.renew'))
      .catch((e: unknown) => e);
    expect(takeover).toBeInstanceOf(MacConflictError);
    expect((takeover as Error).message).toBe(`MAC ${mac} is not available`);
    expect(await counts()).toEqual(before);
  });

  it('pending successors: one per MAC, replaced on request, block provisioning, confirm after expiry, die with a revoked predecessor', async () => {
    const a = await repo.createAccount('A', audit('account.create'));
    const b = await repo.createAccount('B', audit('account.create'));
    const mac = 'aa:bb:cc:dd:ee:10';
    const first = await repo.provisionGateway({ accountId: a.id, mac, codigo: 'GW1', nome: 'one', certificate: cert(mac, '2030-01-01T00:00:00Z') }, audit('p'));
    const p1 = await repo.addPendingRenewal(first.certificate.id, cert(mac), audit('certificate.renew_pending'));
    expect(p1).toMatchObject({ certificate: { status: 'pending', replacesId: first.certificate.id, gatewayId: first.gateway.id, accountId: a.id }, replaced: null });
    await expect(repo.addPendingRenewal(first.certificate.id, cert(mac), audit('x'))).rejects.toThrow(/already waiting for confirmation/);
    await expect(repo.addPendingRenewal(9999, cert(mac), audit('x'))).rejects.toThrow(/is not active/);
    const p2 = await repo.addPendingRenewal(first.certificate.id, cert(mac), audit('certificate.renew_pending', a.id), { replacePending: true, at: '2026-03-01T00:00:00Z' });
    expect(p2.replaced).toMatchObject({ serialNumber: p1.certificate.serialNumber, status: 'revoked', revokeReason: 'superseded' });
    const trail = (await repo.listAudit(a.id, { limit: 50, offset: 0 })).rows.map((e) => `${e.action} ${e.object}`);
    expect(trail).toContain(`certificate.revoke certificate:${p1.certificate.serialNumber}`);
    expect(trail).toContain(`certificate.renew_pending certificate:${p2.certificate.serialNumber}`);
    expect(await repo.listExpiringDeviceCertificates('2031-01-01T00:00:00Z')).toEqual([]); // it has a pending successor

    await t.raw(`UPDATE certificates SET expires_at = '2020-01-01T00:00:00Z' WHERE id = ?`, [first.certificate.id]);
    const other = await repo.provisionGateway({ accountId: b.id, mac, codigo: 'GW9', nome: 'b', certificate: cert(mac) }, audit('p')).catch((e: unknown) => e);
    expect((other as Error).message).toBe(`MAC ${mac} is not available`);
    const own = await repo.provisionGateway({ accountId: a.id, mac, codigo: 'GW1', nome: 'one', certificate: cert(mac) }, audit('p')).catch((e: unknown) => e);
    expect((own as Error).message).toMatch(new RegExp(`waiting for confirmation \\(gateway ${first.gateway.id}\\)`));
    const done = await repo.activatePendingCertificate(p2.certificate.serialNumber, '2026-03-02T00:00:00Z', audit('certificate.activate'));
    expect(done).toMatchObject({ activated: { status: 'active' }, superseded: null });

    const p3 = await repo.addPendingRenewal(done.activated.id, cert(mac), audit('certificate.renew_pending'));
    const revoked = await repo.revokeCertificateBySerial(done.activated.serialNumber, 'keyCompromise', null, '2026-03-03T00:00:00Z', audit('certificate.revoke'));
    expect(revoked.map((c) => [c.serialNumber, c.status, c.revokeReason])).toEqual([
      [done.activated.serialNumber, 'revoked', 'keyCompromise'],
      [p3.certificate.serialNumber, 'revoked', 'keyCompromise'],
    ]);
    await expect(repo.activatePendingCertificate(p3.certificate.serialNumber, '2026-03-04T00:00:00Z', audit('x'))).rejects.toThrow(/is not pending/);
    await expect(repo.revokeCertificateBySerial(done.activated.serialNumber, 'x', null, 't', audit('x'))).rejects.toThrow(/already revoked/);
    const again = await repo.provisionGateway({ accountId: b.id, mac, codigo: 'GW9', nome: 'b', certificate: cert(mac) }, audit('p'));
    await expect(repo.revokeCertificateBySerial(again.certificate.serialNumber, 'x', null, 't', audit('x'), { status: 'pending' })).rejects.toThrow(/is active, not pending/);
    await expect(repo.revokeCertificateBySerial(again.certificate.serialNumber, 'x', null, 't', audit('x'), { gatewayId: first.gateway.id })).rejects.toThrow(/no certificate with serial/);

    // Confirmation with a live predecessor supersedes it.
    const p4 = await repo.addPendingRenewal(again.certificate.id, cert(mac), audit('certificate.renew_pending'));
    const confirmed = await repo.activatePendingCertificate(p4.certificate.serialNumber, '2026-03-05T00:00:00Z', audit('certificate.activate'));
    expect(confirmed.superseded).toMatchObject({ serialNumber: again.certificate.serialNumber, status: 'revoked', revokeReason: 'superseded' });
  });

  it('imports all rows or none, naming the refused row', async () => {
    const a = await repo.createAccount('A', audit('account.create'));
    await repo.provisionGateway({ accountId: a.id, mac: 'aa:bb:cc:dd:ee:06', codigo: 'GW1', nome: 'x', certificate: cert('aa:bb:cc:dd:ee:06') }, audit('p'));
    const before = await counts();
    const writes = ['aa:bb:cc:dd:ee:08', 'aa:bb:cc:dd:ee:06', 'aa:bb:cc:dd:ee:0a'].map((mac) => ({ accountId: a.id, mac, codigo: 'GW', nome: 'n', certificate: cert(mac) }));
    const err = await repo.importGateways(writes, audit('gateway.import', a.id)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImportRowError);
    expect((err as ImportRowError).index).toBe(1);
    expect((err as ImportRowError).reason).toBeInstanceOf(MacConflictError);
    expect(await counts()).toEqual(before);
    const ok = await repo.importGateways([writes[0]!, writes[2]!], audit('gateway.import', a.id));
    expect(ok.map((r) => r.gateway.mac)).toEqual(['aa:bb:cc:dd:ee:08', 'aa:bb:cc:dd:ee:0a']);
  });

  it('service certificates; a sealed key handed out once; expired keys destroyed with an audit entry', async () => {
    const svc = await repo.recordCertificate(cert('tds-server-main', '2036-01-01T00:00:00Z', 'service'), audit('service_certificate.issue'));
    expect(svc).toMatchObject({ kind: 'service', accountId: null, gatewayId: null, status: 'active' });
    await expect(repo.recordCertificate(cert('aa:bb:cc:dd:ee:0c'), audit('x'))).rejects.toThrow(/provisionGateway/);
    const a = await repo.createAccount('A', audit('account.create'));
    const r1 = await repo.provisionGateway(
      { accountId: a.id, mac: 'aa:bb:cc:dd:ee:0c', codigo: 'G', nome: 'n', certificate: cert('aa:bb:cc:dd:ee:0c'), pendingKey: { sealed: Buffer.from('sealed-1'), expiresAt: '2099-01-01T00:00:00Z' } },
      audit('p'),
    );
    const r2 = await repo.provisionGateway(
      { accountId: a.id, mac: 'aa:bb:cc:dd:ee:0e', codigo: 'G', nome: 'n', certificate: cert('aa:bb:cc:dd:ee:0e'), pendingKey: { sealed: Buffer.from([0, 1, 2, 255]), expiresAt: '2026-01-01T00:00:00Z' } },
      audit('p'),
    );
    const now = '2026-06-01T00:00:00Z';
    expect(await repo.hasPendingKey(r1.certificate.id, now)).toBe(true);
    expect((await repo.takePendingKey(r1.certificate.id, now, audit('device_key.download', a.id)))?.toString()).toBe('sealed-1');
    expect(await repo.takePendingKey(r1.certificate.id, now, audit('device_key.download'))).toBeUndefined();
    expect(await repo.hasPendingKey(r2.certificate.id, '2025-01-01T00:00:00Z')).toBe(true);
    expect(await repo.purgeExpiredPendingKeys(now)).toBe(1);
    expect(await repo.hasPendingKey(r2.certificate.id, '2025-01-01T00:00:00Z')).toBe(false);
    const events = await repo.listAudit(a.id, { limit: 10, offset: 0, action: 'device_key.destroyed' });
    expect(events.rows.map((e) => e.object)).toEqual([`certificate:${r2.certificate.serialNumber}`]);
  });

  it('CRL numbers rise strictly, also from two connections at once; only a newer CRL replaces the stored one', async () => {
    const second = await t.openAgain();
    const numbers = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? repo : second.repo).reserveCrlNumber()));
    expect(new Set(numbers).size).toBe(20);
    expect(Math.max(...numbers)).toBe(20);
    expect(await repo.saveCrl({ crlNumber: 7, thisUpdate: '2026-01-01T00:00:00Z', nextUpdate: '2026-01-08T00:00:00Z', pem: 'seven' }, audit('crl.sign'))).toBe(true);
    expect(await second.repo.saveCrl({ crlNumber: 5, thisUpdate: '2026-01-01T00:00:00Z', nextUpdate: '2026-01-08T00:00:00Z', pem: 'five' }, audit('crl.sign'))).toBe(false);
    expect(await second.repo.getLatestCrl()).toEqual({ crlNumber: 7, thisUpdate: '2026-01-01T00:00:00Z', nextUpdate: '2026-01-08T00:00:00Z', pem: 'seven' });
  });

  it('two connections provisioning the same MAC for two accounts at once: exactly one wins', async () => {
    const second = await t.openAgain();
    const a = await repo.createAccount('A', audit('account.create'));
    const b = await repo.createAccount('B', audit('account.create'));
    for (let i = 0; i < 10; i++) {
      const mac = `aa:bb:cc:dd:ef:${(i * 2).toString(16).padStart(2, '0')}`;
      const results = await Promise.allSettled([
        repo.provisionGateway({ accountId: a.id, mac, codigo: 'A', nome: 'a', certificate: cert(mac) }, audit('p')),
        second.repo.provisionGateway({ accountId: b.id, mac, codigo: 'B', nome: 'b', certificate: cert(mac) }, audit('p')),
        second.repo.provisionGateway({ accountId: a.id, mac, codigo: 'A2', nome: 'a2', certificate: cert(mac) }, audit('p')),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(MacConflictError);
      expect(await t.count('certificates', `subject_cn = '${mac}' AND status = 'active'`)).toBe(1);
    }
  });

  it('MQTT storage: presence (last_seen only forward, timeouts from it, every transition in the history), telemetry, ACL and renewal queries', async () => {
    const m = t.store.mqtt;
    const a = await repo.createAccount('A', audit('account.create'));
    const mac = 'aa:bb:cc:dd:ee:30';
    const gw = await repo.provisionGateway({ accountId: a.id, mac, codigo: 'GW', nome: 'n', certificate: cert(mac) }, audit('p'));
    expect(await m.gatewayIdForMac(mac)).toBe(gw.gateway.id);
    expect(await m.gatewayIdForMac('aa:bb:cc:dd:ee:32')).toBeNull();
    const at = (s: number): string => `2026-01-01T00:00:${String(s).padStart(2, '0')}Z`;

    await m.updatePresence(gw.gateway.id, { at: at(10), isOnline: true, lastSeen: at(10), firmwareVersion: '1.2.0' });
    await m.updatePresence(gw.gateway.id, { at: at(11), isOnline: true, lastSeen: at(5), firmwareVersion: null });
    expect(await repo.getGateway(a.id, gw.gateway.id)).toMatchObject({ isOnline: true, lastSeen: at(10), firmwareVersion: '1.2.0' });
    expect(await m.expirePresence(at(10), at(12))).toBe(0);
    expect(await m.expirePresence(at(11), at(13))).toBe(1);
    expect(await m.expirePresence(at(11), at(14))).toBe(0);
    expect((await repo.getGateway(a.id, gw.gateway.id))?.isOnline).toBe(false);
    await m.updatePresence(gw.gateway.id, { at: at(20), isOnline: true, lastSeen: null, firmwareVersion: null });
    await m.resetPresence(at(21));
    await m.resetPresence(at(22));
    expect((await repo.listGateways(a.id, { limit: 5, offset: 0, isOnline: true })).count).toBe(0);
    await m.updatePresence(gw.gateway.id, { at: at(30), isOnline: true, lastSeen: null, firmwareVersion: null });
    await m.setGatewayOffline(gw.gateway.id, at(31));
    await m.setGatewayOffline(gw.gateway.id, at(32));
    await m.updatePresence(gw.gateway.id, { at: at(33), isOnline: false, lastSeen: null, firmwareVersion: null });
    expect((await repo.getGateway(a.id, gw.gateway.id))?.isOnline).toBe(false);
    // Only transitions are kept: a write that changes nothing records nothing.
    const on = (s: number) => ({ online: true, at: at(s) });
    const off = (s: number) => ({ online: false, at: at(s) });
    expect(await repo.listPresenceEvents(gw.gateway.id, at(0), at(59), 100)).toEqual({ before: null, events: [on(10), off(13), on(20), off(21), on(30), off(31)] });
    // The window [from, to), the state just before it, and the limit.
    expect(await repo.listPresenceEvents(gw.gateway.id, at(20), at(31), 100)).toEqual({ before: off(13), events: [on(20), off(21), on(30)] });
    expect(await repo.listPresenceEvents(gw.gateway.id, at(14), at(59), 2)).toEqual({ before: off(13), events: [on(20), off(21)] });
    expect(await repo.purgePresenceEvents(at(21))).toBe(3);
    expect(await repo.listPresenceEvents(gw.gateway.id, at(0), at(59), 100)).toEqual({ before: null, events: [off(21), on(30), off(31)] });

    const reading = (at: string, valor: number) => ({ gatewayId: gw.gateway.id, measuredAt: at, receivedAt: at, valor, unidade: '°C', slaveId: 1, register: null, firmwareVersion: null });
    expect(await m.insertTelemetry([reading('2026-01-01T00:00:01.000Z', 21.5), reading('2026-01-01T00:00:02.000Z', -3), reading('2026-01-01T00:00:02.000Z', 7)])).toBe(3);
    const all = await m.listTelemetry(gw.gateway.id, '2026-01-01T00:00:00.000Z', 10, 0);
    expect(all.map((r) => [r.valor, r.unidade, r.slaveId, r.register])).toEqual([
      [21.5, '°C', 1, null],
      [-3, '°C', 1, null],
      [7, '°C', 1, null],
    ]);
    const page2 = await m.listTelemetry(gw.gateway.id, all[1]!.receivedAt, 10, all[1]!.id);
    expect(page2.map((r) => r.valor)).toEqual([7]);
    expect(await m.deleteTelemetryBefore('2026-01-01T00:00:02.000Z')).toBe(1);

    const svc = await repo.recordCertificate({ ...cert('tds-server-main', '2036-01-01T00:00:00Z', 'service'), serialNumber: '00AB12' }, audit('s'));
    await repo.recordCertificate(cert('station-monitor-old', '2020-01-01T00:00:00Z', 'service'), audit('s'));
    expect(await m.activeServiceCommonNames('2026-01-01T00:00:00Z')).toEqual(['tds-server-main']);
    expect(await m.activeServiceSerials('tds-server-main')).toEqual([svc.serialNumber]);
    expect((await m.serviceCertificates()).map((s) => s.cn)).toEqual(['station-monitor-old', 'tds-server-main']);
    expect(await m.commonNamesOfSerial('ab12')).toEqual(['tds-server-main']);
    expect(await m.deviceCertificates(mac, '2026-01-01T00:00:00Z')).toEqual([
      { id: gw.certificate.id, serialNumber: gw.certificate.serialNumber, status: 'active', certificatePem: gw.certificate.certificatePem, gatewayId: gw.gateway.id, accountId: a.id },
    ]);
    expect(await m.deviceCertificatesIssuedSince(mac, '2025-12-31T00:00:00Z')).toBe(1);
    await repo.revokeCertificateBySerial(svc.serialNumber, 'cessationOfOperation', null, '2026-02-01T00:00:00Z', audit('r'));
    expect(await m.revokedOnlyCommonNames()).toEqual(['tds-server-main']);
  });

  it('rate counters: fixed windows per scope and key, and the keys at the limit', async () => {
    const c = t.store.counters;
    expect((await c.hit('auth-failure', '10.0.0.1', 60_000)).count).toBe(1);
    const w = await c.hit('auth-failure', '10.0.0.1', 60_000);
    expect(w.count).toBe(2);
    expect(w.resetInMs).toBeGreaterThan(50_000);
    expect((await c.hit('public:GET /x', '10.0.0.1', 60_000)).count).toBe(1);
    expect((await c.peek('auth-failure', '10.0.0.1', 60_000)).count).toBe(2);
    expect(await c.atLeast('auth-failure', 2)).toEqual([{ key: '10.0.0.1', resetInMs: expect.any(Number) as number }]);
    // A new window starts when the old one has ended.
    await c.hit('short', 'k', 50);
    await new Promise((r) => setTimeout(r, 80));
    expect((await c.hit('short', 'k', 50)).count).toBe(1);
  });

  it('migrations: applied once, in order; a newer database is refused; the applied list is recorded', async () => {
    const extraSql = 'CREATE TABLE contract_extra (mac TEXT PRIMARY KEY, seen TEXT)';
    const extra: Migration = { version: 900, name: 'test table', sql: extraSql, postgres: extraSql };
    const withExtra = await t.openAgain([...migrations, extra]);
    await t.raw(`INSERT INTO contract_extra VALUES ('aa:bb:cc:dd:ee:02', 'now')`);
    await withExtra.close();
    const again = await t.openAgain([...migrations, extra]); // not re-applied (would fail: the table exists)
    await again.close();
    expect(await t.count('contract_extra')).toBe(1);
    expect((await t.raw('SELECT version FROM schema_migrations ORDER BY version')).map((r) => Number(r.version))).toEqual([...migrations.map((m) => m.version), 900]);
    await expect(t.openAgain()).rejects.toThrow(/schema \(version 900\) is newer than this tds-server/);
    await expect(t.openAgain([extra, ...migrations])).rejects.toThrow(/out of order/);
  });

  // The admin console, renewal delivery, presence history and scheduler tables; zero-touch onboarding.
  fleetCases(() => ({ t, repo }));
  zeroTouchCases(() => ({ t, repo }));
});

describe('PostgreSQL only', () => {
  it('counters are shared by every instance: two pools count one window', async () => {
    const t = await backends.open('postgres');
    try {
      const other = await t.openAgain();
      const hits = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? t.store : other).counters.hit('auth-failure', '192.0.2.7', 60_000)));
      expect(hits.map((h) => h.count).sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    } finally {
      await t.close();
    }
  });

  it('a migration without its PostgreSQL part is refused with what to add', async () => {
    const t = await backends.open('postgres');
    try {
      await expect(t.openAgain([...migrations, { version: 901, name: 'sqlite only', sql: 'SELECT 1' }])).rejects.toThrow(/migration 901 \(sqlite only\) has no PostgreSQL part/);
    } finally {
      await t.close();
    }
  });

  it('one CA and one birth CA per database: a server with another one is refused', async () => {
    const t = await backends.open('postgres');
    try {
      await t.store.bindCa('-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----');
      await t.store.bindCa('-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n');
      await expect(t.store.bindCa('-----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----')).rejects.toThrow(/belongs to another CA/);
      // The birth CA of zero-touch onboarding likewise, apart from the CA.
      await t.store.bindCa('-----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----', 'birth');
      await expect(t.store.bindCa('-----BEGIN CERTIFICATE-----\nC\n-----END CERTIFICATE-----', 'birth')).rejects.toThrow(/belongs to another birth CA .*copy birth-ca/);
    } finally {
      await t.close();
    }
  });
});
