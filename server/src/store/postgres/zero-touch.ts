/**
 * The zero-touch onboarding tables of the PostgreSQL store (migration 4), with the semantics of
 * `sqlite/zero-touch.ts`: birth certificates, nonces, bootstrap requests, claim failures. Each
 * method runs inside one of the repository's transactions (or as a plain read on the pool).
 *
 * Several instances write these tables at once, so what SQLite gets from its single writer is made
 * explicit here: rows that a write decides on are locked (FOR UPDATE); the one unrevoked birth
 * certificate per MAC is a partial unique index (its violation is the same StateError); the caps on
 * unused nonces and pending requests are counted under a transaction-level advisory lock, so
 * concurrent creations cannot all pass a count taken before any of them inserted. The MAC-ownership
 * rule of a claim is the certificates' exclusion constraint, as for every provisioning.
 */
import {
  CapacityError,
  NonceError,
  NotFoundError,
  StateError,
  type BirthCertificateRecord,
  type BootstrapPath,
  type BootstrapRequestRecord,
  type BootstrapStatus,
  type BootstrapSweepResult,
  type CertificateRecord,
  type NewAuditEvent,
  type NewBirthCertificate,
  type NewBootstrapRequest,
  type ProvisionResult,
  type ProvisionWrite,
} from '../repository.js';
import { str, toBirth, toBootstrapRequest, toCertificate, type Row } from '../rows.js';
import type { SqlRunner, SqlSet, Statements } from './statements.js';

/** Advisory lock keys of the capped inserts (any fixed bigint, the same in every instance). */
const NONCE_CAP_LOCK = '7237095758917141370';
const REQUEST_CAP_LOCK = '7237095758917141371';

