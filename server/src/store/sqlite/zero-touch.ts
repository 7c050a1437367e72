/**
 * The zero-touch onboarding tables of the SQLite store (migration 4): birth certificates and their
 * CRL state, nonces, bootstrap requests, claim failures. Every method is synchronous and runs inside
 * one of the repository's writes (its own savepoint of a group commit) or as a plain read; the
 * repository (`repository.ts`) exposes them as the `Repository` methods of the same names.
 */
import type Database from 'better-sqlite3';
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
import { str, strOrNull, toBirth, toBootstrapRequest, toCertificate, type Row } from '../rows.js';

const SQL = {
  insertBirth: `INSERT INTO birth_certificates (mac, serial_number, certificate_pem, key_type, model, account_id, status, claim_secret_hash, issued_at, expires_at)
     VALUES (@mac, @serialNumber, @certificatePem, @keyType, @model, @accountId, 'active', @claimSecretHash, @issuedAt, @expiresAt) RETURNING *`,
  liveBirthOfMac: `SELECT * FROM birth_certificates WHERE mac = ? AND status = 'active'`,
  birthBySerial: 'SELECT * FROM birth_certificates WHERE serial_number = ?',
  revokeBirth: `UPDATE birth_certificates SET status = 'revoked', revoked_at = ?, revoke_reason = ?, revoke_note = ? WHERE id = ? RETURNING *`,
  claimBirth: `UPDATE birth_certificates SET claimed_at = ? WHERE id = ? AND status = 'active' AND claimed_at IS NULL`,
  listRevokedBirth: `SELECT serial_number, revoked_at, revoke_reason FROM birth_certificates WHERE status = 'revoked' ORDER BY revoked_at, id`,
  reserveBirthCrl: 'UPDATE birth_crl_state SET last_number = last_number + 1 WHERE id = 1 RETURNING last_number',
  saveBirthCrl: `UPDATE birth_crl_state SET crl_number = ?, this_update = ?, next_update = ?, crl_pem = ?
     WHERE id = 1 AND (crl_number IS NULL OR crl_number < ?)`,
  getBirthCrl: 'SELECT crl_number, this_update, next_update, crl_pem FROM birth_crl_state WHERE id = 1',

  insertNonce: 'INSERT INTO bootstrap_nonces (nonce, mac, created_at, expires_at, source_ip) VALUES (?, ?, ?, ?, ?)',
  liveNoncesOfMac: 'SELECT count(*) AS n FROM bootstrap_nonces WHERE mac = ? AND used_at IS NULL AND expires_at > ?',
  liveNonces: 'SELECT count(*) AS n FROM bootstrap_nonces WHERE used_at IS NULL AND expires_at > ?',
  findNonce: 'SELECT mac, expires_at, used_at FROM bootstrap_nonces WHERE nonce = ?',
  useNonce: 'UPDATE bootstrap_nonces SET used_at = ? WHERE nonce = ? AND mac = ? AND used_at IS NULL AND expires_at > ?',
  deleteOldNonces: 'DELETE FROM bootstrap_nonces WHERE expires_at <= ?',

  insertRequest: `INSERT INTO bootstrap_requests (id, mac, path, status, csr_pem, public_key_der, key_fingerprint, key_type, code_hash, birth_serial,
       model, firmware_version, source_ip, created_at, expires_at, poll_interval)
     VALUES (@id, @mac, @path, 'pending', @csrPem, @publicKeyDer, @keyFingerprint, @keyType, @codeHash, @birthSerial,
       @model, @firmwareVersion, @sourceIp, @createdAt, @expiresAt, @pollInterval) RETURNING *`,
  requestById: 'SELECT * FROM bootstrap_requests WHERE id = ?',
  requestsOfMac: 'SELECT * FROM bootstrap_requests WHERE mac = ? ORDER BY created_at DESC, rowid DESC LIMIT 200',
  expireStalePendingOfMac: `UPDATE bootstrap_requests SET status = 'expired', finished_at = ?, status_reason = 'not claimed in time'
     WHERE mac = ? AND status = 'pending' AND expires_at <= ?`,
  pendingOfMac: `SELECT * FROM bootstrap_requests WHERE mac = ? AND status = 'pending' AND expires_at > ? ORDER BY created_at DESC, rowid DESC`,
  // (mac, path) filters are optional: NULL matches every value.
  pendingCount: `SELECT count(*) AS n, min(expires_at) AS oldest FROM bootstrap_requests
     WHERE status = 'pending' AND expires_at > @now AND (@mac IS NULL OR mac = @mac) AND (@path IS NULL OR path = @path)`,
  finish: `UPDATE bootstrap_requests SET status = ?, status_reason = ?, finished_at = ?, decided_at = coalesce(?, decided_at), decided_by = coalesce(?, decided_by),
       account_id = coalesce(?, account_id) WHERE id = ? RETURNING *`,
  recordPoll: `UPDATE bootstrap_requests SET last_poll_at = ?, last_poll_ts = ? WHERE id = ? AND (last_poll_ts IS NULL OR last_poll_ts < ?) RETURNING *`,
  markFetched: `UPDATE bootstrap_requests SET status = 'issued', fetched_at = ?, finished_at = ? WHERE id = ? AND status = 'approved' RETURNING *`,
  approve: `UPDATE bootstrap_requests SET status = 'approved', account_id = ?, gateway_id = ?, certificate_id = ?, decided_at = ?, decided_by = ?, expires_at = ?
     WHERE id = ? AND status = 'pending' RETURNING *`,
  stalePending: `SELECT * FROM bootstrap_requests WHERE status = 'pending' AND expires_at <= ?`,
  staleApproved: `SELECT * FROM bootstrap_requests WHERE status = 'approved' AND expires_at <= ?`,
  deleteFinished: 'DELETE FROM bootstrap_requests WHERE finished_at IS NOT NULL AND finished_at < ?',

  certById: 'SELECT * FROM certificates WHERE id = ?',
  revokeCertificate: `UPDATE certificates SET status = 'revoked', revoked_at = ?, revoke_reason = ?, revoke_note = ? WHERE id = ? RETURNING *`,
  deletePendingKey: 'DELETE FROM pending_keys WHERE certificate_id = ?',

  insertFailure: 'INSERT INTO claim_failures (subject, at) VALUES (?, ?)',
  recentFailures: 'SELECT at FROM claim_failures WHERE subject = ? AND at >= ? ORDER BY at DESC, id DESC LIMIT ?',
  deleteOldFailures: 'DELETE FROM claim_failures WHERE at < ?',
} as const;

