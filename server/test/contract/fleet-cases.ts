/**
 * Store-contract cases of the fleet and admin-console methods, registered inside the suite of
 * store-contract.test.ts (so they run on SQLite and on PostgreSQL): accounts renamed, server-admin
 * tokens, the expiry filter of the gateway list, the audit console's filters, renewals made for
 * delivery over MQTT (one attempt per trigger window, also from two connections at once), the
 * scheduled jobs' runs, each CA's own CRL, and the latest readings per telemetry series.
 */
import { expect, it } from 'vitest';
import { NotFoundError, type Repository } from '@tds/server/store';
import type { TestStore } from '../support/backends.js';
import { audit, cert } from '../support/contract.js';

type Ctx = () => { t: TestStore; repo: Repository };

export function fleetCases(ctx: Ctx): void {
  it('accounts renamed (audited, unknown refused); server-admin tokens; one token by id; every token', async () => {
    const { t, repo } = ctx();
    const a = await repo.createAccount('A', audit('account.create'));
    const b = await repo.createAccount('B', audit('account.create'));
    const renamed = await repo.renameAccount(a.id, 'Fábrica Norte', audit('account.rename'));
    expect(renamed).toEqual({ ...a, name: 'Fábrica Norte' });
    expect(await repo.getAccount(a.id)).toEqual(renamed);
    await expect(repo.renameAccount(9999, 'x', audit('account.rename'))).rejects.toBeInstanceOf(NotFoundError);
    expect((await repo.listAudit(a.id, { limit: 5, offset: 0, action: 'account.rename' })).rows.map((e) => e.object)).toEqual([`account:${a.id}`]);

    const admin = await repo.createToken({ accountId: a.id, role: 'admin', label: 'root', tokenHash: 'h1', serverAdmin: true }, audit('token.create'));
    const op = await repo.createToken({ accountId: b.id, role: 'operator', label: null, tokenHash: 'h2' }, audit('token.create'));
    expect(admin).toMatchObject({ accountId: a.id, role: 'admin', serverAdmin: true, revokedAt: null });
    expect(op.serverAdmin).toBe(false);
    expect(await repo.getToken(admin.id)).toEqual(admin);
    expect(await repo.getToken(9999)).toBeUndefined();
    expect(await repo.findTokenByHash('h1')).toEqual({ ...admin, accountActive: true });
    expect((await repo.listTokens(undefined)).map((x) => x.id)).toEqual([admin.id, op.id]);
    expect((await repo.listTokens(b.id)).map((x) => x.id)).toEqual([op.id]);
    expect((await repo.listAudit(a.id, { limit: 5, offset: 0, action: 'token.create' })).rows[0]?.detail).toBe('role=admin (server admin)');
    // The database refuses a server admin that is not an admin.
    await expect(t.raw(`UPDATE api_tokens SET server_admin = ${t.name === 'sqlite' ? 1 : 'TRUE'} WHERE id = ?`, [op.id])).rejects.toThrow();
  });

  it('the gateway list filtered by the expiry of the active certificate', async () => {
    const { repo } = ctx();
    const a = await repo.createAccount('A', audit('account.create'));
    const soon = await repo.provisionGateway({ accountId: a.id, mac: 'aa:bb:cc:00:00:02', codigo: 'S', nome: 's', certificate: cert('aa:bb:cc:00:00:02', '2027-01-01T00:00:00Z') }, audit('p'));
    await repo.provisionGateway({ accountId: a.id, mac: 'aa:bb:cc:00:00:04', codigo: 'L', nome: 'l', certificate: cert('aa:bb:cc:00:00:04', '2036-01-01T00:00:00Z') }, audit('p'));
    const gone = await repo.provisionGateway({ accountId: a.id, mac: 'aa:bb:cc:00:00:06', codigo: 'R', nome: 'r', certificate: cert('aa:bb:cc:00:00:06', '2026-06-01T00:00:00Z') }, audit('p'));
    await repo.revokeGatewayCertificates({ accountId: a.id, gatewayId: gone.gateway.id, reason: 'cessationOfOperation', note: null, at: '2026-02-01T00:00:00Z' }, audit('r'));
    const r = await repo.listGateways(a.id, { limit: 10, offset: 0, expiresBefore: '2028-01-01T00:00:00Z' });
    expect(r.count).toBe(1);
    expect(r.rows.map((g) => [g.id, g.activeCertificate?.expiresAt])).toEqual([[soon.gateway.id, '2027-01-01T00:00:00Z']]);
    expect((await repo.listGateways(a.id, { limit: 1, offset: 1, expiresBefore: '2040-01-01T00:00:00Z' })).count).toBe(2);
  });

  it('the audit console: one account or every event, filtered by time, actor, action, result and gateway (its certificates included)', async () => {
    const { repo } = ctx();
    const a = await repo.createAccount('A', audit('account.create'));
    const b = await repo.createAccount('B', audit('account.create'));
    const gw = await repo.provisionGateway({ accountId: a.id, mac: 'aa:bb:cc:00:01:02', codigo: 'G', nome: 'g', certificate: cert('aa:bb:cc:00:01:02') }, { ...audit('gateway.provision', a.id), at: '2026-02-01T00:00:00Z' });
    const other = await repo.provisionGateway({ accountId: a.id, mac: 'aa:bb:cc:00:01:04', codigo: 'H', nome: 'h', certificate: cert('aa:bb:cc:00:01:04') }, { ...audit('gateway.provision', a.id), at: '2026-02-02T00:00:00Z' });
    await repo.revokeCertificateBySerial(gw.certificate.serialNumber, 'keyCompromise', null, '2026-02-03T00:00:00Z', { ...audit('certificate.revoke', a.id), at: '2026-02-03T00:00:00Z', actor: 'token:7' });
    await repo.appendAudit({ ...audit('auth.failure'), at: '2026-02-04T00:00:00Z', result: 'denied', actor: 'anonymous' });
    await repo.appendAudit({ ...audit('gateway.provision', b.id), at: '2026-02-05T00:00:00Z', result: 'error' });
    const page = { limit: 50, offset: 0 };
    const objects = async (accountId: number | undefined, q: Record<string, unknown>) => (await repo.listAudit(accountId, { ...page, ...q })).rows.map((e) => `${e.action} ${e.object ?? '-'}`);
    expect(await objects(a.id, { gatewayId: gw.gateway.id })).toEqual([`certificate.revoke certificate:${gw.certificate.serialNumber}`, `gateway.provision gateway:${gw.gateway.id}`]);
    expect(await objects(a.id, { gatewayId: other.gateway.id })).toEqual([`gateway.provision gateway:${other.gateway.id}`]);
    expect(await objects(a.id, { since: '2026-02-02T00:00:00Z', until: '2026-02-03T00:00:00Z' })).toEqual([`gateway.provision gateway:${other.gateway.id}`]);
    expect(await objects(a.id, { actor: 'token:7' })).toEqual([`certificate.revoke certificate:${gw.certificate.serialNumber}`]);
    expect(await objects(undefined, { result: 'denied' })).toEqual(['auth.failure -']);
    expect(await objects(undefined, { since: '2026-02-04T00:00:00Z' })).toEqual(['gateway.provision -', 'auth.failure -']);
    expect(await objects(b.id, { action: 'gateway.provision', result: 'error' })).toEqual(['gateway.provision -']);
    const all = await repo.listAudit(undefined, { limit: 2, offset: 1 });
    expect(all.count).toBe((await repo.listAudit(undefined, { limit: 1000, offset: 0 })).rows.length);
    expect(all.rows).toHaveLength(2);
  });

  it('renewals made for delivery: listed while open, one attempt per window (also from two connections at once), pruned when closed', async () => {
    const { t, repo } = ctx();
    const a = await repo.createAccount('A', audit('account.create'));
    const mac = 'aa:bb:cc:00:02:02';
    const gw = await repo.provisionGateway({ accountId: a.id, mac, codigo: 'G', nome: 'g', certificate: cert(mac, '2027-01-01T00:00:00Z') }, audit('p'));
    const quiet = await repo.provisionGateway({ accountId: a.id, mac: 'aa:bb:cc:00:02:04', codigo: 'Q', nome: 'q', certificate: cert('aa:bb:cc:00:02:04') }, audit('p'));
    await repo.addPendingRenewal(quiet.certificate.id, cert('aa:bb:cc:00:02:04'), audit('certificate.renew_pending')); // not for delivery
    const pending = await repo.addPendingRenewal(gw.certificate.id, cert(mac, '2037-01-01T00:00:00Z'), audit('certificate.renew_pending'), { deliver: true, at: '2026-03-01T00:00:00Z' });
    const now = '2026-03-01T00:00:00Z';
    const open = await repo.listRenewalDeliveries({ now });
    expect(open).toEqual([
      {
        predecessorId: gw.certificate.id,
        predecessorSerial: gw.certificate.serialNumber,
        mac,
        gatewayId: gw.gateway.id,
        accountId: a.id,
        pendingSerial: pending.certificate.serialNumber,
        pendingExpiresAt: '2037-01-01T00:00:00Z',
        createdAt: '2026-03-01T00:00:00Z',
        attempts: 0,
        lastAttemptAt: null,
        lastCommandId: null,
        predecessorPem: gw.certificate.certificatePem,
        pendingPem: pending.certificate.certificatePem,
      },
    ]);
    expect(await repo.listRenewalDeliveries({ now, mac: 'aa:bb:cc:00:02:04' })).toEqual([]);
    expect(await repo.listRenewalDeliveries({ now, gatewayId: gw.gateway.id })).toHaveLength(1);
    expect(await repo.listRenewalDeliveries({ now, onlineOnly: true })).toEqual([]);
    await t.store.mqtt.updatePresence(gw.gateway.id, { at: now, isOnline: true, lastSeen: now, firmwareVersion: null });
    expect(await repo.listRenewalDeliveries({ now, onlineOnly: true })).toHaveLength(1);
    expect(await repo.listRenewalDeliveries({ now: '2037-01-01T00:00:00Z' })).toEqual([]); // the successor expired

    // Concurrent triggers: one attempt in the window, whoever asks.
    const second = await t.openAgain();
    const claims = await Promise.all(
      Array.from({ length: 6 }, (_, i) => (i % 2 ? second.repo : repo).claimRenewalDeliveryAttempt(gw.certificate.id, '2026-03-01T00:01:00Z', '2026-03-01T00:00:30Z', `cmd-${i}`)),
    );
    const won = claims.filter((c) => c !== undefined);
    expect(won).toHaveLength(1);
    expect(won[0]).toMatchObject({ attempts: 1, lastAttemptAt: '2026-03-01T00:01:00Z' });
    expect((await repo.listRenewalDeliveries({ now }))[0]?.lastCommandId).toBe(won[0]!.lastCommandId);
    expect(await repo.claimRenewalDeliveryAttempt(gw.certificate.id, '2026-03-01T00:01:10Z', '2026-03-01T00:01:00Z', 'early')).toBeUndefined();
    expect(await repo.claimRenewalDeliveryAttempt(gw.certificate.id, '2026-03-01T00:02:00Z', '2026-03-01T00:01:30Z', 'later')).toMatchObject({ attempts: 2, lastCommandId: 'later' });
    expect(await repo.claimRenewalDeliveryAttempt(quiet.certificate.id, '2026-03-01T00:02:00Z', '2026-03-01T00:01:30Z', 'x')).toBeUndefined();

    expect(await repo.pruneRenewalDeliveries(now)).toBe(0);
    await repo.activatePendingCertificate(pending.certificate.serialNumber, '2026-03-02T00:00:00Z', audit('certificate.activate'));
    expect(await repo.listRenewalDeliveries({ now })).toEqual([]);
    expect(await repo.claimRenewalDeliveryAttempt(gw.certificate.id, '2026-03-02T00:00:00Z', '2026-03-02T00:00:00Z', 'closed')).toBeUndefined();
    expect(await repo.pruneRenewalDeliveries(now)).toBe(1);
    expect(await t.count('renewal_deliveries')).toBe(0);
  });

  it('scheduled runs: the last run of each job kept (and audited); only known jobs', async () => {
    const { t, repo } = ctx();
    expect(await repo.listScheduledRuns()).toEqual([]);
    const run = (job: 'renewal' | 'crl', finishedAt: string, result: 'ok' | 'error', detail: string | null) => ({ job, startedAt: '2026-01-01T00:00:00Z', finishedAt, result, detail });
    await repo.recordScheduledRun(run('renewal', '2026-01-01T00:00:05Z', 'ok', '3 renewed'), audit('schedule.renewal'));
    await repo.recordScheduledRun(run('crl', '2026-01-01T00:00:06Z', 'error', 'the token is away'), { ...audit('schedule.crl'), result: 'error' });
    await repo.recordScheduledRun(run('renewal', '2026-01-02T00:00:05Z', 'ok', null), audit('schedule.renewal'));
    expect(await repo.listScheduledRuns()).toEqual([run('crl', '2026-01-01T00:00:06Z', 'error', 'the token is away'), run('renewal', '2026-01-02T00:00:05Z', 'ok', null)]);
    expect((await repo.listAudit(undefined, { limit: 10, offset: 0 })).rows.map((e) => `${e.action} ${e.result}`)).toEqual(['schedule.renewal ok', 'schedule.crl error', 'schedule.renewal ok']);
    await expect(t.raw(`INSERT INTO scheduled_runs (job, started_at, finished_at, result) VALUES ('other', 'a', 'b', 'ok')`)).rejects.toThrow();
  });

  it('each CA has its own CRL: numbers, stored CRL and revoked list of the birth CA apart from the device CA', async () => {
    const { repo } = ctx();
    expect(await repo.reserveCrlNumber()).toBe(1);
    expect(await repo.reserveCrlNumber('birth')).toBe(1);
    expect(await repo.reserveCrlNumber('birth')).toBe(2);
    expect(await repo.reserveCrlNumber('device')).toBe(2);
    const crl = (n: number, pem: string) => ({ crlNumber: n, thisUpdate: '2026-01-01T00:00:00Z', nextUpdate: '2026-01-08T00:00:00Z', pem });
    expect(await repo.saveCrl(crl(2, 'birth two'), audit('birth_crl.sign'), 'birth')).toBe(true);
    expect(await repo.saveCrl(crl(1, 'birth one'), audit('birth_crl.sign'), 'birth')).toBe(false);
    expect(await repo.getLatestCrl()).toBeUndefined();
    expect(await repo.getLatestCrl('birth')).toEqual(crl(2, 'birth two'));
    expect(await repo.saveCrl(crl(1, 'device one'), audit('crl.sign'))).toBe(true);
    expect(await repo.getLatestCrl('device')).toEqual(crl(1, 'device one'));
    expect((await repo.listAudit(undefined, { limit: 10, offset: 0 })).rows.map((e) => e.object)).toEqual(['crl:1', 'birth_crl:2']);

    const a = await repo.createAccount('A', audit('account.create'));
    const device = await repo.provisionGateway({ accountId: a.id, mac: 'aa:bb:cc:00:03:02', codigo: 'G', nome: 'g', certificate: cert('aa:bb:cc:00:03:02') }, audit('p'));
    await repo.revokeCertificateBySerial(device.certificate.serialNumber, 'keyCompromise', null, '2026-02-01T00:00:00Z', audit('r'));
    const birth = await repo.recordBirthCertificate(
      { mac: 'aa:bb:cc:00:03:04', serialNumber: 'B0001', certificatePem: 'pem', keyType: 'ec', model: null, accountId: a.id, claimSecretHash: 'h', issuedAt: '2026-01-01T00:00:00Z', expiresAt: '2046-01-01T00:00:00Z' },
      { replace: false, at: '2026-01-01T00:00:00Z' },
      audit('birth_identity.issue'),
    );
    await repo.revokeBirthCertificate({ mac: 'aa:bb:cc:00:03:04', accountId: a.id, reason: 'keyCompromise', note: null, at: '2026-02-02T00:00:00Z' }, audit('birth_identity.revoke'));
    expect(await repo.listRevoked()).toEqual([{ serialNumber: device.certificate.serialNumber, revokedAt: '2026-02-01T00:00:00Z', reason: 'keyCompromise' }]);
    expect(await repo.listRevoked('birth')).toEqual([{ serialNumber: birth.certificate.serialNumber, revokedAt: '2026-02-02T00:00:00Z', reason: 'keyCompromise' }]);
  });

  it('the latest readings of each telemetry series: newest first per series, series in (slave, register, unit) order, missing slave or register a series of its own', async () => {
    const { t, repo } = ctx();
    const a = await repo.createAccount('A', audit('account.create'));
    const gw = await repo.provisionGateway({ accountId: a.id, mac: 'aa:bb:cc:00:04:02', codigo: 'G', nome: 'g', certificate: cert('aa:bb:cc:00:04:02') }, audit('p'));
    const other = await repo.provisionGateway({ accountId: a.id, mac: 'aa:bb:cc:00:04:04', codigo: 'H', nome: 'h', certificate: cert('aa:bb:cc:00:04:04') }, audit('p'));
    const at = (s: number): string => `2026-01-01T00:00:${String(s).padStart(2, '0')}.000Z`;
    const r = (gatewayId: number, s: number, slaveId: number | null, register: number | null, unidade: string, valor: number) => ({
      gatewayId,
      measuredAt: at(s),
      receivedAt: at(s),
      valor,
      unidade,
      slaveId,
      register,
      firmwareVersion: null,
    });
    await t.store.mqtt.insertTelemetry([
      r(gw.gateway.id, 1, 2, 100, 'V', 1),
      r(gw.gateway.id, 2, 2, 100, 'V', 2),
      r(gw.gateway.id, 3, 2, 100, 'V', 3),
      r(gw.gateway.id, 3, 2, 100, 'V', 4), // same instant: the id decides
      r(gw.gateway.id, 4, 2, 100, 'A', 5),
      r(gw.gateway.id, 5, null, null, 'kWh', 6),
      r(gw.gateway.id, 6, null, null, 'kWh', 7),
      r(gw.gateway.id, 7, 1, null, 'V', 8),
      r(gw.gateway.id, 8, 10, 5, 'V', 9),
      r(gw.gateway.id, 0, 1, 1, 'V', 99), // before `since`
      r(other.gateway.id, 9, 2, 100, 'V', 100),
    ]);
    const latest = await t.store.mqtt.latestTelemetry(gw.gateway.id, at(1), 2, 10);
    const series = (rows: typeof latest) => rows.map((x) => [x.slaveId, x.register, x.unidade, x.valor]);
    expect(series(latest)).toEqual([
      [null, null, 'kWh', 6],
      [null, null, 'kWh', 7],
      [1, null, 'V', 8],
      [2, 100, 'A', 5],
      [2, 100, 'V', 3],
      [2, 100, 'V', 4],
      [10, 5, 'V', 9],
    ]);
    expect(series(await t.store.mqtt.latestTelemetry(gw.gateway.id, at(1), 1, 2))).toEqual([
      [null, null, 'kWh', 7],
      [1, null, 'V', 8],
    ]);
    expect(await t.store.mqtt.latestTelemetry(gw.gateway.id, at(30), 5, 5)).toEqual([]);
  });
}