export const ZERO_TOUCH_SQL = {
  capLock: 'SELECT pg_advisory_xact_lock($1)',
  insertBirth: `INSERT INTO birth_certificates (mac, serial_number, certificate_pem, key_type, model, account_id, status, claim_secret_hash, issued_at, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $8, $9) RETURNING *`,
  liveBirthOfMac: `SELECT * FROM birth_certificates WHERE mac = $1 AND status = 'active'`,
  lockLiveBirthOfMac: `SELECT * FROM birth_certificates WHERE mac = $1 AND status = 'active' FOR UPDATE`,
  birthBySerial: 'SELECT * FROM birth_certificates WHERE serial_number = $1',
  revokeBirth: `UPDATE birth_certificates SET status = 'revoked', revoked_at = $1, revoke_reason = $2, revoke_note = $3 WHERE id = $4 RETURNING *`,
  claimBirth: `UPDATE birth_certificates SET claimed_at = $1 WHERE id = $2 AND status = 'active' AND claimed_at IS NULL`,

  insertNonce: 'INSERT INTO bootstrap_nonces (nonce, mac, created_at, expires_at, source_ip) VALUES ($1, $2, $3, $4, $5)',
  liveNoncesOfMac: 'SELECT count(*) AS n FROM bootstrap_nonces WHERE mac = $1 AND used_at IS NULL AND expires_at > $2',
  liveNonces: 'SELECT count(*) AS n FROM bootstrap_nonces WHERE used_at IS NULL AND expires_at > $1',
  findNonce: 'SELECT mac, expires_at, used_at FROM bootstrap_nonces WHERE nonce = $1',
  useNonce: 'UPDATE bootstrap_nonces SET used_at = $1 WHERE nonce = $2 AND mac = $3 AND used_at IS NULL AND expires_at > $1',
  deleteOldNonces: 'DELETE FROM bootstrap_nonces WHERE expires_at <= $1',

  insertRequest: `INSERT INTO bootstrap_requests (id, mac, path, status, csr_pem, public_key_der, key_fingerprint, key_type, code_hash, birth_serial,
       model, firmware_version, source_ip, created_at, expires_at, poll_interval)
     VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING *`,
  requestById: 'SELECT * FROM bootstrap_requests WHERE id = $1',
  lockRequest: 'SELECT * FROM bootstrap_requests WHERE id = $1 FOR UPDATE',
  requestsOfMac: 'SELECT * FROM bootstrap_requests WHERE mac = $1 ORDER BY created_at DESC, seq DESC LIMIT 200',
  expireStalePendingOfMac: `UPDATE bootstrap_requests SET status = 'expired', finished_at = $1, status_reason = 'not claimed in time'
     WHERE mac = $2 AND status = 'pending' AND expires_at <= $1`,
  lockPendingOfMac: `SELECT * FROM bootstrap_requests WHERE mac = $1 AND status = 'pending' AND expires_at > $2 ORDER BY created_at DESC, seq DESC FOR UPDATE`,
  // (mac, path) filters are optional: NULL matches every value.
  pendingCount: `SELECT count(*) AS n, min(expires_at) AS oldest FROM bootstrap_requests
     WHERE status = 'pending' AND expires_at > $1 AND ($2::text IS NULL OR mac = $2) AND ($3::text IS NULL OR path = $3)`,
  finish: `UPDATE bootstrap_requests SET status = $1, status_reason = $2, finished_at = $3, decided_at = coalesce($4, decided_at), decided_by = coalesce($5, decided_by),
       account_id = coalesce($6, account_id) WHERE id = $7 RETURNING *`,
  recordPoll: `UPDATE bootstrap_requests SET last_poll_at = $1, last_poll_ts = $2 WHERE id = $3 AND (last_poll_ts IS NULL OR last_poll_ts < $2) RETURNING *`,
  markFetched: `UPDATE bootstrap_requests SET status = 'issued', fetched_at = $1, finished_at = $1 WHERE id = $2 AND status = 'approved' RETURNING *`,
  approve: `UPDATE bootstrap_requests SET status = 'approved', account_id = $1, gateway_id = $2, certificate_id = $3, decided_at = $4, decided_by = $5, expires_at = $6
     WHERE id = $7 AND status = 'pending' RETURNING *`,
  // Stale requests change state in the statement that finds them: two sweeping instances never expire one twice.
  expireStalePending: `WITH x AS (
       UPDATE bootstrap_requests SET status = 'expired', status_reason = 'not claimed in time', finished_at = $1
       WHERE status = 'pending' AND expires_at <= $1 RETURNING *)
     SELECT * FROM x ORDER BY created_at, seq`,
  expireStaleApproved: `WITH x AS (
       UPDATE bootstrap_requests SET status = 'expired', status_reason = 'certificate never fetched', finished_at = $1
       WHERE status = 'approved' AND expires_at <= $1 RETURNING *)
     SELECT * FROM x ORDER BY created_at, seq`,
  deleteFinished: 'DELETE FROM bootstrap_requests WHERE finished_at IS NOT NULL AND finished_at < $1',

  certById: 'SELECT * FROM certificates WHERE id = $1',
  lockGatewayById: 'SELECT id FROM gateways WHERE id = $1 FOR UPDATE',
  lockCertById: 'SELECT * FROM certificates WHERE id = $1 FOR UPDATE',
  revokeCertificate: `UPDATE certificates SET status = 'revoked', revoked_at = $1, revoke_reason = $2, revoke_note = $3 WHERE id = $4 RETURNING *`,
  deletePendingKey: 'DELETE FROM pending_keys WHERE certificate_id = $1',

  insertFailures: 'INSERT INTO claim_failures (subject, at) SELECT unnest($1::text[]), $2',
  recentFailures: 'SELECT at FROM claim_failures WHERE subject = $1 AND at >= $2 ORDER BY at DESC, id DESC LIMIT $3',
  deleteOldFailures: 'DELETE FROM claim_failures WHERE at < $1',
} as const satisfies SqlSet;

type Zt = SqlRunner<typeof ZERO_TOUCH_SQL>;

const BIRTH_UNIQUE = 'birth_one_live_per_mac';

