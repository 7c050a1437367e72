/**
 * Row mapping shared by both stores: snake_case rows as better-sqlite3 and node-postgres return them
 * → the repository's English camelCase records. Booleans are 0/1 in SQLite and true/false in
 * PostgreSQL; both read the same here. Nothing here touches a database.
 */
import type { Role } from '../contract/api.js';
import type { DeviceCertificateRow, ServiceCertificateRow, TelemetryReadingRecord } from './mqtt-repository.js';
import type {
  AccountRecord,
  AuditRecord,
  BirthCertificateRecord,
  BootstrapPath,
  BootstrapRequestRecord,
  BootstrapStatus,
  CertificateRecord,
  GatewayRecord,
  GatewayWithCertificate,
  RenewalDeliveryRecord,
  TokenRecord,
} from './repository.js';

export type Row = Record<string, unknown>;

export const str = (v: unknown): string => v as string;
export const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : (v as string));
/** SQLite 1/0 or PostgreSQL true/false. */
export const bool = (v: unknown): boolean => v === 1 || v === true;

export function toAccount(r: Row): AccountRecord {
  return { id: r.id as number, name: str(r.name), isActive: bool(r.is_active), createdAt: str(r.created_at) };
}

export function toToken(r: Row): TokenRecord {
  return {
    id: r.id as number,
    accountId: r.account_id as number,
    role: r.role as Role,
    label: strOrNull(r.label),
    createdAt: str(r.created_at),
    revokedAt: strOrNull(r.revoked_at),
    serverAdmin: bool(r.server_admin),
  };
}

export function toGateway(r: Row): GatewayRecord {
  return {
    id: r.id as number,
    accountId: r.account_id as number,
    codigo: str(r.codigo),
    mac: str(r.mac),
    nome: str(r.nome),
    qteMaxDispositivos: r.qte_max_dispositivos as number,
    isOnline: bool(r.is_online),
    lastSeen: strOrNull(r.last_seen),
    firmwareVersion: strOrNull(r.firmware_version),
    createdAt: str(r.created_at),
    updatedAt: str(r.updated_at),
  };
}

export const CERT_COLUMNS = [
  'id',
  'kind',
  'serial_number',
  'subject_cn',
  'account_id',
  'gateway_id',
  'status',
  'certificate_pem',
  'key_origin',
  'key_type',
  'issued_at',
  'expires_at',
  'revoked_at',
  'revoke_reason',
  'revoke_note',
  'replaces_id',
];

export function toCertificate(r: Row, prefix = ''): CertificateRecord {
  const g = (c: string): unknown => r[prefix + c];
  return {
    id: g('id') as number,
    kind: g('kind') as CertificateRecord['kind'],
    serialNumber: str(g('serial_number')),
    subjectCn: str(g('subject_cn')),
    accountId: (g('account_id') as number | null) ?? null,
    gatewayId: (g('gateway_id') as number | null) ?? null,
    status: g('status') as CertificateRecord['status'],
    certificatePem: str(g('certificate_pem')),
    keyOrigin: g('key_origin') as CertificateRecord['keyOrigin'],
    keyType: str(g('key_type')),
    issuedAt: str(g('issued_at')),
    expiresAt: str(g('expires_at')),
    revokedAt: strOrNull(g('revoked_at')),
    revokeReason: strOrNull(g('revoke_reason')),
    revokeNote: strOrNull(g('revoke_note')),
    replacesId: (g('replaces_id') as number | null) ?? null,
  };
}

export function withCertificate(r: Row): GatewayWithCertificate {
  return { ...toGateway(r), activeCertificate: r.c_id === null || r.c_id === undefined ? null : toCertificate(r, 'c_') };
}

export function toAudit(r: Row): AuditRecord {
  return {
    id: r.id as number,
    at: str(r.at),
    accountId: (r.account_id as number | null) ?? null,
    actor: str(r.actor),
    action: str(r.action),
    object: strOrNull(r.object),
    sourceIp: strOrNull(r.source_ip),
    result: r.result as AuditRecord['result'],
    detail: strOrNull(r.detail),
  };
}

