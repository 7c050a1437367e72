/**
 * The storage contract of the server, backend-neutral. Every write is one method and one
 * transaction; SQLite (`sqlite/`, the embedded default) and PostgreSQL (`postgres/`, several
 * server instances) implement the same methods, and one contract test suite
 * (`server/test/store-contract.test.ts`) runs against both. Methods are async because PostgreSQL
 * is, even though better-sqlite3 is synchronous. A new method is added here, to both
 * implementations, and to the contract suite.
 *
 * Records use English camelCase; the seed's wire names are mapped in the API layer. Longer than
 * most files because it is the whole contract in one place (records, errors, every method with the
 * rule it enforces), which is what a second backend implements.
 */
import type { Role } from '../contract/api.js';
import type { BootstrapPath, BootstrapStatus } from '../contract/bootstrap.js';

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
  /** An admin of the server (every account), not only of its own account. */
  serverAdmin: boolean;
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
  /** Only gateways whose active certificate expires before this time (ISO-8601). */
  expiresBefore?: string;
}

export interface AuditQuery extends Page {
  action?: string;
  /** From this time on (inclusive, ISO-8601). */
  since?: string;
  /** Before this time (exclusive, ISO-8601). */
  until?: string;
  actor?: string;
  /** Events about this gateway: on it, or on one of its certificates. */
  gatewayId?: number;
  result?: AuditResult;
}

/** A renewal the server delivers to the device over MQTT (sweep-made pending successor). */
export interface RenewalDeliveryRecord {
  /** The certificate being renewed (stays valid until the device acks its successor). */
  predecessorId: number;
  predecessorSerial: string;
  mac: string;
  gatewayId: number;
  accountId: number;
  /** The successor waiting for the device. */
  pendingSerial: string;
  pendingExpiresAt: string;
  createdAt: string;
  attempts: number;
  lastAttemptAt: string | null;
  lastCommandId: string | null;
  predecessorPem: string;
  pendingPem: string;
}

export interface PresenceEventRecord {
  online: boolean;
  at: string;
}

export type ScheduledJob = 'renewal' | 'crl';

export interface ScheduledRunRecord {
  job: ScheduledJob;
  startedAt: string;
  finishedAt: string;
  result: 'ok' | 'error';
  detail: string | null;
}

// -------------------------------------------------------------------------------------------
// Zero-touch onboarding (docs/zero-touch.md)

/** Which CA a CRL belongs to: the operational device CA, or the birth CA of zero-touch onboarding. */
export type CrlScope = 'device' | 'birth';

export type { BootstrapPath, BootstrapStatus };

/** A birth certificate from the birth CA, with the hash of its single-use claim secret. */
export interface BirthCertificateRecord {
  id: number;
  mac: string;
  serialNumber: string;
  certificatePem: string;
  keyType: string;
  model: string | null;
  /** The account whose operator made it at the bench. */
  accountId: number;
  status: 'active' | 'revoked';
  claimSecretHash: string;
  /** Set by the one successful claim. */
  claimedAt: string | null;
  issuedAt: string;
  expiresAt: string;
  revokedAt: string | null;
  revokeReason: string | null;
  revokeNote: string | null;
}

export type NewBirthCertificate = Pick<
  BirthCertificateRecord,
  'mac' | 'serialNumber' | 'certificatePem' | 'keyType' | 'model' | 'accountId' | 'claimSecretHash' | 'issuedAt' | 'expiresAt'
>;

export interface BootstrapRequestRecord {
  /** 32 lowercase hex characters (128 random bits), the device's handle for polling. */
  id: string;
  mac: string;
  path: BootstrapPath;
  status: BootstrapStatus;
  csrPem: string;
  /** SubjectPublicKeyInfo of the CSR's key (verifies the poll signatures). */
  publicKeyDer: Buffer;
  keyFingerprint: string;
  keyType: string;
  /** Open path: SHA-256 of the activation code bound to the id. */
  codeHash: string | null;
  /** Attested path: the birth certificate's serial. */
  birthSerial: string | null;
  model: string | null;
  firmwareVersion: string | null;
  sourceIp: string | null;
  createdAt: string;
  /** Pending: when it expires; approved: the end of the fetch window. */
  expiresAt: string;
  pollInterval: number;
  lastPollAt: string | null;
  /** The device's timestamp of the last accepted poll (replay protection). */
  lastPollTs: number | null;
  accountId: number | null;
  gatewayId: number | null;
  certificateId: number | null;
  decidedAt: string | null;
  decidedBy: string | null;
  statusReason: string | null;
  fetchedAt: string | null;
  finishedAt: string | null;
}

export type NewBootstrapRequest = Pick<
  BootstrapRequestRecord,
  | 'id'
  | 'mac'
  | 'path'
  | 'csrPem'
  | 'publicKeyDer'
  | 'keyFingerprint'
  | 'keyType'
  | 'codeHash'
  | 'birthSerial'
  | 'model'
  | 'firmwareVersion'
  | 'sourceIp'
  | 'createdAt'
  | 'expiresAt'
  | 'pollInterval'
>;