/** What the zero-touch writes need from the repository, inside the same transaction. */
export interface ZeroTouchHost {
  audit(s: Statements, event: NewAuditEvent): Promise<void>;
  /** Provisioning with the MAC-ownership rule, gateway and certificate (as `provisionGateway`). */
  provisionOne(s: Statements, write: ProvisionWrite, now: string): Promise<ProvisionResult>;
}

export class PgZeroTouch {
  constructor(private readonly host: ZeroTouchHost) {}

  private z(s: Statements): Zt {
    return s.with(ZERO_TOUCH_SQL, 'zt_');
  }

  // ---------------------------------------------------------------------------- birth certificates

  async recordBirth(
    s: Statements,
    c: NewBirthCertificate,
    options: { replace: boolean; at: string },
    audit: NewAuditEvent,
  ): Promise<{ certificate: BirthCertificateRecord; replaced: BirthCertificateRecord | null }> {
    const z = this.z(s);
    const live = await z.one('lockLiveBirthOfMac', c.mac);
    let replaced: BirthCertificateRecord | null = null;
    if (live) {
      if (!options.replace) throw alreadyHasBirth(c.mac, live);
      replaced = toBirth((await z.one('revokeBirth', options.at, 'superseded', 'replaced at the bench', live.id))!);
      await this.rejectPending(s, c.mac, 'attested', 'birth identity replaced', options.at, { ...audit, action: 'birth_identity.revoke' });
      await this.host.audit(s, { ...audit, action: 'birth_identity.revoke', object: `birth:${replaced.serialNumber}`, detail: `mac=${c.mac} reason=superseded: replaced by a new birth identity` });
    }
    let row: Row;
    try {
      row = (await z.one('insertBirth', c.mac, c.serialNumber, c.certificatePem, c.keyType, c.model, c.accountId, c.claimSecretHash, c.issuedAt, c.expiresAt))!;
    } catch (err) {
      // Another instance stored one for this MAC meanwhile.
      const e = err as { code?: string; constraint?: string };
      if (e.code === '23505' && e.constraint === BIRTH_UNIQUE) {
        throw new StateError(`MAC ${c.mac} already has a birth identity; send "replace": true to revoke it and issue a new one`);
      }
      throw err;
    }
    const certificate = toBirth(row);
    await this.host.audit(s, { ...audit, object: `birth:${certificate.serialNumber}` });
    return { certificate, replaced };
  }

  async liveBirth(s: Statements, mac: string): Promise<BirthCertificateRecord | undefined> {
    const r = await this.z(s).one('liveBirthOfMac', mac);
    return r ? toBirth(r) : undefined;
  }

  async birthBySerial(s: Statements, serial: string): Promise<BirthCertificateRecord | undefined> {
    const r = await this.z(s).one('birthBySerial', serial);
    return r ? toBirth(r) : undefined;
  }

  async revokeBirth(s: Statements, input: { mac: string; accountId: number; reason: string; note: string | null; at: string }, audit: NewAuditEvent): Promise<BirthCertificateRecord> {
    const z = this.z(s);
    const live = await z.one('lockLiveBirthOfMac', input.mac);
    if (!live || live.account_id !== input.accountId) throw new NotFoundError(`no birth identity of this account for MAC ${input.mac}`);
    const revoked = toBirth((await z.one('revokeBirth', input.at, input.reason, input.note, live.id))!);
    await this.rejectPending(s, input.mac, 'attested', 'birth identity revoked', input.at, audit);
    await this.host.audit(s, { ...audit, object: `birth:${revoked.serialNumber}` });
    return revoked;
  }

  // ---------------------------------------------------------------------------- nonces