/** A LIKE pattern that matches `s` literally anywhere (ESCAPE '\\'). */
export const likeEscape = (s: string): string => `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

// ---- the MQTT side (mqtt-repository.ts)

export function toReading(r: Row): TelemetryReadingRecord {
  return {
    id: r.id as number,
    measuredAt: r.measured_at as string,
    receivedAt: r.received_at as string,
    valor: r.valor as number,
    unidade: r.unidade as string,
    slaveId: (r.slave_id as number | null) ?? null,
    register: (r.register as number | null) ?? null,
    firmwareVersion: (r.firmware_version as string | null) ?? null,
  };
}

export function toDeviceCertificate(r: Row): DeviceCertificateRow {
  return {
    id: r.id as number,
    serialNumber: r.serial_number as string,
    status: r.status as 'active' | 'pending',
    certificatePem: r.certificate_pem as string,
    gatewayId: r.gateway_id as number,
    accountId: r.account_id as number,
  };
}

export function toServiceCertificate(r: Row): ServiceCertificateRow {
  return {
    cn: r.subject_cn as string,
    serialNumber: r.serial_number as string,
    status: r.status as string,
    issuedAt: r.issued_at as string,
    expiresAt: r.expires_at as string,
    revokedAt: (r.revoked_at as string | null) ?? null,
  };
}

// ---- zero-touch onboarding (migration 4)

export function toBirth(r: Row): BirthCertificateRecord {
  return {
    id: r.id as number,
    mac: str(r.mac),
    serialNumber: str(r.serial_number),
    certificatePem: str(r.certificate_pem),
    keyType: str(r.key_type),
    model: strOrNull(r.model),
    accountId: r.account_id as number,
    status: r.status as BirthCertificateRecord['status'],
    claimSecretHash: str(r.claim_secret_hash),
    claimedAt: strOrNull(r.claimed_at),
    issuedAt: str(r.issued_at),
    expiresAt: str(r.expires_at),
    revokedAt: strOrNull(r.revoked_at),
    revokeReason: strOrNull(r.revoke_reason),
    revokeNote: strOrNull(r.revoke_note),
  };
}

export function toBootstrapRequest(r: Row): BootstrapRequestRecord {
  const num = (v: unknown): number | null => (v === null || v === undefined ? null : (v as number));
  return {
    id: str(r.id),
    mac: str(r.mac),
    path: r.path as BootstrapPath,
    status: r.status as BootstrapStatus,
    csrPem: str(r.csr_pem),
    publicKeyDer: r.public_key_der as Buffer,
    keyFingerprint: str(r.key_fingerprint),
    keyType: str(r.key_type),
    codeHash: strOrNull(r.code_hash),
    birthSerial: strOrNull(r.birth_serial),
    model: strOrNull(r.model),
    firmwareVersion: strOrNull(r.firmware_version),
    sourceIp: strOrNull(r.source_ip),
    createdAt: str(r.created_at),
    expiresAt: str(r.expires_at),
    pollInterval: r.poll_interval as number,
    lastPollAt: strOrNull(r.last_poll_at),
    lastPollTs: num(r.last_poll_ts),
    accountId: num(r.account_id),
    gatewayId: num(r.gateway_id),
    certificateId: num(r.certificate_id),
    decidedAt: strOrNull(r.decided_at),
    decidedBy: strOrNull(r.decided_by),
    statusReason: strOrNull(r.status_reason),
    fetchedAt: strOrNull(r.fetched_at),
    finishedAt: strOrNull(r.finished_at),
  };
}

// ---- fleet (migration 5)

export function toDelivery(r: Row): RenewalDeliveryRecord {
  return {
    predecessorId: r.predecessor_id as number,
    predecessorSerial: str(r.predecessor_serial),
    mac: str(r.mac),
    gatewayId: r.gateway_id as number,
    accountId: r.account_id as number,
    pendingSerial: str(r.pending_serial),
    pendingExpiresAt: str(r.pending_expires_at),
    createdAt: str(r.created_at),
    attempts: r.attempts as number,
    lastAttemptAt: strOrNull(r.last_attempt_at),
    lastCommandId: strOrNull(r.last_command_id),
    predecessorPem: str(r.predecessor_pem),
    pendingPem: str(r.pending_pem),
  };
}