export interface BootstrapSweepResult {
  /** Requests that became expired now (pending past their lifetime, approved and never fetched). */
  expired: BootstrapRequestRecord[];
  /** Certificates of approved requests the device never fetched, revoked (cessationOfOperation). */
  revoked: CertificateRecord[];
  /** Finished requests, used or expired nonces and old failure counters deleted. */
  deleted: number;
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

/** A bounded table is full (pending bootstrap requests, nonces); `retryAt` is when room is expected. */
export class CapacityError extends Error {
  constructor(
    message: string,
    readonly what: 'nonces' | 'pending',
    readonly retryAt: string | null,
  ) {
    super(message);
  }
}

/** An attestation nonce that does not exist for this MAC, was used already or has expired. */
export class NonceError extends Error {}

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
  /** Renames an account (NotFoundError when it does not exist). */
  renameAccount(id: number, name: string, audit: NewAuditEvent): Promise<AccountRecord>;
  createToken(
    input: { accountId: number; role: Role; label: string | null; tokenHash: string; serverAdmin?: boolean },
    audit: NewAuditEvent,
  ): Promise<TokenRecord>;
  revokeToken(id: number, audit: NewAuditEvent): Promise<TokenRecord>;
  findTokenByHash(tokenHash: string): Promise<(TokenRecord & { accountActive: boolean }) | undefined>;
  getToken(id: number): Promise<TokenRecord | undefined>;
  /** One account's tokens, or every token (undefined). Never the secrets (only their hashes are stored). */
  listTokens(accountId: number | undefined): Promise<TokenRecord[]>;

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
    options?: { replacePending?: boolean; at?: string; /** Also record it for delivery over MQTT (same transaction). */ deliver?: boolean },
  ): Promise<PendingRenewalResult>;
  /** The device installed the pending certificate: it becomes active, its predecessor is revoked (superseded). */
  activatePendingCertificate(serialNumber: string, at: string, audit: NewAuditEvent): Promise<{ activated: CertificateRecord; superseded: CertificateRecord | null }>;

  // CRL (each CA has its own: `scope` birth = the birth CA's birth certificates; default device)
  listRevoked(scope?: CrlScope): Promise<RevokedEntry[]>;
  /** Atomically reserves the next CRL number. */
  reserveCrlNumber(scope?: CrlScope): Promise<number>;
  /** Stores a signed CRL unless a newer one is already stored; returns whether it was stored. */
  saveCrl(crl: CrlRecord, audit: NewAuditEvent, scope?: CrlScope): Promise<boolean>;
  getLatestCrl(scope?: CrlScope): Promise<CrlRecord | undefined>;

  // zero-touch onboarding: birth identities (each write one transaction)
  /**
   * Stores a birth certificate. A MAC has at most one unrevoked birth certificate: an existing one is
   * a StateError unless `replace`, which revokes it (superseded) and rejects its pending attested
   * requests in the same transaction.
   */
  recordBirthCertificate(
    certificate: NewBirthCertificate,
    options: { replace: boolean; at: string },
    audit: NewAuditEvent,
  ): Promise<{ certificate: BirthCertificateRecord; replaced: BirthCertificateRecord | null }>;
  /** The MAC's unrevoked birth certificate (expired or not). */
  getBirthCertificate(mac: string): Promise<BirthCertificateRecord | undefined>;
  getBirthCertificateBySerial(serialNumber: string): Promise<BirthCertificateRecord | undefined>;
  /**
   * Revokes the MAC's unrevoked birth certificate made by `accountId` (NotFoundError otherwise) and
   * rejects its pending attested requests.
   */
  revokeBirthCertificate(
    input: { mac: string; accountId: number; reason: string; note: string | null; at: string },
    audit: NewAuditEvent,
  ): Promise<BirthCertificateRecord>;

  // zero-touch onboarding: nonces and bootstrap requests
  /** A new attestation nonce; CapacityError when the MAC has `perMac` unused unexpired ones or the server `total`. */
  createBootstrapNonce(
    nonce: { nonce: string; mac: string; at: string; expiresAt: string; sourceIp: string | null },
    caps: { perMac: number; total: number },
  ): Promise<void>;
  findBootstrapNonce(nonce: string): Promise<{ mac: string; expiresAt: string; usedAt: string | null } | undefined>;
  /**
   * Stores a new pending request. In the same transaction: the MAC's stale pending requests become
   * expired; the nonce (attested) is consumed (NonceError when it is not unused, unexpired and for this
   * MAC); `supersede` 'attested' rejects every pending attested request of the MAC, 'same-key' the
   * pending requests of the MAC with the same key fingerprint (reason superseded, audited); then the
   * caps (CapacityError): pending open requests per MAC (open path) and pending requests in total.
   * When the MAC has an approved (unexpired) or issued request for the same key, nothing is created:
   * that request is returned with `recovered` (a device that lost its request id finds it again).
   */
  createBootstrapRequest(
    request: NewBootstrapRequest,
    options: { nonce?: string; supersede: 'attested' | 'same-key'; caps: { perMac: number; total: number } },
    audit: NewAuditEvent,
  ): Promise<{ request: BootstrapRequestRecord; superseded: BootstrapRequestRecord[]; recovered: boolean }>;
  getBootstrapRequest(id: string): Promise<BootstrapRequestRecord | undefined>;
  /** The MAC's requests in the given states, newest first (optionally one path / one key). */
  findBootstrapRequests(mac: string, filter: { statuses: readonly BootstrapStatus[]; path?: BootstrapPath; keyFingerprint?: string }): Promise<BootstrapRequestRecord[]>;
  /** Unexpired pending requests (of one MAC, of one path, or all), and when the oldest of them expires. */
  countPendingBootstrap(filter: { mac?: string; path?: BootstrapPath }, now: string): Promise<{ count: number; oldestExpiresAt: string | null }>;
  /**
   * An accepted poll: stores its time and device timestamp (StateError unless the timestamp is greater
   * than the last accepted one); with `fetched`, an approved request becomes issued (audited).
   */
  recordBootstrapPoll(id: string, poll: { at: string; deviceTs: number; fetched: boolean }, audit: NewAuditEvent | null): Promise<BootstrapRequestRecord>;
  /**
   * The claim, one transaction: the request must still be pending and unexpired (StateError); with
   * `birthId` the birth certificate's claim secret is used up (StateError when it was); the MAC-ownership
   * rule and the gateway and certificate as `provisionGateway`; the request becomes approved with its
   * fetch deadline.
   */
  approveBootstrapRequest(
    input: { id: string; write: ProvisionWrite; decidedBy: string; at: string; fetchBy: string; birthId?: number },
    audit: NewAuditEvent,
  ): Promise<{ request: BootstrapRequestRecord; gateway: GatewayRecord; certificate: CertificateRecord; reused: boolean }>;
  /** A pending request becomes rejected (StateError when it is not pending). */
  rejectBootstrapRequest(id: string, input: { reason: string; at: string; decidedBy: string; accountId: number | null }, audit: NewAuditEvent): Promise<BootstrapRequestRecord>;
  /** Every pending request of the MAC on `path` becomes rejected; returns them. */
  rejectPendingBootstrapOfMac(mac: string, path: BootstrapPath, reason: string, at: string, audit: NewAuditEvent): Promise<BootstrapRequestRecord[]>;
  /**
   * Expiry and pruning: pending past expiry → expired; approved past its fetch deadline → expired and
   * its certificate (if still active) revoked as cessationOfOperation; finished requests older than
   * `finishedBefore`, nonces past expiry and claim failures older than `failuresBefore` deleted.
   */
  sweepBootstrap(now: string, options: { finishedBefore: string; failuresBefore: string; actor: string }): Promise<BootstrapSweepResult>;

  // zero-touch onboarding: failed claims (lockout counters, shared by every instance)
  recordClaimFailure(subjects: readonly string[], at: string, audit: NewAuditEvent): Promise<void>;
  /** Times of the subject's failures at or after `since`, newest first, at most `limit`. */
  recentClaimFailures(subject: string, since: string, limit: number): Promise<string[]>;

  // server-made keys waiting for download
  takePendingKey(certificateId: number, now: string, audit: NewAuditEvent): Promise<Buffer | undefined>;
  hasPendingKey(certificateId: number, now: string): Promise<boolean>;
  purgeExpiredPendingKeys(now: string): Promise<number>;

  // renewals delivered over MQTT (rows made by addPendingRenewal with `deliver`)
  /**
   * The open deliveries: the predecessor is active and its pending successor unexpired. `mac`:
   * only that device's; `onlineOnly`: only gateways the presence consumer sees online.
   */
  listRenewalDeliveries(filter: { mac?: string; onlineOnly?: boolean; gatewayId?: number; now: string }): Promise<RenewalDeliveryRecord[]>;
  /**
   * Records a delivery attempt unless one was made at or after `notBefore` (concurrent triggers,
   * repeated online events): returns the updated record, or undefined when nothing is due.
   */
  claimRenewalDeliveryAttempt(predecessorId: number, at: string, notBefore: string, commandId: string): Promise<RenewalDeliveryRecord | undefined>;
  /** Deletes the rows of renewals that are no longer open (activated, cancelled, revoked, expired). */
  pruneRenewalDeliveries(now: string): Promise<number>;

  // presence history (written by the MQTT side's presence sink on every transition)
  /** Transitions of a gateway in [from, to), oldest first, plus the state just before `from` (null: unknown). */
  listPresenceEvents(gatewayId: number, from: string, to: string, limit: number): Promise<{ before: PresenceEventRecord | null; events: PresenceEventRecord[] }>;
  purgePresenceEvents(before: string): Promise<number>;

  // scheduled jobs
  recordScheduledRun(run: ScheduledRunRecord, audit: NewAuditEvent): Promise<void>;
  listScheduledRuns(): Promise<ScheduledRunRecord[]>;

  // audit
  appendAudit(event: NewAuditEvent): Promise<void>;
  /** The account's events, or every event including the server's own (accountId undefined: server admins). */
  listAudit(accountId: number | undefined, query: AuditQuery): Promise<{ count: number; rows: AuditRecord[] }>;

  close(): Promise<void>;
}
