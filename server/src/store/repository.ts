/**
 * The storage contract of the server, backend-neutral. Every write is one method and one
 * transaction; SQLite (`sqlite/`, the embedded default) and PostgreSQL (`postgres/`, several
 * server instances) implement the same methods, and one contract test suite
 * (`server/test/store-contract.test.ts`) runs against both. Methods are async because PostgreSQL
 * is, even though better-sqlite3 is synchronous. A new method is added here, to both
 * implementations, and to the contract suite.
 *
 * Records use English camelCase; the seed's wire names are mapped in the API layer.
 */
import type { Role } from '../contract/api.js';

export type CertificateKind = 'device' | 'service' | 'broker';
export type CertificateStatus = 'pending' | 'active' | 'revoked' | 'expired';
export type KeyOrigin = 'device' | 'station' | 'server';
export type AuditResult = 'ok' | 'denied' | 'error';

export interface AccountRecord {
  id: number;
  name: string;
  isActive: boolean;
  createdAt: string;
}

export interface TokenRecord {
  id: number;
  accountId: number;
  role: Role;
  label: string | null;
  createdAt: string;
  revokedAt: string | null;
}

export interface GatewayRecord {
  id: number;
  accountId: number;
  codigo: string;
  mac: string;
  nome: string;
  qteMaxDispositivos: number;
  isOnline: boolean;
  lastSeen: string | null;
  firmwareVersion: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface CertificateRecord {
  id: number;
  kind: CertificateKind;
  serialNumber: string;
  subjectCn: string;
  accountId: number | null;
  gatewayId: number | null;
  status: CertificateStatus;
  certificatePem: string;
  keyOrigin: KeyOrigin;
  keyType: string;
  issuedAt: string;
  expiresAt: string;
  revokedAt: string | null;
  revokeReason: string | null;
  revokeNote: string | null;
  replacesId: number | null;
}

export interface GatewayWithCertificate extends GatewayRecord {
  activeCertificate: CertificateRecord | null;
}

export interface NewCertificate {
  kind: CertificateKind;
  serialNumber: string;
  subjectCn: string;
  certificatePem: string;
  keyOrigin: KeyOrigin;
  keyType: string;
  issuedAt: string;
  expiresAt: string;
}

export interface NewAuditEvent {
  at: string;
  accountId: number | null;
  /** Who: "token:<id>", "cli", "device:<mac>", "anonymous". Never a secret. */
  actor: string;
  action: string;
  object: string | null;
  sourceIp: string | null;
  result: AuditResult;
  detail: string | null;
}

export interface AuditRecord extends NewAuditEvent {
  id: number;
}

/** A server-made key sealed by the CA's key vault, waiting for its one download. */
export interface SealedKey {
  sealed: Buffer;
  expiresAt: string;
}

export interface ProvisionWrite {
  accountId: number;
  /** When the write happens (expiry decisions); default now. */
  at?: string;
  mac: string;
  codigo: string;
  nome: string;
  certificate: NewCertificate;
  pendingKey?: SealedKey;
}

export interface ProvisionResult {
  gateway: GatewayRecord;
  certificate: CertificateRecord;
  /** True when a gateway of this account with this MAC (no active certificate) was reused. */
  reused: boolean;
}

export interface PendingRenewalResult {
  certificate: CertificateRecord;
  /** The earlier pending successor it replaced (now revoked), if any. */
  replaced: CertificateRecord | null;
}

export interface RevokedEntry {
  serialNumber: string;
  revokedAt: string;
  reason: string;
}

export interface CrlRecord {
  crlNumber: number;
  thisUpdate: string;
  nextUpdate: string;
  pem: string;
}

export interface Page {
  limit: number;
  offset: number;
}

export interface GatewayQuery extends Page {
  search?: string;
  mac?: string;
  codigo?: string;
  isOnline?: boolean;
}

export interface AuditQuery extends Page {
  action?: string;
  since?: string;
}

// -------------------------------------------------------------------------------------------
// Errors the API maps to status codes.

/**
 * The MAC-ownership rule refused a write: a MAC belongs to at most one account (one gateway) while
 * any active or pending certificate exists for it. The caller learns which of its own gateways
 * holds the MAC; a MAC held elsewhere is only "not available", with one message whatever the
 * other account holds, so an account never learns about another account's gateways.
 */
export class MacConflictError extends Error {
  constructor(
    readonly mac: string,
    /** Set only when the conflicting gateway belongs to the caller's account. */
    readonly ownGatewayId: number | undefined,
    readonly holds: 'active' | 'pending' = 'active',
  ) {
    super(
      ownGatewayId === undefined
        ? `MAC ${mac} is not available`
        : holds === 'pending'
          ? `MAC ${mac} has a renewed certificate waiting for confirmation (gateway ${ownGatewayId}); confirm it (renew/confirm/) or cancel it (renew/cancel/) first`
          : `MAC ${mac} already has an active certificate (gateway ${ownGatewayId}); revoke or renew it instead`,
    );
  }

