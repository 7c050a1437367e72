/**
 * REST API wire types (DESIGN.md §6). Field names follow the customer's seed exactly
 * (`mac_address`, `codigo`, `nome`, `conta_id`, `certificate_pem`, ...): a client written for the
 * seed's provision_gateway.py contract must work unchanged. Code identifiers elsewhere are English;
 * mapping happens at the API boundary.
 */

export type Role = 'admin' | 'operator' | 'auditor';

/** Every error response: `{ error, details? }`; `details.field` names the offending input. */
export interface ApiErrorBody {
  error: string;
  details?: { field?: string; [key: string]: unknown };
}

export interface ProvisionRequest {
  mac_address: string;
  codigo: string;
  nome: string;
  conta_id: number;
  /** PEM PKCS#10; when absent the server makes the key and returns it once. */
  csr_pem?: string;
}

export interface ProvisionResponse {
  gateway_id: number;
  certificate_pem: string;
  /** Only when the server made the key. */
  private_key_pem?: string;
  ca_pem: string;
  expires_at: string;
  serial_number: string;
  mqtt_broker: string;
  mqtt_port: number;
  mqtt_topic: string;
}

export interface CertificateSummary {
  id: number;
  mac_address: string;
  serial_number: string;
  issued_at: string;
  expires_at: string;
  is_revoked: boolean;
  revoked_at: string | null;
  revoke_reason: string | null;
  key_origin: 'device' | 'station' | 'server';
}

export interface Gateway {
  id: number;
  conta_id: number;
  codigo: string;
  mac: string;
  nome: string;
  qte_max_dispositivos: number;
  is_online: boolean;
  last_seen: string | null;
  firmware_version: string | null;
  created_at: string;
  active_certificate: CertificateSummary | null;
}

export interface GatewayDetail extends Gateway {
  certificados: CertificateSummary[];
}

export interface Paginated<T> {
  count: number;
  next: string | null;
  previous: string | null;
  results: T[];
}

/** Revocation reasons accepted by `revoke/` (RFC 5280 CRLReason names). */
export type RevokeReason =
  | 'unspecified'
  | 'keyCompromise'
  | 'affiliationChanged'
  | 'superseded'
  | 'cessationOfOperation'
  | 'certificateHold'
  | 'privilegeWithdrawn';

export interface RevokeRequest {
  /** One of RevokeReason, or free text (kept as the note; CRL reason = unspecified). */
  reason: string;
}

export interface RenewRequest {
  csr_pem?: string;
}

export interface ImportRowResult {
  line: number;
  mac_address: string;
  status: 'created' | 'error';
  gateway_id?: number;
  error?: string;
}

export interface ImportResponse {
  created: number;
  failed: number;
  rows: ImportRowResult[];
}

export interface AuditEvent {
  id: number;
  at: string;
  conta_id: number | null;
  actor: string;
  action: string;
  object: string | null;
  source_ip: string | null;
  result: 'ok' | 'denied' | 'error';
  detail: string | null;
}