type Statements = Record<keyof typeof SQL, Database.Statement>;

export class ZeroTouchTables {
  private readonly s: Statements;

  constructor(
    db: Database.Database,
    /** Appends an audit event inside the current write. */
    private readonly audit: (event: NewAuditEvent) => void,
    /** The repository's provisioning inside the current write (MAC-ownership rule, gateway, certificate). */
    private readonly provisionOne: (write: ProvisionWrite, now: string) => ProvisionResult,
  ) {
    this.s = Object.fromEntries(Object.entries(SQL).map(([name, sql]) => [name, db.prepare(sql)])) as Statements;
  }

  // ---------------------------------------------------------------------------- birth certificates

  recordBirth(c: NewBirthCertificate, options: { replace: boolean; at: string }, audit: NewAuditEvent): { certificate: BirthCertificateRecord; replaced: BirthCertificateRecord | null } {
    const live = this.s.liveBirthOfMac.get(c.mac) as Row | undefined;
    let replaced: BirthCertificateRecord | null = null;
    if (live) {
      if (!options.replace) {
        throw new StateError(
          `MAC ${c.mac} already has a birth identity (serial ${str(live.serial_number)}, issued ${str(live.issued_at)}); send "replace": true to revoke it and issue a new one`,
        );
      }
      replaced = toBirth(this.s.revokeBirth.get(options.at, 'superseded', 'replaced at the bench', live.id) as Row);
      this.rejectPending(c.mac, 'attested', 'birth identity replaced', options.at, { ...audit, action: 'birth_identity.revoke' });
      this.audit({ ...audit, action: 'birth_identity.revoke', object: `birth:${replaced.serialNumber}`, detail: `mac=${c.mac} reason=superseded: replaced by a new birth identity` });
    }
    const certificate = toBirth(this.s.insertBirth.get(c) as Row);
    this.audit({ ...audit, object: `birth:${certificate.serialNumber}` });
    return { certificate, replaced };
  }

