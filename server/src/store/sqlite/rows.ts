/**
 * Row mapping of the SQLite store: snake_case rows as better-sqlite3 returns them → the
 * repository's English camelCase records. Nothing here touches the database.
 */
import type { Role } from '../../contract/api.js';
import type { AccountRecord, AuditRecord, CertificateRecord, GatewayRecord, GatewayWithCertificate, TokenRecord } from '../repository.js';

export type Row = Record<string, unknown>;

export const str = (v: unknown): string => v as string;
export const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : (v as string));

export function toAccount(r: Row): AccountRecord {
  return { id: r.id as number, name: str(r.name), isActive: r.is_active === 1, createdAt: str(r.created_at) };
}

export function toToken(r: Row): TokenRecord {
  return {
    id: r.id as number,
    accountId: r.account_id as number,
    role: r.role as Role,
    label: strOrNull(r.label),
    createdAt: str(r.created_at),
    revokedAt: strOrNull(r.revoked_at),
    serverAdmin: r.server_admin === 1,
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
    isOnline: r.is_online === 1,
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