  async createNonce(s: Statements, n: { nonce: string; mac: string; at: string; expiresAt: string; sourceIp: string | null }, caps: { perMac: number; total: number }): Promise<void> {
    const z = this.z(s);
    await z.one('capLock', NONCE_CAP_LOCK);
    if (((await z.one('liveNoncesOfMac', n.mac, n.at))!.n as number) >= caps.perMac) {
      throw new CapacityError(`MAC ${n.mac} already has ${caps.perMac} unused nonces; use one of them or wait until they expire`, 'nonces', n.expiresAt);
    }
    if (((await z.one('liveNonces', n.at))!.n as number) >= caps.total) {
      throw new CapacityError('the server holds as many unused nonces as it allows; try again later', 'nonces', n.expiresAt);
    }
    await z.run('insertNonce', n.nonce, n.mac, n.at, n.expiresAt, n.sourceIp);
  }

  async findNonce(s: Statements, nonce: string): Promise<{ mac: string; expiresAt: string; usedAt: string | null } | undefined> {
    const r = await this.z(s).one('findNonce', nonce);
    return r ? { mac: str(r.mac), expiresAt: str(r.expires_at), usedAt: (r.used_at as string | null) ?? null } : undefined;
  }

  // ---------------------------------------------------------------------------- requests

  async createRequest(
    s: Statements,
    req: NewBootstrapRequest,
    options: { nonce?: string; supersede: 'attested' | 'same-key'; caps: { perMac: number; total: number } },
    audit: NewAuditEvent,
  ): Promise<{ request: BootstrapRequestRecord; superseded: BootstrapRequestRecord[]; recovered: boolean }> {
    const z = this.z(s);
    const at = req.createdAt;
    // The caps count pending requests: one creation at a time across the instances.
    await z.one('capLock', REQUEST_CAP_LOCK);
    await z.run('expireStalePendingOfMac', at, req.mac);
    if (options.nonce !== undefined && (await z.run('useNonce', at, options.nonce, req.mac)) !== 1) {
      throw new NonceError('the nonce is unknown, was already used, has expired or is for another MAC; ask for a new one (bootstrap/nonce/)');
    }
    const known = (await this.find(s, req.mac, { statuses: ['approved', 'issued'], keyFingerprint: req.keyFingerprint })).find((r) => r.status === 'issued' || r.expiresAt > at);
    if (known) {
      await this.host.audit(s, { ...audit, object: `bootstrap:${known.id}`, detail: `${audit.detail ?? ''}; the same key's ${known.status} request returned`.replace(/^; /, '') });
      return { request: known, superseded: [], recovered: true };
    }
    const pending = (await z.all('lockPendingOfMac', req.mac, at)).map(toBootstrapRequest);
    const replaced = pending.filter((p) => (options.supersede === 'attested' ? p.path === 'attested' : p.path === req.path && p.keyFingerprint === req.keyFingerprint));
    const superseded: BootstrapRequestRecord[] = [];
    for (const p of replaced) {
      superseded.push(toBootstrapRequest((await z.one('finish', 'rejected', 'superseded by a newer request', at, at, 'device', null, p.id))!));
      await this.host.audit(s, {
        ...audit,
        action: 'bootstrap.supersede',
        object: `bootstrap:${p.id}`,
        detail: `mac=${p.mac} replaced by a newer request from the ${options.supersede === 'attested' ? 'birth key holder' : 'same key'}`,
      });
    }
    if (req.path === 'open') {
      const mine = await this.pendingCount(s, { mac: req.mac, path: 'open' }, at);
      if (mine.count >= options.caps.perMac) {
        throw new CapacityError(`MAC ${req.mac} already has ${options.caps.perMac} pending requests; wait until one is claimed or expires`, 'pending', mine.oldestExpiresAt);
      }
    }
    const all = await this.pendingCount(s, {}, at);
    if (all.count >= options.caps.total) throw new CapacityError('the server holds as many pending bootstrap requests as it allows; try again later', 'pending', all.oldestExpiresAt);
    const request = toBootstrapRequest(
      (await z.one(
        'insertRequest',
        req.id,
        req.mac,
        req.path,
        req.csrPem,
        req.publicKeyDer,
        req.keyFingerprint,
        req.keyType,
        req.codeHash,
        req.birthSerial,
        req.model,
        req.firmwareVersion,
        req.sourceIp,
        req.createdAt,
        req.expiresAt,
        req.pollInterval,
      ))!,
    );
    await this.host.audit(s, { ...audit, object: `bootstrap:${request.id}` });
    return { request, superseded, recovered: false };
  }