  liveBirth(mac: string): BirthCertificateRecord | undefined {
    const r = this.s.liveBirthOfMac.get(mac) as Row | undefined;
    return r ? toBirth(r) : undefined;
  }

  birthBySerial(serial: string): BirthCertificateRecord | undefined {
    const r = this.s.birthBySerial.get(serial) as Row | undefined;
    return r ? toBirth(r) : undefined;
  }

  revokeBirth(input: { mac: string; accountId: number; reason: string; note: string | null; at: string }, audit: NewAuditEvent): BirthCertificateRecord {
    const live = this.s.liveBirthOfMac.get(input.mac) as Row | undefined;
    if (!live || live.account_id !== input.accountId) throw new NotFoundError(`no birth identity of this account for MAC ${input.mac}`);
    const revoked = toBirth(this.s.revokeBirth.get(input.at, input.reason, input.note, live.id) as Row);
    this.rejectPending(input.mac, 'attested', 'birth identity revoked', input.at, audit);
    this.audit({ ...audit, object: `birth:${revoked.serialNumber}` });
    return revoked;
  }

  // ---------------------------------------------------------------------------- birth CRL

  listRevokedBirth(): Row[] {
    return this.s.listRevokedBirth.all() as Row[];
  }

  reserveBirthCrl(): number {
    return (this.s.reserveBirthCrl.get() as { last_number: number }).last_number;
  }

  saveBirthCrl(crl: { crlNumber: number; thisUpdate: string; nextUpdate: string; pem: string }): boolean {
    return this.s.saveBirthCrl.run(crl.crlNumber, crl.thisUpdate, crl.nextUpdate, crl.pem, crl.crlNumber).changes === 1;
  }

  birthCrl(): Row | undefined {
    return this.s.getBirthCrl.get() as Row | undefined;
  }

  // ---------------------------------------------------------------------------- nonces

  createNonce(n: { nonce: string; mac: string; at: string; expiresAt: string; sourceIp: string | null }, caps: { perMac: number; total: number }): void {
    if ((this.s.liveNoncesOfMac.get(n.mac, n.at) as { n: number }).n >= caps.perMac) {
      throw new CapacityError(`MAC ${n.mac} already has ${caps.perMac} unused nonces; use one of them or wait until they expire`, 'nonces', n.expiresAt);
    }
    if ((this.s.liveNonces.get(n.at) as { n: number }).n >= caps.total) {
      throw new CapacityError('the server holds as many unused nonces as it allows; try again later', 'nonces', n.expiresAt);
    }
    this.s.insertNonce.run(n.nonce, n.mac, n.at, n.expiresAt, n.sourceIp);
  }

  findNonce(nonce: string): { mac: string; expiresAt: string; usedAt: string | null } | undefined {
    const r = this.s.findNonce.get(nonce) as Row | undefined;
    return r ? { mac: str(r.mac), expiresAt: str(r.expires_at), usedAt: strOrNull(r.used_at) } : undefined;
  }

  // ---------------------------------------------------------------------------- requests

