/**
 * The `Repository` contract on PostgreSQL (node-postgres), for several server instances sharing one
 * database. Every write method is one transaction (`pool.ts`), with the rows it decides on locked
 * (gateway first, then its certificates), so concurrent instances serialise per gateway. The rules
 * hold in the database whatever the instances do: the MAC-ownership exclusion constraint and the
 * partial unique indexes (a violation becomes the same MacConflictError the check gives), unique
 * serials, the audit rows written in the same transaction as the change. A stored CRL is announced
 * to the other instances (NOTIFY, delivered at commit). The zero-touch onboarding tables are
 * `zero-touch.ts`, the fleet tables `fleet.ts`. Longer than most files because it is the whole
 * contract, one short method per operation (those of the two files above only open the transaction
 * and delegate), like the SQLite store.
 */
import type pg from 'pg';
import type { Role } from '../../contract/api.js';
import { MAC_OWNER_CONSTRAINT } from '../migrations/003-mac-ownership.js';
import {
  ImportRowError,
  MacConflictError,
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
  type ProvisionWrite,
  type RenewalDeliveryRecord,
  type Repository,
  type RevokedEntry,
  type ScheduledRunRecord,
  type SealedKey,
  type TokenRecord,
} from '../repository.js';
import { bool, CERT_COLUMNS, likeEscape, str, toAccount, toCertificate, toGateway, toToken, withCertificate, type Row } from '../rows.js';
import * as fleet from './fleet.js';
import { inTransaction, retrying } from './pool.js';
import { statements, type Statements } from './statements.js';
import { PgZeroTouch } from './zero-touch.js';

const nowIso = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

/** NOTIFY channel of a newly stored CRL (payload `{"crlNumber": n, "scope": "device" | "birth"}`; cluster.ts listens). */
export const CRL_CHANNEL = 'tds_crl';

export class PgRepository implements Repository {
  private readonly reads: Statements;
  private readonly zt: PgZeroTouch;

  constructor(readonly pool: pg.Pool) {
    this.reads = statements(pool);
    this.zt = new PgZeroTouch({ audit: (s, e) => this.audit(s, e), provisionOne: (s, w, now) => this.provisionOne(s, w, now) });
  }

