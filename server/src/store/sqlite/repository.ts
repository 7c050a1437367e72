/**
 * The embedded store: the `Repository` contract on better-sqlite3 with WAL, foreign keys,
 * secure_delete (destroyed keys are zeroed on disk, not just unlinked from the b-tree) and versioned
 * migrations (`migrate.ts`). Every write method is one atomic unit of the group-commit engine
 * (`group-commit.ts`); rows become records in `../rows.ts`; fixed SQL is in `statements.ts`; the
 * MAC-ownership rule is `mac-ownership.ts`; the zero-touch onboarding tables are `zero-touch.ts`, the
 * fleet tables `fleet.ts`. Longer than most files because it is the whole contract, one short method
 * per operation (the zero-touch ones only open the write and delegate); everything else lives in the
 * files above.
 */
import { chmodSync, existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { Role } from '../../contract/api.js';
import { migrations as defaultMigrations } from '../migrations/index.js';
import {
  ImportRowError,
  NotFoundError,
  StateError,
  type AccountRecord,
  type AuditQuery,
  type AuditRecord,
  type BirthCertificateRecord,
  type BootstrapPath,
  type BootstrapRequestRecord,
  type BootstrapStatus,
  type BootstrapSweepResult,
  type CertificateRecord,
  type CertificateStatus,
  type CrlRecord,
  type CrlScope,
  type GatewayQuery,
  type GatewayRecord,
  type GatewayWithCertificate,
  type NewAuditEvent,
  type NewBirthCertificate,
  type NewBootstrapRequest,
  type NewCertificate,
  type PendingRenewalResult,
  type PresenceEventRecord,
  type ProvisionResult,
  type RenewalDeliveryRecord,
  type ScheduledRunRecord,
  type ProvisionWrite,
  type Repository,
  type RevokedEntry,
  type SealedKey,
  type TokenRecord,
} from '../repository.js';
import { FleetStatements } from './fleet.js';
import { GroupCommit } from './group-commit.js';
import { MacOwnership } from './mac-ownership.js';
import { migrate, type Migration } from './migrate.js';
import { bool, CERT_COLUMNS, likeEscape, str, toAccount, toCertificate, toGateway, toToken, withCertificate, type Row } from '../rows.js';
import { prepareStatements, type Statements } from './statements.js';
import { ZeroTouchTables } from './zero-touch.js';

const nowIso = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

export interface SqliteOptions {
  /** "normal": WAL + synchronous=NORMAL (survives process crashes); "full": also power loss. */
  durability?: 'normal' | 'full';
  migrations?: readonly Migration[];
  readonly?: boolean;
}

export class SqliteRepository implements Repository {
  readonly db: Database.Database;
  private readonly s: Statements;
  private readonly commits: GroupCommit;
  private readonly ownership: MacOwnership;
  private readonly fleet: FleetStatements;
  private readonly zt: ZeroTouchTables;

  constructor(file: string, options: SqliteOptions = {}) {
    const isNew = file !== ':memory:' && !existsSync(file);
    this.db = new Database(file, { readonly: options.readonly ?? false });
    // SQLite gives the -wal/-shm files the main file's mode, so this covers all three.
    if (isNew) chmodSync(file, 0o600);
    this.db.pragma('busy_timeout = 5000');
    if (!options.readonly) {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${options.durability === 'full' ? 'FULL' : 'NORMAL'}`);
    }
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('secure_delete = ON');
    if (!options.readonly) {
      migrate(this.db, options.migrations ?? defaultMigrations, { database: 'the database', program: 'tds-server', upgrade: 'upgrade tds-server' });
    }
    this.s = prepareStatements(this.db);
    this.commits = new GroupCommit(this.db);
    this.ownership = new MacOwnership(this.db);
    this.fleet = new FleetStatements(this.db);
    this.zt = new ZeroTouchTables(this.db, (e) => this.audit(e), (w, now) => this.provisionOne(w, now));
  }

  /** One write: its own savepoint inside the next group commit (see group-commit.ts). */
  private write<T>(fn: () => T): Promise<T> {
    return this.commits.run(fn);
  }

  private expireStale(mac: string, now: string): void {
    this.s.expireStaleActive.run(mac, now);
    this.s.expireStalePending.run(mac, now);
  }

  private audit(event: NewAuditEvent): void {
    this.s.insertAudit.run(event);
  }

  // ---------------------------------------------------------------------------- accounts/tokens

  async createAccount(name: string, audit: NewAuditEvent): Promise<AccountRecord> {
    return this.write(() => {
      const account = toAccount(this.s.insertAccount.get(name, nowIso()) as Row);
      this.audit({ ...audit, accountId: account.id, object: `account:${account.id}` });
      return account;
    });
  }

  async getAccount(id: number): Promise<AccountRecord | undefined> {
    const r = this.s.getAccount.get(id) as Row | undefined;
    return r ? toAccount(r) : undefined;
  }

  async listAccounts(): Promise<AccountRecord[]> {
    return (this.s.listAccounts.all() as Row[]).map(toAccount);
  }

  async renameAccount(id: number, name: string, audit: NewAuditEvent): Promise<AccountRecord> {
    return this.write(() => {
      const r = this.s.renameAccount.get(name, id) as Row | undefined;
      if (!r) throw new NotFoundError(`account ${id} does not exist`);
      this.audit({ ...audit, accountId: id, object: `account:${id}` });
      return toAccount(r);
    });
  }

  async createToken(
    input: { accountId: number; role: Role; label: string | null; tokenHash: string; serverAdmin?: boolean },
    audit: NewAuditEvent,
  ): Promise<TokenRecord> {
    return this.write(() => {
      if (!this.s.getAccount.get(input.accountId)) throw new NotFoundError(`account ${input.accountId} does not exist`);
      const token = toToken(this.s.insertToken.get(input.accountId, input.role, input.tokenHash, input.label, nowIso(), input.serverAdmin ? 1 : 0) as Row);
      this.audit({ ...audit, accountId: input.accountId, object: `token:${token.id}`, detail: `role=${input.role}${token.serverAdmin ? ' (server admin)' : ''}` });
      return token;
    });
  }

  async getToken(id: number): Promise<TokenRecord | undefined> {
    const r = this.s.getToken.get(id) as Row | undefined;
    return r ? toToken(r) : undefined;
  }

  async revokeToken(id: number, audit: NewAuditEvent): Promise<TokenRecord> {
    return this.write(() => {
      const existing = this.s.getToken.get(id) as Row | undefined;
      if (!existing) throw new NotFoundError(`token ${id} does not exist`);
      const r = this.s.revokeToken.get(nowIso(), id) as Row | undefined;
      if (!r) throw new StateError(`token ${id} is already revoked`);
      const token = toToken(r);
      this.audit({ ...audit, accountId: token.accountId, object: `token:${id}` });
      return token;
    });
  }

  async findTokenByHash(tokenHash: string): Promise<(TokenRecord & { accountActive: boolean }) | undefined> {
    const r = this.s.findToken.get(tokenHash) as Row | undefined;
    return r ? { ...toToken(r), accountActive: bool(r.account_active) } : undefined;
  }

  async listTokens(accountId: number | undefined): Promise<TokenRecord[]> {
    return ((accountId === undefined ? this.s.listAllTokens.all() : this.s.listTokens.all(accountId)) as Row[]).map(toToken);
  }

  // ---------------------------------------------------------------------------- gateways

  async listGateways(accountId: number, q: GatewayQuery): Promise<{ count: number; rows: GatewayWithCertificate[] }> {
    const where = ['g.account_id = @accountId'];
    const params: Record<string, unknown> = { accountId, limit: q.limit, offset: q.offset };
    if (q.mac !== undefined) {
      where.push('g.mac = @mac');
      params.mac = q.mac;
    }
    if (q.codigo !== undefined) {
      where.push('g.codigo = @codigo');
      params.codigo = q.codigo;
    }
    if (q.isOnline !== undefined) {
      where.push('g.is_online = @isOnline');
      params.isOnline = q.isOnline ? 1 : 0;
    }
    if (q.expiresBefore !== undefined) {
      where.push('c.expires_at < @expiresBefore');
      params.expiresBefore = q.expiresBefore;
    }
    if (q.search !== undefined && q.search !== '') {
      where.push(`(g.codigo LIKE @search ESCAPE '\\' OR g.nome LIKE @search ESCAPE '\\' OR g.mac LIKE @search ESCAPE '\\')`);
      params.search = likeEscape(q.search);
    }
    const clause = where.join(' AND ');
    const join = `LEFT JOIN certificates c ON c.gateway_id = g.id AND c.status = 'active'`;
    const count = (this.db.prepare(`SELECT count(*) AS n FROM gateways g ${join} WHERE ${clause}`).get(params) as { n: number }).n;
    const certCols = CERT_COLUMNS.map((c) => `c.${c} AS c_${c}`).join(', ');
    const rows = this.db
      .prepare(`SELECT g.*, ${certCols} FROM gateways g ${join} WHERE ${clause} ORDER BY g.id LIMIT @limit OFFSET @offset`)
      .all(params) as Row[];
    return { count, rows: rows.map(withCertificate) };
  }

  async getGateway(accountId: number, id: number): Promise<GatewayWithCertificate | undefined> {
    const r = this.s.getGateway.get(accountId, id) as Row | undefined;
    return r ? withCertificate(r) : undefined;
  }

  async listGatewayCertificates(gatewayId: number): Promise<CertificateRecord[]> {
    return (this.s.gatewayCertificates.all(gatewayId) as Row[]).map((r) => toCertificate(r));
  }

  // ---------------------------------------------------------------------------- issuance

  /** Inside a transaction: the MAC must be free (no active or pending certificate anywhere), then the gateway is created or reused. */
  private provisionOne(w: ProvisionWrite, now: string): ProvisionResult {
    this.ownership.claim(w.mac, { accountId: w.accountId }, now);
    const existing = this.s.getGatewayByMac.get(w.accountId, w.mac) as Row | undefined;
    const gateway = existing
      ? toGateway(this.s.updateGateway.get(w.codigo, w.nome, now, existing.id) as Row)
      : toGateway(this.s.insertGateway.get(w.accountId, w.codigo, w.mac, w.nome, now, now) as Row);
    const certificate = this.insertCertificate(w.certificate, { accountId: w.accountId, gatewayId: gateway.id, status: 'active', replacesId: null });
    if (w.pendingKey) this.s.insertPendingKey.run(certificate.id, w.pendingKey.sealed, now, w.pendingKey.expiresAt);
    return { gateway, certificate, reused: existing !== undefined };
  }

  private insertCertificate(
    c: NewCertificate,
    extra: { accountId: number | null; gatewayId: number | null; status: 'active' | 'pending'; replacesId: number | null },
  ): CertificateRecord {
    return toCertificate(MacOwnership.guard(c.subjectCn, () => this.s.insertCertificate.get({ ...c, ...extra }) as Row));
  }

  async provisionGateway(write: ProvisionWrite, audit: NewAuditEvent): Promise<ProvisionResult> {
    return this.write(() => {
      const result = this.provisionOne(write, write.at ?? nowIso());
      this.audit({ ...audit, object: `gateway:${result.gateway.id}` });
      return result;
    });
  }

  async importGateways(writes: readonly ProvisionWrite[], audit: NewAuditEvent): Promise<ProvisionResult[]> {
    return this.write(() => {
      const now = nowIso();
      const results = writes.map((w, index) => {
        try {
          return this.provisionOne(w, w.at ?? now);
        } catch (err) {
          throw new ImportRowError(index, err as Error);
        }
      });
      this.audit(audit);
      return results;
    });
  }

  async renewGatewayCertificate(
    input: { accountId: number; gatewayId: number; certificate: NewCertificate; pendingKey?: SealedKey; at: string },
    audit: NewAuditEvent,
  ): Promise<{ certificate: CertificateRecord; superseded: CertificateRecord | null; revoked: CertificateRecord[] }> {
    return this.write(() => {
      const gw = this.s.getGateway.get(input.accountId, input.gatewayId) as Row | undefined;
      if (!gw) throw new NotFoundError(`gateway ${input.gatewayId} not found`);
      const mac = str(gw.mac);
      this.expireStale(mac, input.at);
      this.ownership.claim(mac, { accountId: input.accountId, gatewayId: input.gatewayId }, input.at);
      let superseded: CertificateRecord | null = null;
      const revoked: CertificateRecord[] = [];
      // The active certificate and any unconfirmed successor: a plain renew replaces both.
      for (const live of this.s.liveOfGateway.all(input.gatewayId) as Row[]) {
        const r = toCertificate(this.s.revokeCertificate.get(input.at, 'superseded', 'renewed', live.id) as Row);
        this.s.deletePendingKey.run(live.id);
        revoked.push(r);
        if (live.status === 'active') superseded = r;
      }
      const certificate = this.insertCertificate(input.certificate, {
        accountId: input.accountId,
        gatewayId: input.gatewayId,
        status: 'active',
        replacesId: superseded?.id ?? null,
      });
      if (input.pendingKey) this.s.insertPendingKey.run(certificate.id, input.pendingKey.sealed, input.at, input.pendingKey.expiresAt);
      this.audit({ ...audit, object: `gateway:${input.gatewayId}` });
      return { certificate, superseded, revoked };
    });
  }

  async revokeGatewayCertificates(
    input: { accountId: number; gatewayId: number; reason: string; note: string | null; at: string },
    audit: NewAuditEvent,
  ): Promise<CertificateRecord[]> {
    return this.write(() => {
      const gw = this.s.getGateway.get(input.accountId, input.gatewayId) as Row | undefined;
      if (!gw) throw new NotFoundError(`gateway ${input.gatewayId} not found`);
      this.expireStale(str(gw.mac), input.at);
      const live = this.s.liveOfGateway.all(input.gatewayId) as Row[];
      if (live.length === 0) throw new StateError(`gateway ${input.gatewayId} has no active certificate to revoke`);
      const revoked = live.map((c) => {
        this.s.deletePendingKey.run(c.id);
        return toCertificate(this.s.revokeCertificate.get(input.at, input.reason, input.note, c.id) as Row);
      });
      this.audit({ ...audit, object: `gateway:${input.gatewayId}` });
      return revoked;
    });
  }

  async recordCertificate(certificate: NewCertificate, audit: NewAuditEvent): Promise<CertificateRecord> {
    if (certificate.kind === 'device') throw new Error('device certificates are recorded through provisionGateway');
    return this.write(() => {
      const record = this.insertCertificate(certificate, { accountId: null, gatewayId: null, status: 'active', replacesId: null });
      this.audit({ ...audit, object: `certificate:${record.serialNumber}` });
      return record;
    });
  }

  async revokeCertificateBySerial(
    serialNumber: string,
    reason: string,
    note: string | null,
    at: string,
    audit: NewAuditEvent,
    expect: { status?: CertificateStatus; gatewayId?: number } = {},
  ): Promise<CertificateRecord[]> {
    return this.write(() => {
      const c = this.s.certBySerial.get(serialNumber) as Row | undefined;
      if (!c || (expect.gatewayId !== undefined && c.gateway_id !== expect.gatewayId)) throw new NotFoundError(`no certificate with serial ${serialNumber}`);
      if (c.status === 'revoked') throw new StateError(`certificate ${serialNumber} is already revoked`);
      if (expect.status !== undefined && c.status !== expect.status) throw new StateError(`certificate ${serialNumber} is ${str(c.status)}, not ${expect.status}`);
      const revoked = [c, ...(c.status === 'active' ? (this.s.pendingSuccessors.all(c.id) as Row[]) : [])].map((r) => {
        this.s.deletePendingKey.run(r.id);
        return toCertificate(this.s.revokeCertificate.get(at, reason, note, r.id) as Row);
      });
      this.audit({ ...audit, accountId: revoked[0]!.accountId, object: `certificate:${serialNumber}` });
      for (const successor of revoked.slice(1)) {
        this.audit({ ...audit, accountId: successor.accountId, object: `certificate:${successor.serialNumber}`, detail: `pending successor of ${serialNumber}, revoked with it (reason=${reason})` });
      }
      return revoked;
    });
  }

  async getCertificateBySerial(serialNumber: string): Promise<CertificateRecord | undefined> {
    const r = this.s.certBySerial.get(serialNumber) as Row | undefined;
    return r ? toCertificate(r) : undefined;
  }

  async getMacHolder(mac: string, now: string): Promise<CertificateRecord | undefined> {
    for (const r of [this.s.activeByMac.get(mac), this.s.pendingByMac.get(mac)] as (Row | undefined)[]) {
      if (r && str(r.expires_at) > now) return toCertificate(r);
    }
    return undefined;
  }

  async listExpiringDeviceCertificates(before: string): Promise<CertificateRecord[]> {
    return (this.s.expiring.all(before) as Row[]).map((r) => toCertificate(r));
  }

  async addPendingRenewal(
    predecessorId: number,
    certificate: NewCertificate,
    audit: NewAuditEvent,
    options: { replacePending?: boolean; at?: string; deliver?: boolean } = {},
  ): Promise<PendingRenewalResult> {
    return this.write(() => {
      const at = options.at ?? nowIso();
      const prev = this.s.certById.get(predecessorId) as Row | undefined;
      if (!prev || prev.status !== 'active') throw new StateError(`certificate ${predecessorId} is not active`);
      // An expired predecessor may still be renewed (renew-expiring); an expired earlier successor is just dropped.
      this.s.expireStalePending.run(prev.subject_cn, at);
      this.ownership.claim(str(prev.subject_cn), { accountId: prev.account_id as number, gatewayId: prev.gateway_id as number }, at);
      let replaced: CertificateRecord | null = null;
      const earlier = this.s.pendingByMac.get(prev.subject_cn) as Row | undefined;
      if (earlier) {
        if (!options.replacePending) throw new StateError(`certificate ${str(earlier.serial_number)} is already waiting for confirmation`);
        this.s.deletePendingKey.run(earlier.id);
        replaced = toCertificate(this.s.revokeCertificate.get(at, 'superseded', 'replaced by a newer pending renewal', earlier.id) as Row);
      }
      const record = this.insertCertificate(certificate, {
        accountId: prev.account_id as number,
        gatewayId: prev.gateway_id as number,
        status: 'pending',
        replacesId: predecessorId,
      });
      if (replaced) {
        this.audit({
          ...audit,
          action: 'certificate.revoke',
          accountId: replaced.accountId,
          object: `certificate:${replaced.serialNumber}`,
          detail: `reason=superseded: unconfirmed, replaced by the pending renewal ${record.serialNumber}`,
        });
      }
      if (options.deliver) this.fleet.trackDelivery(predecessorId, str(prev.subject_cn), at);
      this.audit({ ...audit, accountId: record.accountId, object: `certificate:${record.serialNumber}` });
      return { certificate: record, replaced };
    });
  }

  async activatePendingCertificate(
    serialNumber: string,
    at: string,
    audit: NewAuditEvent,
  ): Promise<{ activated: CertificateRecord; superseded: CertificateRecord | null }> {
    return this.write(() => {
      const found = this.s.certBySerial.get(serialNumber) as Row | undefined;
      // An expired predecessor is not superseded (nothing to revoke); an expired successor cannot be activated.
      if (found) this.expireStale(str(found.subject_cn), at);
      const pending = found ? (this.s.certById.get(found.id) as Row) : undefined;
      if (!pending || pending.status !== 'pending') throw new StateError(`certificate ${serialNumber} is not pending`);
      const predecessor = pending.replaces_id === null ? undefined : (this.s.certById.get(pending.replaces_id) as Row | undefined);
      // Defence in depth: revoking a predecessor revokes its pending successor too.
      if (predecessor?.status === 'revoked') throw new StateError(`certificate ${serialNumber} cannot be activated: the certificate it renews was revoked`);
      this.ownership.claim(str(pending.subject_cn), { accountId: pending.account_id as number, gatewayId: pending.gateway_id as number }, at);
      const active = this.s.activeByMac.get(pending.subject_cn) as Row | undefined;
      let superseded: CertificateRecord | null = null;
      if (active) {
        superseded = toCertificate(this.s.revokeCertificate.get(at, 'superseded', 'successor confirmed', active.id) as Row);
        this.s.deletePendingKey.run(active.id);
      }
      const activated = toCertificate(MacOwnership.guard(str(pending.subject_cn), () => this.s.activateCertificate.get(pending.id) as Row));
      this.audit({ ...audit, accountId: activated.accountId, object: `certificate:${serialNumber}` });
      return { activated, superseded };
    });
  }

  // ---------------------------------------------------------------------------- CRL

  async listRevoked(scope: CrlScope = 'device'): Promise<RevokedEntry[]> {
    const rows = scope === 'birth' ? this.zt.listRevokedBirth() : (this.s.listRevoked.all() as Row[]);
    return rows.map((r) => ({
      serialNumber: str(r.serial_number),
      revokedAt: str(r.revoked_at),
      reason: str(r.revoke_reason),
    }));
  }

  async reserveCrlNumber(scope: CrlScope = 'device'): Promise<number> {
    return this.write(() => (scope === 'birth' ? this.zt.reserveBirthCrl() : (this.s.reserveCrl.get() as { last_number: number }).last_number));
  }

  async saveCrl(crl: CrlRecord, audit: NewAuditEvent, scope: CrlScope = 'device'): Promise<boolean> {
    return this.write(() => {
      const stored =
        scope === 'birth' ? this.zt.saveBirthCrl(crl) : this.s.saveCrl.run(crl.crlNumber, crl.thisUpdate, crl.nextUpdate, crl.pem, crl.crlNumber).changes === 1;
      if (stored) this.audit({ ...audit, object: `${scope === 'birth' ? 'birth_crl' : 'crl'}:${crl.crlNumber}` });
      return stored;
    });
  }

  async getLatestCrl(scope: CrlScope = 'device'): Promise<CrlRecord | undefined> {
    const r = scope === 'birth' ? this.zt.birthCrl() : (this.s.getCrl.get() as Row | undefined);
    if (!r || r.crl_number === null) return undefined;
    return { crlNumber: r.crl_number as number, thisUpdate: str(r.this_update), nextUpdate: str(r.next_update), pem: str(r.crl_pem) };
  }

  // ---------------------------------------------------------------------------- zero-touch (zero-touch.ts)

  async recordBirthCertificate(
    certificate: NewBirthCertificate,
    options: { replace: boolean; at: string },
    audit: NewAuditEvent,
  ): Promise<{ certificate: BirthCertificateRecord; replaced: BirthCertificateRecord | null }> {
    return this.write(() => this.zt.recordBirth(certificate, options, audit));
  }

  async getBirthCertificate(mac: string): Promise<BirthCertificateRecord | undefined> {
    return this.zt.liveBirth(mac);
  }

  async getBirthCertificateBySerial(serialNumber: string): Promise<BirthCertificateRecord | undefined> {
    return this.zt.birthBySerial(serialNumber);
  }

  async revokeBirthCertificate(
    input: { mac: string; accountId: number; reason: string; note: string | null; at: string },
    audit: NewAuditEvent,
  ): Promise<BirthCertificateRecord> {
    return this.write(() => this.zt.revokeBirth(input, audit));
  }

  async createBootstrapNonce(
    nonce: { nonce: string; mac: string; at: string; expiresAt: string; sourceIp: string | null },
    caps: { perMac: number; total: number },
  ): Promise<void> {
    return this.write(() => this.zt.createNonce(nonce, caps));
  }

  async findBootstrapNonce(nonce: string): Promise<{ mac: string; expiresAt: string; usedAt: string | null } | undefined> {
    return this.zt.findNonce(nonce);
  }

  async createBootstrapRequest(
    request: NewBootstrapRequest,
    options: { nonce?: string; supersede: 'attested' | 'same-key'; caps: { perMac: number; total: number } },
    audit: NewAuditEvent,
  ): Promise<{ request: BootstrapRequestRecord; superseded: BootstrapRequestRecord[]; recovered: boolean }> {
    return this.write(() => this.zt.createRequest(request, options, audit));
  }

  async getBootstrapRequest(id: string): Promise<BootstrapRequestRecord | undefined> {
    return this.zt.request(id);
  }

  async findBootstrapRequests(
    mac: string,
    filter: { statuses: readonly BootstrapStatus[]; path?: BootstrapPath; keyFingerprint?: string },
  ): Promise<BootstrapRequestRecord[]> {
    return this.zt.find(mac, filter);
  }

  async countPendingBootstrap(filter: { mac?: string; path?: BootstrapPath }, now: string): Promise<{ count: number; oldestExpiresAt: string | null }> {
    return this.zt.pendingCount(filter, now);
  }

  async recordBootstrapPoll(id: string, poll: { at: string; deviceTs: number; fetched: boolean }, audit: NewAuditEvent | null): Promise<BootstrapRequestRecord> {
    return this.write(() => this.zt.recordPoll(id, poll, audit));
  }

  async approveBootstrapRequest(
    input: { id: string; write: ProvisionWrite; decidedBy: string; at: string; fetchBy: string; birthId?: number },
    audit: NewAuditEvent,
  ): Promise<{ request: BootstrapRequestRecord; gateway: GatewayRecord; certificate: CertificateRecord; reused: boolean }> {
    return this.write(() => this.zt.approve(input, audit));
  }

  async rejectBootstrapRequest(
    id: string,
    input: { reason: string; at: string; decidedBy: string; accountId: number | null },
    audit: NewAuditEvent,
  ): Promise<BootstrapRequestRecord> {
    return this.write(() => this.zt.reject(id, input, audit));
  }

  async rejectPendingBootstrapOfMac(mac: string, path: BootstrapPath, reason: string, at: string, audit: NewAuditEvent): Promise<BootstrapRequestRecord[]> {
    return this.write(() => this.zt.rejectPending(mac, path, reason, at, audit));
  }

  async sweepBootstrap(now: string, options: { finishedBefore: string; failuresBefore: string; actor: string }): Promise<BootstrapSweepResult> {
    return this.write(() => this.zt.sweep(now, options));
  }

  async recordClaimFailure(subjects: readonly string[], at: string, audit: NewAuditEvent): Promise<void> {
    return this.write(() => this.zt.recordFailure(subjects, at, audit));
  }

  async recentClaimFailures(subject: string, since: string, limit: number): Promise<string[]> {
    return this.zt.recentFailures(subject, since, limit);
  }

  // ---------------------------------------------------------------------------- pending keys

  async takePendingKey(certificateId: number, now: string, audit: NewAuditEvent): Promise<Buffer | undefined> {
    return this.write(() => {
      const r = this.s.getPendingKey.get(certificateId) as { sealed: Buffer; expires_at: string } | undefined;
      if (!r) return undefined;
      this.s.deletePendingKey.run(certificateId);
      if (r.expires_at <= now) {
        this.audit({ ...audit, action: 'device_key.destroyed', detail: 'server-made key not downloaded in time' });
        return undefined;
      }
      this.audit(audit);
      return r.sealed;
    });
  }

  async hasPendingKey(certificateId: number, now: string): Promise<boolean> {
    const r = this.s.getPendingKey.get(certificateId) as { expires_at: string } | undefined;
    return r !== undefined && r.expires_at > now;
  }

  async purgeExpiredPendingKeys(now: string): Promise<number> {
    return this.write(() => {
      this.s.auditExpiredKeys.run(now, now);
      return this.s.deleteExpiredKeys.run(now).changes;
    });
  }

  // ---------------------------------------------------------------------------- audit

  async appendAudit(event: NewAuditEvent): Promise<void> {
    return this.write(() => this.audit(event));
  }

  async listAudit(accountId: number | undefined, q: AuditQuery): Promise<{ count: number; rows: AuditRecord[] }> {
    return this.fleet.audit(accountId, q);
  }

  // ---------------------------------------------------------------------------- fleet (fleet.ts)

  async listRenewalDeliveries(filter: { mac?: string; onlineOnly?: boolean; gatewayId?: number; now: string }): Promise<RenewalDeliveryRecord[]> {
    return this.fleet.listDeliveries(filter);
  }

  async claimRenewalDeliveryAttempt(predecessorId: number, at: string, notBefore: string, commandId: string): Promise<RenewalDeliveryRecord | undefined> {
    return this.write(() => this.fleet.claimDelivery(predecessorId, at, notBefore, commandId));
  }

  async pruneRenewalDeliveries(now: string): Promise<number> {
    return this.write(() => this.fleet.pruneDeliveries(now));
  }

  async listPresenceEvents(gatewayId: number, from: string, to: string, limit: number): Promise<{ before: PresenceEventRecord | null; events: PresenceEventRecord[] }> {
    return this.fleet.presence(gatewayId, from, to, limit);
  }

  async purgePresenceEvents(before: string): Promise<number> {
    return this.write(() => this.fleet.purgePresence(before));
  }

  async recordScheduledRun(run: ScheduledRunRecord, audit: NewAuditEvent): Promise<void> {
    return this.write(() => {
      this.fleet.recordRun(run);
      this.audit(audit);
    });
  }

  async listScheduledRuns(): Promise<ScheduledRunRecord[]> {
    return this.fleet.listRuns();
  }

  async close(): Promise<void> {
    this.commits.drain();
    if (this.db.open) this.db.close();
  }
}