  async request(s: Statements, id: string): Promise<BootstrapRequestRecord | undefined> {
    const r = await this.z(s).one('requestById', id);
    return r ? toBootstrapRequest(r) : undefined;
  }

  async find(s: Statements, mac: string, filter: { statuses: readonly BootstrapStatus[]; path?: BootstrapPath; keyFingerprint?: string }): Promise<BootstrapRequestRecord[]> {
    return (await this.z(s).all('requestsOfMac', mac))
      .map(toBootstrapRequest)
      .filter((r) => filter.statuses.includes(r.status) && (filter.path === undefined || r.path === filter.path) && (filter.keyFingerprint === undefined || r.keyFingerprint === filter.keyFingerprint));
  }

  async pendingCount(s: Statements, filter: { mac?: string; path?: BootstrapPath }, now: string): Promise<{ count: number; oldestExpiresAt: string | null }> {
    const r = (await this.z(s).one('pendingCount', now, filter.mac ?? null, filter.path ?? null))!;
    return { count: r.n as number, oldestExpiresAt: (r.oldest as string | null) ?? null };
  }

  async recordPoll(s: Statements, id: string, poll: { at: string; deviceTs: number; fetched: boolean }, audit: NewAuditEvent | null): Promise<BootstrapRequestRecord> {
    const z = this.z(s);
    const r = await z.one('recordPoll', poll.at, poll.deviceTs, id);
    if (!r) {
      if (!(await z.one('requestById', id))) throw new NotFoundError(`no bootstrap request ${id}`);
      throw new StateError('the poll timestamp is not later than the last accepted one (a replayed poll?)');
    }
    if (!poll.fetched || r.status !== 'approved') return toBootstrapRequest(r);
    const fetched = toBootstrapRequest((await z.one('markFetched', poll.at, id))!);
    if (audit) await this.host.audit(s, { ...audit, accountId: fetched.accountId, object: `bootstrap:${id}` });
    return fetched;
  }

  async approve(
    s: Statements,
    input: { id: string; write: ProvisionWrite; decidedBy: string; at: string; fetchBy: string; birthId?: number },
    audit: NewAuditEvent,
  ): Promise<{ request: BootstrapRequestRecord; gateway: ProvisionResult['gateway']; certificate: CertificateRecord; reused: boolean }> {
    const z = this.z(s);
    const current = await z.one('lockRequest', input.id);
    if (!current) throw new NotFoundError(`no bootstrap request ${input.id}`);
    if (current.status !== 'pending' || str(current.expires_at) <= input.at) {
      throw new StateError(`bootstrap request ${input.id} is ${current.status === 'pending' ? 'expired' : str(current.status)}, not pending: it cannot be claimed`);
    }
    if (input.birthId !== undefined && (await z.run('claimBirth', input.at, input.birthId)) !== 1) {
      throw new StateError(`the label of ${str(current.mac)} was already used to claim the device; a claim secret works once`);
    }
    const result = await this.host.provisionOne(s, input.write, input.at);
    const request = toBootstrapRequest((await z.one('approve', input.write.accountId, result.gateway.id, result.certificate.id, input.at, input.decidedBy, input.fetchBy, input.id))!);
    await this.host.audit(s, { ...audit, object: `gateway:${result.gateway.id}` });
    return { request, gateway: result.gateway, certificate: result.certificate, reused: result.reused };
  }

  async reject(s: Statements, id: string, input: { reason: string; at: string; decidedBy: string; accountId: number | null }, audit: NewAuditEvent): Promise<BootstrapRequestRecord> {
    const z = this.z(s);
    const current = await z.one('lockRequest', id);
    if (!current) throw new NotFoundError(`no bootstrap request ${id}`);
    if (current.status !== 'pending' || str(current.expires_at) <= input.at) throw new StateError(`bootstrap request ${id} is no longer pending`);
    const r = toBootstrapRequest((await z.one('finish', 'rejected', input.reason, input.at, input.at, input.decidedBy, input.accountId, id))!);
    await this.host.audit(s, { ...audit, object: `bootstrap:${id}` });
    return r;
  }