  /** The refusal for `accountId` when `holder` (an active or pending device certificate) holds the MAC. */
  static of(mac: string, holder: Pick<CertificateRecord, 'accountId' | 'gatewayId' | 'status'>, accountId: number): MacConflictError {
    const own = holder.accountId === accountId ? (holder.gatewayId ?? undefined) : undefined;
    return new MacConflictError(mac, own, holder.status === 'pending' ? 'pending' : 'active');
  }
}

/** importGateways: which row failed (0-based index into the writes), and why; nothing was written. */
export class ImportRowError extends Error {
  constructor(
    readonly index: number,
    readonly reason: Error,
  ) {
    super(reason.message);
  }
}

export class NotFoundError extends Error {}
export class StateError extends Error {}

/**
 * The database cannot be reached right now (PostgreSQL restarting, network down). A write it
 * interrupted is never half stored: it was rolled back whole (or, when the connection broke during
 * COMMIT itself, stored whole). The API answers 503 and the caller may retry.
 */
export class StoreUnavailableError extends Error {
  constructor(readonly detail: string) {
    super('the database is unavailable; retry in a few seconds');
  }
}

export interface Repository {
  // accounts and tokens
  createAccount(name: string, audit: NewAuditEvent): Promise<AccountRecord>;
  getAccount(id: number): Promise<AccountRecord | undefined>;
  listAccounts(): Promise<AccountRecord[]>;
  createToken(input: { accountId: number; role: Role; label: string | null; tokenHash: string }, audit: NewAuditEvent): Promise<TokenRecord>;
  revokeToken(id: number, audit: NewAuditEvent): Promise<TokenRecord>;
  findTokenByHash(tokenHash: string): Promise<(TokenRecord & { accountActive: boolean }) | undefined>;
  listTokens(accountId: number): Promise<TokenRecord[]>;

  // gateways
  listGateways(accountId: number, query: GatewayQuery): Promise<{ count: number; rows: GatewayWithCertificate[] }>;
  getGateway(accountId: number, id: number): Promise<GatewayWithCertificate | undefined>;
  listGatewayCertificates(gatewayId: number): Promise<CertificateRecord[]>;

  // issuance (each one transaction). Every write that gives a device certificate the status active or
  // pending enforces the MAC-ownership rule inside that transaction (MacConflictError): a MAC belongs
  // to at most one account while any active or pending certificate exists for it.
  provisionGateway(write: ProvisionWrite, audit: NewAuditEvent): Promise<ProvisionResult>;
  /** All rows or none; a refused row is an ImportRowError. */
  importGateways(writes: readonly ProvisionWrite[], audit: NewAuditEvent): Promise<ProvisionResult[]>;
  /**
   * New active certificate for the gateway; the previous active one (`superseded`) and any pending
   * successor are revoked as superseded (`revoked` lists them all).
   */
  renewGatewayCertificate(
    input: { accountId: number; gatewayId: number; certificate: NewCertificate; pendingKey?: SealedKey; at: string },
    audit: NewAuditEvent,
  ): Promise<{ certificate: CertificateRecord; superseded: CertificateRecord | null; revoked: CertificateRecord[] }>;
  /** Revokes the gateway's active and pending certificates. */
  revokeGatewayCertificates(
    input: { accountId: number; gatewayId: number; reason: string; note: string | null; at: string },
    audit: NewAuditEvent,
  ): Promise<CertificateRecord[]>;
  /** Service, broker and server certificates (no account). */
  recordCertificate(certificate: NewCertificate, audit: NewAuditEvent): Promise<CertificateRecord>;
  /**
   * Revokes one certificate. Revoking an active device certificate also revokes its pending
   * successor (a renewal must not outlive a revoked predecessor); the result lists the requested
   * certificate first, then any successor. `expect` guards against races: the write is refused
   * (StateError) when the certificate is no longer in that status or not on that gateway.
   */
  revokeCertificateBySerial(
    serialNumber: string,
    reason: string,
    note: string | null,
    at: string,
    audit: NewAuditEvent,
    expect?: { status?: CertificateStatus; gatewayId?: number },
  ): Promise<CertificateRecord[]>;
  getCertificateBySerial(serialNumber: string): Promise<CertificateRecord | undefined>;
  /**
   * Who holds the MAC: its unexpired active (else pending) device certificate in any account. A read
   * for an early refusal; every write that gives a MAC a live certificate re-checks the
   * MAC-ownership rule in its own transaction.
   */
  getMacHolder(mac: string, now: string): Promise<CertificateRecord | undefined>;
  /** Active device certificates whose expiry is before `before` and that have no pending successor. */
  listExpiringDeviceCertificates(before: string): Promise<CertificateRecord[]>;
  /**
   * A successor for an active certificate that becomes active only when it is confirmed
   * (activatePendingCertificate). The MAC's earlier unconfirmed successor is revoked (superseded) in
   * the same transaction when `replacePending` is set (its audit event says so); otherwise an
   * existing one is a StateError.
   */
  addPendingRenewal(
    predecessorId: number,
    certificate: NewCertificate,
    audit: NewAuditEvent,
    options?: { replacePending?: boolean; at?: string },
  ): Promise<PendingRenewalResult>;
  /** The device installed the pending certificate: it becomes active, its predecessor is revoked (superseded). */
  activatePendingCertificate(serialNumber: string, at: string, audit: NewAuditEvent): Promise<{ activated: CertificateRecord; superseded: CertificateRecord | null }>;

  // CRL
  listRevoked(): Promise<RevokedEntry[]>;
  /** Atomically reserves the next CRL number. */
  reserveCrlNumber(): Promise<number>;
  /** Stores a signed CRL unless a newer one is already stored; returns whether it was stored. */
  saveCrl(crl: CrlRecord, audit: NewAuditEvent): Promise<boolean>;
  getLatestCrl(): Promise<CrlRecord | undefined>;

  // server-made keys waiting for download
  takePendingKey(certificateId: number, now: string, audit: NewAuditEvent): Promise<Buffer | undefined>;
  hasPendingKey(certificateId: number, now: string): Promise<boolean>;
  purgeExpiredPendingKeys(now: string): Promise<number>;

  // audit
  appendAudit(event: NewAuditEvent): Promise<void>;
  listAudit(accountId: number, query: AuditQuery): Promise<{ count: number; rows: AuditRecord[] }>;

  close(): Promise<void>;
}
