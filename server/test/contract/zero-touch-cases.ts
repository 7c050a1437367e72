/**
 * Store-contract cases of zero-touch onboarding, registered inside the suite of
 * store-contract.test.ts (so they run on SQLite and on PostgreSQL): birth certificates (one
 * unrevoked per MAC, replaced on request), nonces and their caps, bootstrap requests (supersede,
 * caps, recovery, polls, claim, reject, sweep), claim failures — and the rules that must hold when
 * two connections (two server instances) write at once: a claim cannot give a MAC to two accounts,
 * a MAC gets one birth identity, the caps are not overrun.
 */
import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import {
  CapacityError,
  MacConflictError,
  NonceError,
  NotFoundError,
  StateError,
  type BootstrapPath,
  type NewBirthCertificate,
  type NewBootstrapRequest,
  type ProvisionWrite,
  type Repository,
} from '@tds/server/store';
import type { TestStore } from '../support/backends.js';
import { audit, cert } from '../support/contract.js';

type Ctx = () => { t: TestStore; repo: Repository };

const CAPS = { perMac: 3, total: 100 };
const T0 = '2026-05-01T10:00:00Z';
const at = (minutes: number): string => new Date(Date.parse(T0) + minutes * 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');

let birthSerial = 0;
const birth = (mac: string, accountId: number): NewBirthCertificate => ({
  mac,
  serialNumber: `B${String(++birthSerial).padStart(6, '0')}`,
  certificatePem: '-----BEGIN CERTIFICATE-----\n(birth)\n-----END CERTIFICATE-----\n',
  keyType: 'ec',
  model: 'TDS-GW-1',
  accountId,
  claimSecretHash: `secret-hash-${birthSerial}`,
  issuedAt: T0,
  expiresAt: '2046-01-01T00:00:00Z',
});

const request = (mac: string, path: BootstrapPath, o: { key?: string; created?: number; lifetime?: number } = {}): NewBootstrapRequest => ({
  id: randomBytes(16).toString('hex'),
  mac,
  path,
  csrPem: '-----BEGIN CERTIFICATE REQUEST-----\n(csr)\n-----END CERTIFICATE REQUEST-----\n',
  publicKeyDer: Buffer.from([0x30, 0x59, 0x00, 0xff]),
  keyFingerprint: o.key ?? 'key-1',
  keyType: 'ec',
  codeHash: path === 'open' ? 'code-hash' : null,
  birthSerial: path === 'attested' ? 'B000001' : null,
  model: 'TDS-GW-1',
  firmwareVersion: '2.0.0',
  sourceIp: '192.0.2.10',
  createdAt: at(o.created ?? 0),
  expiresAt: at((o.created ?? 0) + (o.lifetime ?? 30)),
  pollInterval: 5,
});

const provision = (accountId: number, mac: string): ProvisionWrite => ({ accountId, mac, codigo: 'ZT', nome: 'zero-touch', certificate: cert(mac) });

export function zeroTouchCases(ctx: Ctx): void {
  it('birth certificates: one unrevoked per MAC (also in the database), replaced on request with its attested requests, revoked by its own account only', async () => {
    const { t, repo } = ctx();
    const a = await repo.createAccount('A', audit('account.create'));
    const b = await repo.createAccount('B', audit('account.create'));
    const mac = 'aa:bb:cc:01:00:02';
    const first = await repo.recordBirthCertificate(birth(mac, a.id), { replace: false, at: T0 }, audit('birth_identity.issue', a.id));
    expect(first.replaced).toBeNull();
    expect(first.certificate).toMatchObject({ mac, accountId: a.id, status: 'active', claimedAt: null, revokedAt: null, model: 'TDS-GW-1' });
    expect(await repo.getBirthCertificate(mac)).toEqual(first.certificate);
    expect(await repo.getBirthCertificateBySerial(first.certificate.serialNumber)).toEqual(first.certificate);
    await expect(repo.recordBirthCertificate(birth(mac, a.id), { replace: false, at: T0 }, audit('birth_identity.issue'))).rejects.toThrow(/already has a birth identity/);

    const attested = await repo.createBootstrapRequest(request(mac, 'attested'), { supersede: 'attested', caps: CAPS }, audit('bootstrap.request'));
    const second = await repo.recordBirthCertificate(birth(mac, a.id), { replace: true, at: at(1) }, audit('birth_identity.issue', a.id));
    expect(second.replaced).toMatchObject({ serialNumber: first.certificate.serialNumber, status: 'revoked', revokeReason: 'superseded', revokedAt: at(1) });
    expect(await repo.getBootstrapRequest(attested.request.id)).toMatchObject({ status: 'rejected', statusReason: 'birth identity replaced' });
    expect(await repo.getBirthCertificate(mac)).toEqual(second.certificate);
    // The database itself refuses a second unrevoked birth certificate of the MAC.
    await expect(
      t.raw(
        `INSERT INTO birth_certificates (mac, serial_number, certificate_pem, key_type, account_id, status, claim_secret_hash, issued_at, expires_at) VALUES (?, 'RAW1', 'p', 'ec', ?, 'active', 'h', ?, ?)`,
        [mac, a.id, T0, T0],
      ),
    ).rejects.toThrow();

    await expect(repo.revokeBirthCertificate({ mac, accountId: b.id, reason: 'keyCompromise', note: null, at: at(2) }, audit('birth_identity.revoke'))).rejects.toBeInstanceOf(NotFoundError);
    const revoked = await repo.revokeBirthCertificate({ mac, accountId: a.id, reason: 'keyCompromise', note: 'lost', at: at(2) }, audit('birth_identity.revoke', a.id));
    expect(revoked).toMatchObject({ status: 'revoked', revokeReason: 'keyCompromise', revokeNote: 'lost', revokedAt: at(2) });
    expect(await repo.getBirthCertificate(mac)).toBeUndefined();
    await expect(repo.revokeBirthCertificate({ mac, accountId: a.id, reason: 'x', note: null, at: at(3) }, audit('birth_identity.revoke'))).rejects.toBeInstanceOf(NotFoundError);
    expect((await repo.listAudit(a.id, { limit: 20, offset: 0 })).rows.map((e) => e.action)).toEqual([
      'birth_identity.revoke',
      'birth_identity.issue',
      'birth_identity.revoke',
      'bootstrap.reject',
      'birth_identity.issue',
      'account.create',
    ]);
  });

  it('nonces: caps per MAC and in total, used once by the request they belong to', async () => {
    const { repo } = ctx();
    const mac = 'aa:bb:cc:01:01:02';
    const nonce = (n: string, m = mac, expires = at(5)) => ({ nonce: n, mac: m, at: T0, expiresAt: expires, sourceIp: '192.0.2.1' });
    await repo.createBootstrapNonce(nonce('n1'), { perMac: 2, total: 3 });
    await repo.createBootstrapNonce(nonce('n2'), { perMac: 2, total: 3 });
    const perMac = await repo.createBootstrapNonce(nonce('n3'), { perMac: 2, total: 3 }).catch((e: unknown) => e);
    expect(perMac).toBeInstanceOf(CapacityError);
    expect(perMac).toMatchObject({ what: 'nonces', retryAt: at(5) });
    await repo.createBootstrapNonce(nonce('n4', 'aa:bb:cc:01:01:04'), { perMac: 2, total: 3 });
    await expect(repo.createBootstrapNonce(nonce('n5', 'aa:bb:cc:01:01:06'), { perMac: 2, total: 3 })).rejects.toThrow(/as many unused nonces as it allows/);
    expect(await repo.findBootstrapNonce('n1')).toEqual({ mac, expiresAt: at(5), usedAt: null });
    expect(await repo.findBootstrapNonce('nope')).toBeUndefined();

    const r = await repo.createBootstrapRequest(request(mac, 'attested', { created: 1 }), { nonce: 'n1', supersede: 'attested', caps: CAPS }, audit('bootstrap.request'));
    expect(r.request.status).toBe('pending');
    expect((await repo.findBootstrapNonce('n1'))?.usedAt).toBe(at(1));
    for (const [n, m] of [
      ['n1', mac], // used
      ['n4', mac], // another MAC's
      ['nope', mac], // unknown
    ] as const) {
      await expect(repo.createBootstrapRequest(request(m, 'attested', { created: 2 }), { nonce: n, supersede: 'attested', caps: CAPS }, audit('bootstrap.request'))).rejects.toBeInstanceOf(NonceError);
    }
    // An expired nonce.
    await expect(repo.createBootstrapRequest(request(mac, 'attested', { created: 6 }), { nonce: 'n2', supersede: 'attested', caps: CAPS }, audit('bootstrap.request'))).rejects.toBeInstanceOf(NonceError);
  });

  it('bootstrap requests: supersede, caps, find and count, polls in order, claim, recovery of a lost id, reject', async () => {
    const { repo } = ctx();
    const a = await repo.createAccount('A', audit('account.create'));
    const mac = 'aa:bb:cc:01:02:02';
    const r1 = await repo.createBootstrapRequest(request(mac, 'open', { key: 'k1' }), { supersede: 'same-key', caps: CAPS }, audit('bootstrap.request'));
    expect(r1).toMatchObject({ superseded: [], recovered: false, request: { status: 'pending', path: 'open', mac, lastPollTs: null, accountId: null } });
    expect(r1.request.publicKeyDer).toEqual(Buffer.from([0x30, 0x59, 0x00, 0xff]));
    expect(await repo.getBootstrapRequest(r1.request.id)).toEqual(r1.request);
    // The same key asks again: its earlier request is superseded; another key's stays.
    const r2 = await repo.createBootstrapRequest(request(mac, 'open', { key: 'k1', created: 1 }), { supersede: 'same-key', caps: CAPS }, audit('bootstrap.request'));
    expect(r2.superseded.map((r) => [r.id, r.status, r.statusReason])).toEqual([[r1.request.id, 'rejected', 'superseded by a newer request']]);
    const r3 = await repo.createBootstrapRequest(request(mac, 'open', { key: 'k2', created: 1 }), { supersede: 'same-key', caps: CAPS }, audit('bootstrap.request'));
    expect(r3.superseded).toEqual([]);
    await repo.createBootstrapRequest(request(mac, 'open', { key: 'k3', created: 1 }), { supersede: 'same-key', caps: CAPS }, audit('bootstrap.request'));
    const capped = await repo.createBootstrapRequest(request(mac, 'open', { key: 'k4', created: 2 }), { supersede: 'same-key', caps: CAPS }, audit('bootstrap.request')).catch((e: unknown) => e);
    expect(capped).toBeInstanceOf(CapacityError);
    expect(capped).toMatchObject({ what: 'pending', retryAt: at(31) });
    await expect(
      repo.createBootstrapRequest(request('aa:bb:cc:01:02:04', 'open', { key: 'k9', created: 2 }), { supersede: 'same-key', caps: { perMac: 3, total: 3 } }, audit('bootstrap.request')),
    ).rejects.toThrow(/as many pending bootstrap requests as it allows/);

    // Newest first; filters by status, path, key.
    expect((await repo.findBootstrapRequests(mac, { statuses: ['pending'] })).map((r) => r.keyFingerprint)).toEqual(['k3', 'k2', 'k1']);
    expect((await repo.findBootstrapRequests(mac, { statuses: ['pending', 'rejected'], keyFingerprint: 'k1' })).map((r) => r.id)).toEqual([r2.request.id, r1.request.id]);
    expect(await repo.findBootstrapRequests(mac, { statuses: ['pending'], path: 'attested' })).toEqual([]);
    expect(await repo.countPendingBootstrap({ mac, path: 'open' }, at(2))).toEqual({ count: 3, oldestExpiresAt: at(31) });
    expect(await repo.countPendingBootstrap({}, at(2))).toEqual({ count: 3, oldestExpiresAt: at(31) });
    expect(await repo.countPendingBootstrap({ path: 'attested' }, at(2))).toEqual({ count: 0, oldestExpiresAt: null });
    expect((await repo.countPendingBootstrap({ mac }, at(31))).count).toBe(0);

    // Polls: the device's timestamp must rise.
    const polled = await repo.recordBootstrapPoll(r2.request.id, { at: at(3), deviceTs: 1000, fetched: false }, null);
    expect(polled).toMatchObject({ lastPollAt: at(3), lastPollTs: 1000, status: 'pending' });
    await expect(repo.recordBootstrapPoll(r2.request.id, { at: at(3), deviceTs: 1000, fetched: false }, null)).rejects.toBeInstanceOf(StateError);
    await expect(repo.recordBootstrapPoll('0'.repeat(32), { at: at(3), deviceTs: 1, fetched: false }, null)).rejects.toBeInstanceOf(NotFoundError);

    // The claim: gateway and certificate in the claiming account, the request approved with its fetch deadline.
    const claimed = await repo.approveBootstrapRequest(
      { id: r2.request.id, write: provision(a.id, mac), decidedBy: 'token:1', at: at(4), fetchBy: at(4 + 24 * 60) },
      audit('bootstrap.claim', a.id),
    );
    expect(claimed.request).toMatchObject({ status: 'approved', accountId: a.id, gatewayId: claimed.gateway.id, certificateId: claimed.certificate.id, decidedBy: 'token:1', decidedAt: at(4), expiresAt: at(4 + 24 * 60) });
    expect(claimed.certificate).toMatchObject({ subjectCn: mac, status: 'active', accountId: a.id });
    expect(claimed.reused).toBe(false);
    await expect(repo.approveBootstrapRequest({ id: r2.request.id, write: provision(a.id, mac), decidedBy: 'x', at: at(5), fetchBy: at(60) }, audit('bootstrap.claim'))).rejects.toBeInstanceOf(StateError);
    await expect(repo.approveBootstrapRequest({ id: 'f'.repeat(32), write: provision(a.id, mac), decidedBy: 'x', at: at(5), fetchBy: at(60) }, audit('bootstrap.claim'))).rejects.toBeInstanceOf(NotFoundError);

    // The device lost its request id: the same key finds the approved request again.
    const again = await repo.createBootstrapRequest(request(mac, 'open', { key: 'k1', created: 5 }), { supersede: 'same-key', caps: CAPS }, audit('bootstrap.request'));
    expect(again).toMatchObject({ recovered: true, superseded: [], request: { id: r2.request.id, status: 'approved' } });
    // Fetched: issued, audited with the account.
    const fetched = await repo.recordBootstrapPoll(r2.request.id, { at: at(6), deviceTs: 2000, fetched: true }, audit('bootstrap.fetch'));
    expect(fetched).toMatchObject({ status: 'issued', fetchedAt: at(6), finishedAt: at(6) });
    expect((await repo.listAudit(a.id, { limit: 5, offset: 0, action: 'bootstrap.fetch' })).rows.map((e) => e.object)).toEqual([`bootstrap:${r2.request.id}`]);

    // Reject one, then every pending open request of the MAC.
    const rejected = await repo.rejectBootstrapRequest(r3.request.id, { reason: 'not ours', at: at(7), decidedBy: 'token:1', accountId: a.id }, audit('bootstrap.reject', a.id));
    expect(rejected).toMatchObject({ status: 'rejected', statusReason: 'not ours', decidedBy: 'token:1', accountId: a.id, finishedAt: at(7) });
    await expect(repo.rejectBootstrapRequest(r3.request.id, { reason: 'again', at: at(7), decidedBy: 'x', accountId: null }, audit('bootstrap.reject'))).rejects.toBeInstanceOf(StateError);
    const rest = await repo.rejectPendingBootstrapOfMac(mac, 'open', 'too many wrong codes', at(8), audit('bootstrap.reject'));
    expect(rest.map((r) => [r.keyFingerprint, r.status, r.statusReason])).toEqual([['k3', 'rejected', 'too many wrong codes']]);
    expect(await repo.rejectPendingBootstrapOfMac(mac, 'open', 'again', at(8), audit('bootstrap.reject'))).toEqual([]);
  });

  it('a claim uses the label once, and gives no MAC to a second account (nothing changes when refused)', async () => {
    const { t, repo } = ctx();
    const a = await repo.createAccount('A', audit('account.create'));
    const b = await repo.createAccount('B', audit('account.create'));
    const mac = 'aa:bb:cc:01:03:02';
    const born = await repo.recordBirthCertificate(birth(mac, a.id), { replace: false, at: T0 }, audit('birth_identity.issue'));
    const r1 = await repo.createBootstrapRequest(request(mac, 'attested'), { supersede: 'attested', caps: CAPS }, audit('bootstrap.request'));
    await repo.approveBootstrapRequest({ id: r1.request.id, write: provision(a.id, mac), decidedBy: 'token:1', at: at(1), fetchBy: at(60), birthId: born.certificate.id }, audit('bootstrap.claim'));
    expect((await repo.getBirthCertificate(mac))?.claimedAt).toBe(at(1));

    const r2 = await repo.createBootstrapRequest(request(mac, 'attested', { key: 'other', created: 2 }), { supersede: 'attested', caps: CAPS }, audit('bootstrap.request'));
    const snapshot = async () => ({ certs: await t.count('certificates'), gateways: await t.count('gateways'), request: await repo.getBootstrapRequest(r2.request.id) });
    const before = await snapshot();
    await expect(
      repo.approveBootstrapRequest({ id: r2.request.id, write: provision(b.id, mac), decidedBy: 'token:2', at: at(3), fetchBy: at(60), birthId: born.certificate.id }, audit('bootstrap.claim')),
    ).rejects.toThrow(/a claim secret works once/);
    const taken = await repo.approveBootstrapRequest({ id: r2.request.id, write: provision(b.id, mac), decidedBy: 'token:2', at: at(3), fetchBy: at(60) }, audit('bootstrap.claim')).catch((e: unknown) => e);
    expect(taken).toBeInstanceOf(MacConflictError);
    expect((taken as Error).message).toBe(`MAC ${mac} is not available`);
    expect(await snapshot()).toEqual(before);
  });

  it('two connections claiming one MAC for two accounts at once: exactly one claim wins, the other request stays pending', async () => {
    const { t, repo } = ctx();
    const second = await t.openAgain();
    const a = await repo.createAccount('A', audit('account.create'));
    const b = await repo.createAccount('B', audit('account.create'));
    for (let i = 0; i < 6; i++) {
      const mac = `aa:bb:cc:01:04:${(i * 2).toString(16).padStart(2, '0')}`;
      const ra = await repo.createBootstrapRequest(request(mac, 'open', { key: `ka${i}` }), { supersede: 'same-key', caps: CAPS }, audit('bootstrap.request'));
      const rb = await repo.createBootstrapRequest(request(mac, 'open', { key: `kb${i}` }), { supersede: 'same-key', caps: CAPS }, audit('bootstrap.request'));
      const results = await Promise.allSettled([
        repo.approveBootstrapRequest({ id: ra.request.id, write: provision(a.id, mac), decidedBy: 'token:1', at: at(1), fetchBy: at(60) }, audit('bootstrap.claim')),
        second.repo.approveBootstrapRequest({ id: rb.request.id, write: provision(b.id, mac), decidedBy: 'token:2', at: at(1), fetchBy: at(60) }, audit('bootstrap.claim')),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const refused = results.find((r) => r.status === 'rejected');
      expect(refused?.status === 'rejected' && refused.reason).toBeInstanceOf(MacConflictError);
      expect(await t.count('certificates', `subject_cn = '${mac}' AND status = 'active'`)).toBe(1);
      expect((await repo.findBootstrapRequests(mac, { statuses: ['approved'] })).length).toBe(1);
      expect((await repo.findBootstrapRequests(mac, { statuses: ['pending'] })).length).toBe(1);
    }
  });

  it('two connections at once: one birth identity per MAC, the nonce cap and the pending cap are not overrun', async () => {
    const { t, repo } = ctx();
    const second = await t.openAgain();
    const a = await repo.createAccount('A', audit('account.create'));
    const mac = 'aa:bb:cc:01:05:02';
    const births = await Promise.allSettled(Array.from({ length: 4 }, (_, i) => (i % 2 ? second.repo : repo).recordBirthCertificate(birth(mac, a.id), { replace: false, at: T0 }, audit('birth_identity.issue'))));
    expect(births.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of births) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(StateError);
    expect(await t.count('birth_certificates', `mac = '${mac}'`)).toBe(1);

    const nonces = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => (i % 2 ? second.repo : repo).createBootstrapNonce({ nonce: `c${i}`, mac, at: T0, expiresAt: at(5), sourceIp: null }, { perMac: 3, total: 100 })),
    );
    expect(nonces.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    expect(await t.count('bootstrap_nonces', `mac = '${mac}'`)).toBe(3);

    const pending = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) =>
        (i % 2 ? second.repo : repo).createBootstrapRequest(request(`aa:bb:cc:01:06:${(i * 2).toString(16).padStart(2, '0')}`, 'open', { key: `k${i}` }), { supersede: 'same-key', caps: { perMac: 3, total: 5 } }, audit('bootstrap.request')),
      ),
    );
    expect(pending.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    for (const r of pending) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(CapacityError);
  });

  it('the sweep: pending requests expire, never-fetched certificates are revoked, old rows deleted; claim failures counted per subject', async () => {
    const { t, repo } = ctx();
    const a = await repo.createAccount('A', audit('account.create'));
    const mac = 'aa:bb:cc:01:07:02';
    const stale = await repo.createBootstrapRequest(request('aa:bb:cc:01:07:04', 'open', { lifetime: 10 }), { supersede: 'same-key', caps: CAPS }, audit('bootstrap.request'));
    const live = await repo.createBootstrapRequest(request('aa:bb:cc:01:07:06', 'open', { lifetime: 600 }), { supersede: 'same-key', caps: CAPS }, audit('bootstrap.request'));
    const claimed = await repo.createBootstrapRequest(request(mac, 'open'), { supersede: 'same-key', caps: CAPS }, audit('bootstrap.request'));
    const approved = await repo.approveBootstrapRequest({ id: claimed.request.id, write: provision(a.id, mac), decidedBy: 'token:1', at: at(1), fetchBy: at(20) }, audit('bootstrap.claim'));
    await repo.createBootstrapNonce({ nonce: 'old', mac, at: T0, expiresAt: at(2), sourceIp: null }, CAPS);
    await repo.recordClaimFailure(['operator:7', `mac:${mac}`], at(0), { ...audit('bootstrap.claim', a.id), result: 'denied' });
    await repo.recordClaimFailure(['operator:7'], at(3), { ...audit('bootstrap.claim', a.id), result: 'denied' });
    await repo.recordClaimFailure(['operator:7'], at(4), { ...audit('bootstrap.claim', a.id), result: 'denied' });
    expect(await repo.recentClaimFailures('operator:7', at(0), 10)).toEqual([at(4), at(3), at(0)]);
    expect(await repo.recentClaimFailures('operator:7', at(1), 1)).toEqual([at(4)]);
    expect(await repo.recentClaimFailures(`mac:${mac}`, at(0), 10)).toEqual([at(0)]);
    expect(await repo.recentClaimFailures('nobody', at(0), 10)).toEqual([]);

    const swept = await repo.sweepBootstrap(at(30), { finishedBefore: at(0), failuresBefore: at(2), actor: 'server' });
    expect(swept.expired.map((r) => [r.id, r.status, r.statusReason, r.finishedAt])).toEqual([
      [stale.request.id, 'expired', 'not claimed in time', at(30)],
      [claimed.request.id, 'expired', 'certificate never fetched', at(30)],
    ]);
    expect(swept.revoked.map((c) => [c.serialNumber, c.status, c.revokeReason])).toEqual([[approved.certificate.serialNumber, 'revoked', 'cessationOfOperation']]);
    expect(swept.deleted).toBe(3); // the expired nonce and the two failures before at(2)
    expect(await repo.recentClaimFailures('operator:7', at(0), 10)).toEqual([at(4), at(3)]);
    expect((await repo.getBootstrapRequest(live.request.id))?.status).toBe('pending');
    expect(await repo.getMacHolder(mac, at(30))).toBeUndefined();
    expect((await repo.listAudit(a.id, { limit: 5, offset: 0, action: 'bootstrap.expire' })).rows.map((e) => e.detail)).toEqual([
      `mac=${mac}: approved, certificate never fetched before ${at(20)}; certificate ${approved.certificate.serialNumber} revoked`,
    ]);
    // Finished requests are deleted once older than `finishedBefore`.
    const later = await repo.sweepBootstrap(at(40), { finishedBefore: at(31), failuresBefore: at(0), actor: 'server' });
    expect(later).toEqual({ expired: [], revoked: [], deleted: 2 });
    expect(await repo.getBootstrapRequest(stale.request.id)).toBeUndefined();
    expect(await t.count('bootstrap_requests')).toBe(1);
  });
}