  /** Inside a transaction: every pending request of the MAC on `path` becomes rejected (audited each). */
  async rejectPending(s: Statements, mac: string, path: BootstrapPath, reason: string, at: string, audit: NewAuditEvent): Promise<BootstrapRequestRecord[]> {
    const z = this.z(s);
    const pending = (await z.all('lockPendingOfMac', mac, at)).map(toBootstrapRequest).filter((p) => p.path === path);
    const out: BootstrapRequestRecord[] = [];
    for (const p of pending) {
      out.push(toBootstrapRequest((await z.one('finish', 'rejected', reason, at, at, audit.actor, null, p.id))!));
      await this.host.audit(s, { ...audit, action: 'bootstrap.reject', object: `bootstrap:${p.id}`, detail: `mac=${mac} ${reason}` });
    }
    return out;
  }

  async sweep(s: Statements, now: string, options: { finishedBefore: string; failuresBefore: string; actor: string }): Promise<BootstrapSweepResult> {
    const z = this.z(s);
    const expired: BootstrapRequestRecord[] = [];
    const revoked: CertificateRecord[] = [];
    const event = (accountId: number | null, object: string, detail: string): NewAuditEvent => ({
      at: now,
      accountId,
      actor: options.actor,
      action: 'bootstrap.expire',
      object,
      sourceIp: null,
      result: 'ok',
      detail,
    });
    for (const r of (await z.all('expireStalePending', now)).map(toBootstrapRequest)) {
      expired.push(r);
      await this.host.audit(s, event(null, `bootstrap:${r.id}`, `mac=${r.mac} path=${r.path}: not claimed before ${r.expiresAt}`));
    }
    for (const r of (await z.all('expireStaleApproved', now)).map(toBootstrapRequest)) {
      expired.push(r);
      let detail = `mac=${r.mac}: approved, certificate never fetched before ${r.expiresAt}`;
      const found = r.certificateId === null ? undefined : await z.one('certById', r.certificateId);
      // The lock order of every write: the gateway, then its certificates.
      if (found && found.gateway_id !== null) await z.one('lockGatewayById', found.gateway_id);
      const cert = found ? await z.one('lockCertById', found.id) : undefined;
      if (cert && (cert.status === 'active' || cert.status === 'pending')) {
        await z.run('deletePendingKey', cert.id);
        const c = toCertificate((await z.one('revokeCertificate', now, 'cessationOfOperation', 'bootstrap certificate never fetched', cert.id))!);
        revoked.push(c);
        detail += `; certificate ${c.serialNumber} revoked`;
      }
      await this.host.audit(s, event(r.accountId, `bootstrap:${r.id}`, detail));
    }
    const deleted = (await z.run('deleteFinished', options.finishedBefore)) + (await z.run('deleteOldNonces', now)) + (await z.run('deleteOldFailures', options.failuresBefore));
    return { expired, revoked, deleted };
  }

  // ---------------------------------------------------------------------------- claim failures

  async recordFailure(s: Statements, subjects: readonly string[], at: string, audit: NewAuditEvent): Promise<void> {
    if (subjects.length > 0) await this.z(s).run('insertFailures', [...subjects], at);
    await this.host.audit(s, audit);
  }

  async recentFailures(s: Statements, subject: string, since: string, limit: number): Promise<string[]> {
    return (await this.z(s).all('recentFailures', subject, since, limit)).map((r) => str(r.at));
  }
}

function alreadyHasBirth(mac: string, live: Row): StateError {
  return new StateError(
    `MAC ${mac} already has a birth identity (serial ${str(live.serial_number)}, issued ${str(live.issued_at)}); send "replace": true to revoke it and issue a new one`,
  );
}