  createRequest(
    req: NewBootstrapRequest,
    options: { nonce?: string; supersede: 'attested' | 'same-key'; caps: { perMac: number; total: number } },
    audit: NewAuditEvent,
  ): { request: BootstrapRequestRecord; superseded: BootstrapRequestRecord[]; recovered: boolean } {
    const at = req.createdAt;
    this.s.expireStalePendingOfMac.run(at, req.mac, at);
    if (options.nonce !== undefined && this.s.useNonce.run(at, options.nonce, req.mac, at).changes !== 1) {
      throw new NonceError('the nonce is unknown, was already used, has expired or is for another MAC; ask for a new one (bootstrap/nonce/)');
    }
    const known = this.find(req.mac, { statuses: ['approved', 'issued'], keyFingerprint: req.keyFingerprint }).find((r) => r.status === 'issued' || r.expiresAt > at);
    if (known) {
      this.audit({ ...audit, object: `bootstrap:${known.id}`, detail: `${audit.detail ?? ''}; the same key's ${known.status} request returned`.replace(/^; /, '') });
      return { request: known, superseded: [], recovered: true };
    }
    const pending = (this.s.pendingOfMac.all(req.mac, at) as Row[]).map(toBootstrapRequest);
    const replaced = pending.filter((p) => (options.supersede === 'attested' ? p.path === 'attested' : p.path === req.path && p.keyFingerprint === req.keyFingerprint));
    const superseded = replaced.map((p) => {
      const r = toBootstrapRequest(this.s.finish.get('rejected', 'superseded by a newer request', at, at, 'device', null, p.id) as Row);
      this.audit({ ...audit, action: 'bootstrap.supersede', object: `bootstrap:${p.id}`, detail: `mac=${p.mac} replaced by a newer request from the ${options.supersede === 'attested' ? 'birth key holder' : 'same key'}` });
      return r;
    });
    if (req.path === 'open') {
      const mine = this.pendingCount({ mac: req.mac, path: 'open' }, at);
      if (mine.count >= options.caps.perMac) {
        throw new CapacityError(`MAC ${req.mac} already has ${options.caps.perMac} pending requests; wait until one is claimed or expires`, 'pending', mine.oldestExpiresAt);
      }
    }
    const all = this.pendingCount({}, at);
    if (all.count >= options.caps.total) throw new CapacityError('the server holds as many pending bootstrap requests as it allows; try again later', 'pending', all.oldestExpiresAt);
    const request = toBootstrapRequest(this.s.insertRequest.get(req) as Row);
    this.audit({ ...audit, object: `bootstrap:${request.id}` });
    return { request, superseded, recovered: false };
  }

  request(id: string): BootstrapRequestRecord | undefined {
    const r = this.s.requestById.get(id) as Row | undefined;
    return r ? toBootstrapRequest(r) : undefined;
  }

  find(mac: string, filter: { statuses: readonly BootstrapStatus[]; path?: BootstrapPath; keyFingerprint?: string }): BootstrapRequestRecord[] {
    return (this.s.requestsOfMac.all(mac) as Row[])
      .map(toBootstrapRequest)
      .filter((r) => filter.statuses.includes(r.status) && (filter.path === undefined || r.path === filter.path) && (filter.keyFingerprint === undefined || r.keyFingerprint === filter.keyFingerprint));
  }

  pendingCount(filter: { mac?: string; path?: BootstrapPath }, now: string): { count: number; oldestExpiresAt: string | null } {
    const r = this.s.pendingCount.get({ now, mac: filter.mac ?? null, path: filter.path ?? null }) as { n: number; oldest: string | null };
    return { count: r.n, oldestExpiresAt: r.oldest };
  }

  recordPoll(id: string, poll: { at: string; deviceTs: number; fetched: boolean }, audit: NewAuditEvent | null): BootstrapRequestRecord {
    const r = this.s.recordPoll.get(poll.at, poll.deviceTs, id, poll.deviceTs) as Row | undefined;
    if (!r) {
      if (!this.s.requestById.get(id)) throw new NotFoundError(`no bootstrap request ${id}`);
      throw new StateError('the poll timestamp is not later than the last accepted one (a replayed poll?)');
    }
    if (!poll.fetched || r.status !== 'approved') return toBootstrapRequest(r);
    const fetched = toBootstrapRequest(this.s.markFetched.get(poll.at, poll.at, id) as Row);
    if (audit) this.audit({ ...audit, accountId: fetched.accountId, object: `bootstrap:${id}` });
    return fetched;
  }

  approve(
    input: { id: string; write: ProvisionWrite; decidedBy: string; at: string; fetchBy: string; birthId?: number },
    audit: NewAuditEvent,
  ): { request: BootstrapRequestRecord; gateway: ProvisionResult['gateway']; certificate: CertificateRecord; reused: boolean } {
    const current = this.s.requestById.get(input.id) as Row | undefined;
    if (!current) throw new NotFoundError(`no bootstrap request ${input.id}`);
    if (current.status !== 'pending' || str(current.expires_at) <= input.at) {
      throw new StateError(`bootstrap request ${input.id} is ${current.status === 'pending' ? 'expired' : str(current.status)}, not pending: it cannot be claimed`);
    }
    if (input.birthId !== undefined && this.s.claimBirth.run(input.at, input.birthId).changes !== 1) {
      throw new StateError(`the label of ${str(current.mac)} was already used to claim the device; a claim secret works once`);
    }
    const result = this.provisionOne(input.write, input.at);
    const request = toBootstrapRequest(
      this.s.approve.get(input.write.accountId, result.gateway.id, result.certificate.id, input.at, input.decidedBy, input.fetchBy, input.id) as Row,
    );
    this.audit({ ...audit, object: `gateway:${result.gateway.id}` });
    return { request, gateway: result.gateway, certificate: result.certificate, reused: result.reused };
  }