  /** One write: one transaction on one connection. */
  private write<T>(fn: (s: Statements) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, (client) => fn(statements(client)));
  }

  private async audit(s: Statements, e: NewAuditEvent): Promise<void> {
    await s.run('insertAudit', e.at, e.accountId, e.actor, e.action, e.object, e.sourceIp, e.result, e.detail);
  }

  /** Inside a transaction: refuses (MacConflictError) unless the MAC is free for the claimant. */
  private async claim(s: Statements, mac: string, claimant: { accountId: number; gatewayId?: number }, now: string): Promise<void> {
    const holder = await s.one('claimMac', mac, now, claimant.gatewayId ?? null);
    if (holder) {
      throw MacConflictError.of(mac, { accountId: holder.account_id as number, gatewayId: holder.gateway_id as number, status: holder.status === 'pending' ? 'pending' : 'active' }, claimant.accountId);
    }
  }

  private async expireStale(s: Statements, mac: string, now: string): Promise<void> {
    await s.run('expireStale', mac, now);
  }

  /** Runs a write that gives a device certificate a live status; the database's refusal becomes a MacConflictError. */
  private async guarded(mac: string, gatewayId: number | null, write: () => Promise<Row | undefined>): Promise<Row> {
    try {
      const row = await write();
      if (!row) throw new Error('the write returned no row');
      return row;
    } catch (err) {
      const e = err as { code?: string; constraint?: string };
      if (e.code === '23P01' && e.constraint === MAC_OWNER_CONSTRAINT) throw new MacConflictError(mac, undefined);
      if (e.code === '23505' && e.constraint === 'certificates_one_active_per_mac') throw new MacConflictError(mac, gatewayId ?? undefined, 'active');
      if (e.code === '23505' && e.constraint === 'certificates_one_pending_per_mac') throw new MacConflictError(mac, gatewayId ?? undefined, 'pending');
      throw err;
    }
  }

  private async insertCertificate(
    s: Statements,
    c: NewCertificate,
    extra: { accountId: number | null; gatewayId: number | null; status: 'active' | 'pending'; replacesId: number | null },
  ): Promise<CertificateRecord> {
    const row = await this.guarded(c.subjectCn, extra.gatewayId, () =>
      s.one(
        'insertCertificate',
        c.kind,
        c.serialNumber,
        c.subjectCn,
        extra.accountId,
        extra.gatewayId,
        extra.status,
        c.certificatePem,
        c.keyOrigin,
        c.keyType,
        c.issuedAt,
        c.expiresAt,
        extra.replacesId,
      ),
    );
    return toCertificate(row);
  }

  private async revokeRow(s: Statements, id: number, at: string, reason: string, note: string | null): Promise<CertificateRecord> {
    await s.run('deletePendingKey', id);
    return toCertificate((await s.one('revokeCertificate', at, reason, note, id))!);
  }

  // ---------------------------------------------------------------------------- accounts/tokens

  async createAccount(name: string, audit: NewAuditEvent): Promise<AccountRecord> {
    return this.write(async (s) => {
      const account = toAccount((await s.one('insertAccount', name, nowIso()))!);
      await this.audit(s, { ...audit, accountId: account.id, object: `account:${account.id}` });
      return account;
    });
  }

  async getAccount(id: number): Promise<AccountRecord | undefined> {
    const r = await this.reads.one('getAccount', id);
    return r ? toAccount(r) : undefined;
  }

  async listAccounts(): Promise<AccountRecord[]> {
    return (await this.reads.all('listAccounts')).map(toAccount);
  }

  async renameAccount(id: number, name: string, audit: NewAuditEvent): Promise<AccountRecord> {
    return this.write(async (s) => {
      const r = await s.one('renameAccount', name, id);
      if (!r) throw new NotFoundError(`account ${id} does not exist`);
      await this.audit(s, { ...audit, accountId: id, object: `account:${id}` });
      return toAccount(r);
    });
  }

  async createToken(
    input: { accountId: number; role: Role; label: string | null; tokenHash: string; serverAdmin?: boolean },
    audit: NewAuditEvent,
  ): Promise<TokenRecord> {
    return this.write(async (s) => {
      if (!(await s.one('lockAccount', input.accountId))) throw new NotFoundError(`account ${input.accountId} does not exist`);
      const token = toToken((await s.one('insertToken', input.accountId, input.role, input.tokenHash, input.label, nowIso(), input.serverAdmin ?? false))!);
      await this.audit(s, { ...audit, accountId: input.accountId, object: `token:${token.id}`, detail: `role=${input.role}${token.serverAdmin ? ' (server admin)' : ''}` });
      return token;
    });
  }

  async getToken(id: number): Promise<TokenRecord | undefined> {
    const r = await this.reads.one('getToken', id);
    return r ? toToken(r) : undefined;
  }

  async revokeToken(id: number, audit: NewAuditEvent): Promise<TokenRecord> {
    return this.write(async (s) => {
      if (!(await s.one('getToken', id))) throw new NotFoundError(`token ${id} does not exist`);
      const r = await s.one('revokeToken', nowIso(), id);
      if (!r) throw new StateError(`token ${id} is already revoked`);
      const token = toToken(r);
      await this.audit(s, { ...audit, accountId: token.accountId, object: `token:${id}` });
      return token;
    });
  }

  async findTokenByHash(tokenHash: string): Promise<(TokenRecord & { accountActive: boolean }) | undefined> {
    const r = await this.reads.one('findToken', tokenHash);
    return r ? { ...toToken(r), accountActive: bool(r.account_active) } : undefined;
  }

  async listTokens(accountId: number | undefined): Promise<TokenRecord[]> {
    return (accountId === undefined ? await this.reads.all('listAllTokens') : await this.reads.all('listTokens', accountId)).map(toToken);
  }

  // ---------------------------------------------------------------------------- gateways

  async listGateways(accountId: number, q: GatewayQuery): Promise<{ count: number; rows: GatewayWithCertificate[] }> {
    const values: unknown[] = [accountId];
    const where = ['g.account_id = $1'];
    const add = (sql: (n: string) => string, value: unknown): void => {
      values.push(value);
      where.push(sql(`$${values.length}`));
    };
    if (q.mac !== undefined) add((n) => `g.mac = ${n}`, q.mac);
    if (q.codigo !== undefined) add((n) => `g.codigo = ${n}`, q.codigo);
    if (q.isOnline !== undefined) add((n) => `g.is_online = ${n}`, q.isOnline);
    if (q.expiresBefore !== undefined) add((n) => `c.expires_at < ${n}`, q.expiresBefore);
    // ILIKE: SQLite's LIKE ignores ASCII case, and so does this.
    if (q.search !== undefined && q.search !== '') add((n) => `(g.codigo ILIKE ${n} ESCAPE '\\' OR g.nome ILIKE ${n} ESCAPE '\\' OR g.mac ILIKE ${n} ESCAPE '\\')`, likeEscape(q.search));
    const clause = where.join(' AND ');
    const join = `LEFT JOIN certificates c ON c.gateway_id = g.id AND c.status = 'active'`;
    const count = (await this.reads.query(`SELECT count(*) AS n FROM gateways g ${join} WHERE ${clause}`, values))[0]!.n as number;
    const certCols = CERT_COLUMNS.map((c) => `c.${c} AS c_${c}`).join(', ');
    const rows = await this.reads.query(`SELECT g.*, ${certCols} FROM gateways g ${join} WHERE ${clause} ORDER BY g.id LIMIT $${values.length + 1} OFFSET $${values.length + 2}`, [
      ...values,
      q.limit,
      q.offset,
    ]);
    return { count, rows: rows.map(withCertificate) };
  }

  async getGateway(accountId: number, id: number): Promise<GatewayWithCertificate | undefined> {
    const r = await this.reads.one('getGateway', accountId, id);
    return r ? withCertificate(r) : undefined;
  }

  async listGatewayCertificates(gatewayId: number): Promise<CertificateRecord[]> {
    return (await this.reads.all('gatewayCertificates', gatewayId)).map((r) => toCertificate(r));
  }

  // ---------------------------------------------------------------------------- issuance

  /**
   * The MAC must be free (no active or pending certificate anywhere), then the gateway is created or
   * reused — one statement (statements.ts `provision`), so a provisioning is one round trip and needs
   * no explicit transaction; `audit` is written with it when given.
   */
  private async provisionOne(s: Statements, w: ProvisionWrite, now: string, audit?: NewAuditEvent): Promise<ProvisionResult> {
    const c = w.certificate;
    const row = await this.guardedProvision(w, now, () =>
      s.one(
        'provision',
        w.mac,
        now,
        w.accountId,
        w.codigo,
        w.nome,
        c.kind,
        c.serialNumber,
        c.certificatePem,
        c.keyOrigin,
        c.keyType,
        c.issuedAt,
        c.expiresAt,
        w.pendingKey?.sealed ?? null,
        w.pendingKey?.expiresAt ?? null,
        audit?.at ?? null,
        audit?.accountId ?? null,
        audit?.actor ?? null,
        audit?.action ?? null,
        audit?.sourceIp ?? null,
        audit?.result ?? null,
        audit?.detail ?? null,
        audit !== undefined,
      ),
    );
    const holder = row.holder as Row | null;
    if (holder) {
      throw MacConflictError.of(w.mac, { accountId: holder.account_id as number, gatewayId: holder.gateway_id as number, status: holder.status === 'pending' ? 'pending' : 'active' }, w.accountId);
    }
    const g = row.gateway as Row;
    return { gateway: toGateway(g), certificate: toCertificate(row.certificate as Row), reused: g.inserted !== true };
  }

  /** A constraint that stopped a concurrent provisioning names the holder once the winner has committed. */
  private async guardedProvision(w: ProvisionWrite, now: string, write: () => Promise<Row | undefined>): Promise<Row> {
    try {
      return await this.guarded(w.mac, null, write);
    } catch (err) {
      if (!(err instanceof MacConflictError) || err.ownGatewayId !== undefined) throw err;
      const holder = await this.getMacHolder(w.mac, now);
      throw holder ? MacConflictError.of(w.mac, holder, w.accountId) : err;
    }
  }

  async provisionGateway(write: ProvisionWrite, audit: NewAuditEvent): Promise<ProvisionResult> {
    return retrying(() => this.provisionOne(this.reads, write, write.at ?? nowIso(), audit));
  }

  async importGateways(writes: readonly ProvisionWrite[], audit: NewAuditEvent): Promise<ProvisionResult[]> {
    return this.write(async (s) => {
      const now = nowIso();
      const results: ProvisionResult[] = [];
      for (const [index, w] of writes.entries()) {
        try {
          results.push(await this.provisionOne(s, w, w.at ?? now));
        } catch (err) {
          throw new ImportRowError(index, err as Error);
        }
      }
      await this.audit(s, audit);
      return results;
    });
  }

  async renewGatewayCertificate(
    input: { accountId: number; gatewayId: number; certificate: NewCertificate; pendingKey?: SealedKey; at: string },
    audit: NewAuditEvent,
  ): Promise<{ certificate: CertificateRecord; superseded: CertificateRecord | null; revoked: CertificateRecord[] }> {
    return this.write(async (s) => {
      const gw = await s.one('lockGateway', input.accountId, input.gatewayId);
      if (!gw) throw new NotFoundError(`gateway ${input.gatewayId} not found`);
      const mac = str(gw.mac);
      await this.expireStale(s, mac, input.at);
      await this.claim(s, mac, { accountId: input.accountId, gatewayId: input.gatewayId }, input.at);
      let superseded: CertificateRecord | null = null;
      const revoked: CertificateRecord[] = [];
      // The active certificate and any unconfirmed successor: a plain renew replaces both.
      for (const live of await s.all('liveOfGateway', input.gatewayId)) {
        const r = await this.revokeRow(s, live.id as number, input.at, 'superseded', 'renewed');
        revoked.push(r);
        if (live.status === 'active') superseded = r;
      }
      const certificate = await this.insertCertificate(s, input.certificate, {
        accountId: input.accountId,
        gatewayId: input.gatewayId,
        status: 'active',
        replacesId: superseded?.id ?? null,
      });
      if (input.pendingKey) await s.run('insertPendingKey', certificate.id, input.pendingKey.sealed, input.at, input.pendingKey.expiresAt);
      await this.audit(s, { ...audit, object: `gateway:${input.gatewayId}` });
      return { certificate, superseded, revoked };
    });
  }

  async revokeGatewayCertificates(
    input: { accountId: number; gatewayId: number; reason: string; note: string | null; at: string },
    audit: NewAuditEvent,
  ): Promise<CertificateRecord[]> {
    return this.write(async (s) => {
      const gw = await s.one('lockGateway', input.accountId, input.gatewayId);
      if (!gw) throw new NotFoundError(`gateway ${input.gatewayId} not found`);
      await this.expireStale(s, str(gw.mac), input.at);
      const live = await s.all('liveOfGateway', input.gatewayId);
      if (live.length === 0) throw new StateError(`gateway ${input.gatewayId} has no active certificate to revoke`);
      const revoked: CertificateRecord[] = [];
      for (const c of live) revoked.push(await this.revokeRow(s, c.id as number, input.at, input.reason, input.note));
      await this.audit(s, { ...audit, object: `gateway:${input.gatewayId}` });
      return revoked;
    });
  }

  async recordCertificate(certificate: NewCertificate, audit: NewAuditEvent): Promise<CertificateRecord> {
    if (certificate.kind === 'device') throw new Error('device certificates are recorded through provisionGateway');
    return this.write(async (s) => {
      const record = await this.insertCertificate(s, certificate, { accountId: null, gatewayId: null, status: 'active', replacesId: null });
      await this.audit(s, { ...audit, object: `certificate:${record.serialNumber}` });
      return record;
    });
  }

  /** Inside a transaction: the certificate with this serial, its gateway locked first (the lock order of every write). */
  private async lockCertificate(s: Statements, serialNumber: string): Promise<Row | undefined> {
    const found = await s.one('certBySerial', serialNumber);
    if (!found) return undefined;
    if (found.gateway_id !== null) await s.one('lockGatewayById', found.gateway_id);
    return s.one('lockCertBySerial', serialNumber);
  }

  async revokeCertificateBySerial(
    serialNumber: string,
    reason: string,
    note: string | null,
    at: string,
    audit: NewAuditEvent,
    expect: { status?: CertificateStatus; gatewayId?: number } = {},
  ): Promise<CertificateRecord[]> {
    return this.write(async (s) => {
      const c = await this.lockCertificate(s, serialNumber);
      if (!c || (expect.gatewayId !== undefined && c.gateway_id !== expect.gatewayId)) throw new NotFoundError(`no certificate with serial ${serialNumber}`);
      if (c.status === 'revoked') throw new StateError(`certificate ${serialNumber} is already revoked`);
      if (expect.status !== undefined && c.status !== expect.status) throw new StateError(`certificate ${serialNumber} is ${str(c.status)}, not ${expect.status}`);
      const targets = [c, ...(c.status === 'active' ? await s.all('pendingSuccessors', c.id) : [])];
      const revoked: CertificateRecord[] = [];
      for (const r of targets) revoked.push(await this.revokeRow(s, r.id as number, at, reason, note));
      await this.audit(s, { ...audit, accountId: revoked[0]!.accountId, object: `certificate:${serialNumber}` });
      for (const successor of revoked.slice(1)) {
        await this.audit(s, { ...audit, accountId: successor.accountId, object: `certificate:${successor.serialNumber}`, detail: `pending successor of ${serialNumber}, revoked with it (reason=${reason})` });
      }
      return revoked;
    });
  }

  async getCertificateBySerial(serialNumber: string): Promise<CertificateRecord | undefined> {
    const r = await this.reads.one('certBySerial', serialNumber);
    return r ? toCertificate(r) : undefined;
  }

  async getMacHolder(mac: string, now: string): Promise<CertificateRecord | undefined> {
    const r = await this.reads.one('macHolder', mac, now);
    return r ? toCertificate(r) : undefined;
  }

  async listExpiringDeviceCertificates(before: string): Promise<CertificateRecord[]> {
    return (await this.reads.all('expiring', before)).map((r) => toCertificate(r));
  }

  async addPendingRenewal(
    predecessorId: number,
    certificate: NewCertificate,
    audit: NewAuditEvent,
    options: { replacePending?: boolean; at?: string; deliver?: boolean } = {},
  ): Promise<PendingRenewalResult> {
    return this.write(async (s) => {
      const at = options.at ?? nowIso();
      const found = await s.one('certById', predecessorId);
      if (found && found.gateway_id !== null) await s.one('lockGatewayById', found.gateway_id);
      const prev = found ? await s.one('lockCertById', predecessorId) : undefined;
      if (!prev || prev.status !== 'active') throw new StateError(`certificate ${predecessorId} is not active`);
      // An expired predecessor may still be renewed (renew-expiring); an expired earlier successor is just dropped.
      await s.run('expireStalePending', prev.subject_cn, at);
      await this.claim(s, str(prev.subject_cn), { accountId: prev.account_id as number, gatewayId: prev.gateway_id as number }, at);
      let replaced: CertificateRecord | null = null;
      const earlier = await s.one('pendingByMac', prev.subject_cn);
      if (earlier) {
        if (!options.replacePending) throw new StateError(`certificate ${str(earlier.serial_number)} is already waiting for confirmation`);
        replaced = await this.revokeRow(s, earlier.id as number, at, 'superseded', 'replaced by a newer pending renewal');
      }
      const record = await this.insertCertificate(s, certificate, {
        accountId: prev.account_id as number,
        gatewayId: prev.gateway_id as number,
        status: 'pending',
        replacesId: predecessorId,
      });
      if (replaced) {
        await this.audit(s, {
          ...audit,
          action: 'certificate.revoke',
          accountId: replaced.accountId,
          object: `certificate:${replaced.serialNumber}`,
          detail: `reason=superseded: unconfirmed, replaced by the pending renewal ${record.serialNumber}`,
        });
      }
      if (options.deliver) await s.run('trackDelivery', predecessorId, prev.subject_cn, at);
      await this.audit(s, { ...audit, accountId: record.accountId, object: `certificate:${record.serialNumber}` });
      return { certificate: record, replaced };
    });
  }

  async activatePendingCertificate(
    serialNumber: string,
    at: string,
    audit: NewAuditEvent,
  ): Promise<{ activated: CertificateRecord; superseded: CertificateRecord | null }> {
    return this.write(async (s) => {
      const found = await this.lockCertificate(s, serialNumber);
      // An expired predecessor is not superseded (nothing to revoke); an expired successor cannot be activated.
      if (found) await this.expireStale(s, str(found.subject_cn), at);
      const pending = found ? await s.one('lockCertById', found.id) : undefined;
      if (!pending || pending.status !== 'pending') throw new StateError(`certificate ${serialNumber} is not pending`);
      const predecessor = pending.replaces_id === null ? undefined : await s.one('lockCertById', pending.replaces_id);
      // Defence in depth: revoking a predecessor revokes its pending successor too.
      if (predecessor?.status === 'revoked') throw new StateError(`certificate ${serialNumber} cannot be activated: the certificate it renews was revoked`);
      const mac = str(pending.subject_cn);
      await this.claim(s, mac, { accountId: pending.account_id as number, gatewayId: pending.gateway_id as number }, at);
      const active = await s.one('activeByMac', mac);
      const superseded = active ? await this.revokeRow(s, active.id as number, at, 'superseded', 'successor confirmed') : null;
      const activated = toCertificate(await this.guarded(mac, pending.gateway_id as number, () => s.one('activateCertificate', pending.id)));
      await this.audit(s, { ...audit, accountId: activated.accountId, object: `certificate:${serialNumber}` });
      return { activated, superseded };
    });
  }

  // ---------------------------------------------------------------------------- CRL

  async listRevoked(scope: CrlScope = 'device'): Promise<RevokedEntry[]> {
    return (await this.reads.all(scope === 'birth' ? 'listRevokedBirth' : 'listRevoked')).map((r) => ({ serialNumber: str(r.serial_number), revokedAt: str(r.revoked_at), reason: str(r.revoke_reason) }));
  }

  async reserveCrlNumber(scope: CrlScope = 'device'): Promise<number> {
    return (await this.reads.one(scope === 'birth' ? 'reserveBirthCrl' : 'reserveCrl'))!.last_number as number;
  }

  async saveCrl(crl: CrlRecord, audit: NewAuditEvent, scope: CrlScope = 'device'): Promise<boolean> {
    return this.write(async (s) => {
      const stored = (await s.run(scope === 'birth' ? 'saveBirthCrl' : 'saveCrl', crl.crlNumber, crl.thisUpdate, crl.nextUpdate, crl.pem)) === 1;
      if (stored) {
        await this.audit(s, { ...audit, object: `${scope === 'birth' ? 'birth_crl' : 'crl'}:${crl.crlNumber}` });
        await s.one('notify', CRL_CHANNEL, JSON.stringify({ crlNumber: crl.crlNumber, scope }));
      }
      return stored;
    });
  }

  async getLatestCrl(scope: CrlScope = 'device'): Promise<CrlRecord | undefined> {
    const r = await this.reads.one(scope === 'birth' ? 'getBirthCrl' : 'getCrl');
    if (!r || r.crl_number === null) return undefined;
    return { crlNumber: r.crl_number as number, thisUpdate: str(r.this_update), nextUpdate: str(r.next_update), pem: str(r.crl_pem) };
  }

  // ---------------------------------------------------------------------------- zero-touch (zero-touch.ts)

  async recordBirthCertificate(
    certificate: NewBirthCertificate,
    options: { replace: boolean; at: string },
    audit: NewAuditEvent,
  ): Promise<{ certificate: BirthCertificateRecord; replaced: BirthCertificateRecord | null }> {
    return this.write((s) => this.zt.recordBirth(s, certificate, options, audit));
  }

  async getBirthCertificate(mac: string): Promise<BirthCertificateRecord | undefined> {
    return this.zt.liveBirth(this.reads, mac);
  }

  async getBirthCertificateBySerial(serialNumber: string): Promise<BirthCertificateRecord | undefined> {
    return this.zt.birthBySerial(this.reads, serialNumber);
  }

  async revokeBirthCertificate(
    input: { mac: string; accountId: number; reason: string; note: string | null; at: string },
    audit: NewAuditEvent,
  ): Promise<BirthCertificateRecord> {
    return this.write((s) => this.zt.revokeBirth(s, input, audit));
  }

  async createBootstrapNonce(nonce: { nonce: string; mac: string; at: string; expiresAt: string; sourceIp: string | null }, caps: { perMac: number; total: number }): Promise<void> {
    return this.write((s) => this.zt.createNonce(s, nonce, caps));
  }

  async findBootstrapNonce(nonce: string): Promise<{ mac: string; expiresAt: string; usedAt: string | null } | undefined> {
    return this.zt.findNonce(this.reads, nonce);
  }

  async createBootstrapRequest(
    request: NewBootstrapRequest,
    options: { nonce?: string; supersede: 'attested' | 'same-key'; caps: { perMac: number; total: number } },
    audit: NewAuditEvent,
  ): Promise<{ request: BootstrapRequestRecord; superseded: BootstrapRequestRecord[]; recovered: boolean }> {
    return this.write((s) => this.zt.createRequest(s, request, options, audit));
  }

  async getBootstrapRequest(id: string): Promise<BootstrapRequestRecord | undefined> {
    return this.zt.request(this.reads, id);
  }

  async findBootstrapRequests(mac: string, filter: { statuses: readonly BootstrapStatus[]; path?: BootstrapPath; keyFingerprint?: string }): Promise<BootstrapRequestRecord[]> {
    return this.zt.find(this.reads, mac, filter);
  }

  async countPendingBootstrap(filter: { mac?: string; path?: BootstrapPath }, now: string): Promise<{ count: number; oldestExpiresAt: string | null }> {
    return this.zt.pendingCount(this.reads, filter, now);
  }

  async recordBootstrapPoll(id: string, poll: { at: string; deviceTs: number; fetched: boolean }, audit: NewAuditEvent | null): Promise<BootstrapRequestRecord> {
    return this.write((s) => this.zt.recordPoll(s, id, poll, audit));
  }

  async approveBootstrapRequest(
    input: { id: string; write: ProvisionWrite; decidedBy: string; at: string; fetchBy: string; birthId?: number },
    audit: NewAuditEvent,
  ): Promise<{ request: BootstrapRequestRecord; gateway: GatewayRecord; certificate: CertificateRecord; reused: boolean }> {
    return this.write((s) => this.zt.approve(s, input, audit));
  }

  async rejectBootstrapRequest(id: string, input: { reason: string; at: string; decidedBy: string; accountId: number | null }, audit: NewAuditEvent): Promise<BootstrapRequestRecord> {
    return this.write((s) => this.zt.reject(s, id, input, audit));
  }

  async rejectPendingBootstrapOfMac(mac: string, path: BootstrapPath, reason: string, at: string, audit: NewAuditEvent): Promise<BootstrapRequestRecord[]> {
    return this.write((s) => this.zt.rejectPending(s, mac, path, reason, at, audit));
  }

  async sweepBootstrap(now: string, options: { finishedBefore: string; failuresBefore: string; actor: string }): Promise<BootstrapSweepResult> {
    return this.write((s) => this.zt.sweep(s, now, options));
  }

  async recordClaimFailure(subjects: readonly string[], at: string, audit: NewAuditEvent): Promise<void> {
    return this.write((s) => this.zt.recordFailure(s, subjects, at, audit));
  }

  async recentClaimFailures(subject: string, since: string, limit: number): Promise<string[]> {
    return this.zt.recentFailures(this.reads, subject, since, limit);
  }

  // ---------------------------------------------------------------------------- pending keys

  async takePendingKey(certificateId: number, now: string, audit: NewAuditEvent): Promise<Buffer | undefined> {
    return this.write(async (s) => {
      const r = await s.one('lockPendingKey', certificateId);
      if (!r) return undefined;
      await s.run('deletePendingKey', certificateId);
      if (str(r.expires_at) <= now) {
        await this.audit(s, { ...audit, action: 'device_key.destroyed', detail: 'server-made key not downloaded in time' });
        return undefined;
      }
      await this.audit(s, audit);
      return r.sealed as Buffer;
    });
  }

  async hasPendingKey(certificateId: number, now: string): Promise<boolean> {
    const r = await this.reads.one('getPendingKey', certificateId);
    return r !== undefined && str(r.expires_at) > now;
  }

  async purgeExpiredPendingKeys(now: string): Promise<number> {
    return this.write(async (s) => {
      await s.run('auditExpiredKeys', now);
      return s.run('deleteExpiredKeys', now);
    });
  }

  // ---------------------------------------------------------------------------- audit

  async appendAudit(event: NewAuditEvent): Promise<void> {
    await this.audit(this.reads, event);
  }

  async listAudit(accountId: number | undefined, q: AuditQuery): Promise<{ count: number; rows: AuditRecord[] }> {
    return fleet.listAudit(fleet.fleetOf(this.reads), accountId, q);
  }

  // ---------------------------------------------------------------------------- fleet (fleet.ts)

  async listRenewalDeliveries(filter: { mac?: string; onlineOnly?: boolean; gatewayId?: number; now: string }): Promise<RenewalDeliveryRecord[]> {
    return fleet.listDeliveries(fleet.fleetOf(this.reads), filter);
  }

  async claimRenewalDeliveryAttempt(predecessorId: number, at: string, notBefore: string, commandId: string): Promise<RenewalDeliveryRecord | undefined> {
    return this.write((s) => fleet.claimDelivery(fleet.fleetOf(s), predecessorId, at, notBefore, commandId));
  }

  async pruneRenewalDeliveries(now: string): Promise<number> {
    return fleet.fleetOf(this.reads).run('pruneDeliveries', now);
  }

  async listPresenceEvents(gatewayId: number, from: string, to: string, limit: number): Promise<{ before: PresenceEventRecord | null; events: PresenceEventRecord[] }> {
    return fleet.presenceEvents(fleet.fleetOf(this.reads), gatewayId, from, to, limit);
  }

  async purgePresenceEvents(before: string): Promise<number> {
    return fleet.fleetOf(this.reads).run('purgePresence', before);
  }

  async recordScheduledRun(run: ScheduledRunRecord, audit: NewAuditEvent): Promise<void> {
    return this.write(async (s) => {
      await fleet.recordRun(fleet.fleetOf(s), run);
      await this.audit(s, audit);
    });
  }

  async listScheduledRuns(): Promise<ScheduledRunRecord[]> {
    return fleet.listRuns(fleet.fleetOf(this.reads));
  }

  /** Ends the pool (the backend that owns it calls this). */
  async close(): Promise<void> {
    await this.pool.end();
  }
}