  reject(id: string, input: { reason: string; at: string; decidedBy: string; accountId: number | null }, audit: NewAuditEvent): BootstrapRequestRecord {
    const current = this.s.requestById.get(id) as Row | undefined;
    if (!current) throw new NotFoundError(`no bootstrap request ${id}`);
    if (current.status !== 'pending' || str(current.expires_at) <= input.at) throw new StateError(`bootstrap request ${id} is no longer pending`);
    const r = toBootstrapRequest(this.s.finish.get('rejected', input.reason, input.at, input.at, input.decidedBy, input.accountId, id) as Row);
    this.audit({ ...audit, object: `bootstrap:${id}` });
    return r;
  }

  /** Inside a write: every pending request of the MAC on `path` becomes rejected (audited each). */
  rejectPending(mac: string, path: BootstrapPath, reason: string, at: string, audit: NewAuditEvent): BootstrapRequestRecord[] {
    const pending = (this.s.pendingOfMac.all(mac, at) as Row[]).map(toBootstrapRequest).filter((p) => p.path === path);
    return pending.map((p) => {
      const r = toBootstrapRequest(this.s.finish.get('rejected', reason, at, at, audit.actor, null, p.id) as Row);
      this.audit({ ...audit, action: 'bootstrap.reject', object: `bootstrap:${p.id}`, detail: `mac=${mac} ${reason}` });
      return r;
    });
  }

  sweep(now: string, options: { finishedBefore: string; failuresBefore: string; actor: string }): BootstrapSweepResult {
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
    for (const r of (this.s.stalePending.all(now) as Row[]).map(toBootstrapRequest)) {
      expired.push(toBootstrapRequest(this.s.finish.get('expired', 'not claimed in time', now, null, null, null, r.id) as Row));
      this.audit(event(null, `bootstrap:${r.id}`, `mac=${r.mac} path=${r.path}: not claimed before ${r.expiresAt}`));
    }
    for (const r of (this.s.staleApproved.all(now) as Row[]).map(toBootstrapRequest)) {
      expired.push(toBootstrapRequest(this.s.finish.get('expired', 'certificate never fetched', now, null, null, null, r.id) as Row));
      const cert = r.certificateId === null ? undefined : (this.s.certById.get(r.certificateId) as Row | undefined);
      let detail = `mac=${r.mac}: approved, certificate never fetched before ${r.expiresAt}`;
      if (cert && (cert.status === 'active' || cert.status === 'pending')) {
        this.s.deletePendingKey.run(cert.id);
        const c = toCertificate(this.s.revokeCertificate.get(now, 'cessationOfOperation', 'bootstrap certificate never fetched', cert.id) as Row);
        revoked.push(c);
        detail += `; certificate ${c.serialNumber} revoked`;
      }
      this.audit(event(r.accountId, `bootstrap:${r.id}`, detail));
    }
    const deleted =
      this.s.deleteFinished.run(options.finishedBefore).changes + this.s.deleteOldNonces.run(now).changes + this.s.deleteOldFailures.run(options.failuresBefore).changes;
    return { expired, revoked, deleted };
  }

  // ---------------------------------------------------------------------------- claim failures

  recordFailure(subjects: readonly string[], at: string, audit: NewAuditEvent): void {
    for (const subject of subjects) this.s.insertFailure.run(subject, at);
    this.audit(audit);
  }

  recentFailures(subject: string, since: string, limit: number): string[] {
    return (this.s.recentFailures.all(subject, since, limit) as { at: string }[]).map((r) => r.at);
  }
}
