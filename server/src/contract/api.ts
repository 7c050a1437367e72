/**
 * REST API wire types (DESIGN.md §6). Field names follow the customer's seed exactly
 * (`mac_address`, `codigo`, `nome`, `conta_id`, `certificate_pem`, ...): a client written for the
 * seed's provision_gateway.py contract must work unchanged. Code identifiers elsewhere are English;
 * mapping happens at the API boundary.
 */

export type Role = 'admin' | 'operator' | 'auditor';

/** Key types the CA makes and accepts: EC (P-256 when the server makes it) or RSA. The one definition. */
export const KEY_TYPES = ['ec', 'rsa'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

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
  /** Key type when the server makes the key (default from the server's settings, normally "ec"). */
  key_type?: KeyType;
  /** Who made the CSR's key: the device itself (default) or the station, for the records. */
  key_origin?: 'device' | 'station';
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
  /** Canonical MAC the certificate was issued for (additional to the seed's fields). */
  mac_address?: string;
  /** Things the caller may want to know, e.g. that the MAC was normalised. */
  notices?: string[];
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
  /** "pending" = a renewal the device has not confirmed yet. */
  status?: 'pending' | 'active' | 'revoked' | 'expired';
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
  /** A server-made key is waiting (sealed) for its one ZIP download. */
  private_key_available?: boolean;
  /** A renewal waiting to be delivered to the device over MQTT (renewal sweep, `renew/` with `deliver`). */
  renewal_delivery?: RenewalDeliveryState | null;
}

export interface RenewalDeliveryState {
  /** The certificate waiting for the device (replaced when the device answers with a new key). */
  pending_serial_number: string;
  /** The certificate that stays valid until the device acks. */
  replaces_serial_number: string;
  /** `cert_renew` requests sent so far. */
  attempts: number;
  last_attempt_at: string | null;
  last_command_id: string | null;
  created_at: string;
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

export interface RevokeResponse {
  gateway_id: number;
  revoked: { serial_number: string; revoked_at: string; reason: string }[];
  /** The CRL that already lists them. */
  crl_number: number;
}

export interface RenewRequest {
  csr_pem?: string;
  key_type?: KeyType;
  key_origin?: 'device' | 'station';
  /**
   * Ask the device over MQTT (`cert_renew`) to make a new key and send a CSR itself; the old
   * certificate stays valid until the device confirms the new one. Answered with 202.
   */
  ask_device?: boolean;
  /**
   * Issue the new certificate as *pending*: the active one stays valid until
   * `renew/confirm/` (then it is revoked, superseded) or `renew/cancel/` (the new one is revoked).
   * Answered with 201 `PendingRenewResponse`. Without it (the seed's behaviour) the old certificate
   * is revoked at once.
   */
  pending?: boolean;
  /**
   * Make a pending certificate for the active one's key and have the server deliver the renewal over
   * MQTT: it asks the device (`cert_renew`) now if online, else when it next comes online; the old
   * certificate stays valid until the device acks. Answered with 201 `DeliverRenewResponse`.
   */
  deliver?: boolean;
}

/** 201 answer to `renew/` with `deliver: true`. */
export interface DeliverRenewResponse extends PendingRenewResponse {
  delivery: { status: 'asked' | 'waiting'; command_id: string | null };
}

/** Body of `renew/` with `pending: true`. */
export type PendingRenewRequest = Omit<RenewRequest, 'ask_device' | 'pending' | 'deliver'>;

/** 201 answer to `renew/` with `pending: true`: the provisioning fields plus the renewal state. */
export interface PendingRenewResponse extends ProvisionResponse {
  status: 'pending';
  /** The certificate that stays valid until this one is confirmed. */
  replaces_serial_number: string;
}

/** Body of `renew/confirm/`. */
export interface RenewalConfirmRequest {
  /** The pending certificate's serial (uppercase hex; lower case accepted). */
  serial_number: string;
}

/** 200 answer to `renew/confirm/`. */
export interface RenewalConfirmResponse {
  gateway_id: number;
  serial_number: string;
  status: 'active';
  /** The previous certificate, now revoked (superseded); null when it had expired. */
  superseded: { serial_number: string; revoked_at: string; reason: string } | null;
  /** True when it was already active: a repeated confirmation changes nothing. */
  already_confirmed: boolean;
  /** The CRL that lists the superseded certificate. */
  crl_number: number;
}

/** Body of `renew/cancel/` (optional: without a serial, the gateway's pending certificate). */
export interface RenewalCancelRequest {
  serial_number?: string;
}

/** 200 answer to `renew/cancel/`. */
export interface RenewalCancelResponse {
  gateway_id: number;
  serial_number: string;
  status: 'revoked';
  revoked_at: string;
  /** cessationOfOperation */
  reason: string;
  /** True when it had already been cancelled: a repeated cancellation changes nothing. */
  already_cancelled: boolean;
  /** The gateway's certificate, which stays valid. */
  active_serial_number: string | null;
  /** The CRL that lists the cancelled certificate. */
  crl_number: number;
}

/** 202 answer to `renew/` with `ask_device: true`. */
export interface RenewRequestedResponse {
  gateway_id: number;
  mac_address: string;
  status: 'requested';
  /** `id` of the `cert_renew` command; the device echoes it in its `cert/csr`. */
  command_id: string;
}

/** One stored reading (seed telemetry payload plus the server's receive time). */
export interface TelemetryReading {
  id: number;
  /** The device's own timestamp (ISO 8601). */
  timestamp: string;
  received_at: string;
  valor: number;
  unidade: string;
  slave_id: number | null;
  register: number | null;
  firmware_version: string | null;
}

/** Query of `GET gateways/{id}/telemetry/`. */
export interface TelemetryQuery {
  /** ISO 8601 time or epoch seconds (a Date is sent as ISO 8601); default: the last 24 hours. */
  since?: string | number | Date;
  /** From `next.after_id` of the previous page. */
  after_id?: number;
  /** 1–10,000; default 1,000. */
  limit?: number;
}

/** `GET gateways/{id}/telemetry/?since=&after_id=&limit=`: oldest first. */
export interface TelemetryResponse {
  gateway_id: number;
  mac_address: string;
  since: string;
  count: number;
  results: TelemetryReading[];
  /** Query for the next page (`since` + `after_id`), or null when this page was not full. */
  next: { since: string; after_id: number } | null;
}

/** Query of `GET gateways/{id}/telemetry/latest/`. */
export interface TelemetryLatestQuery {
  /** ISO 8601 time or epoch seconds (a Date is sent as ISO 8601); default: the last 24 hours. */
  since?: string | number | Date;
  /** Newest readings kept per series, 1–500; default 60. */
  per_series?: number;
}

/** One series: the readings of one register (slave, register, unit), oldest first. */
export interface TelemetrySeries {
  slave_id: number | null;
  register: number | null;
  unidade: string;
  results: TelemetryReading[];
}

/**
 * `GET gateways/{id}/telemetry/latest/?since=&per_series=`: each series' newest readings received
 * since `since` (at most TELEMETRY_MAX_SERIES series, by slave, register, unit), for a gateway's
 * "latest readings" view; a register read once an hour is not crowded out by one read every second.
 */
export interface TelemetryLatestResponse {
  gateway_id: number;
  mac_address: string;
  since: string;
  series: TelemetrySeries[];
}

/** Most series `telemetry/latest/` returns. */
export const TELEMETRY_MAX_SERIES = 64;

export interface ImportRowResult {
  line: number;
  mac_address: string;
  /** "not_imported": the row was valid but the import was refused because of other rows. */
  status: 'created' | 'error' | 'not_imported';
  gateway_id?: number;
  serial_number?: string;
  expires_at?: string;
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

// ------------------------------------------------------------------------------------------
// Admin console (admin tokens; server admins act on every account)

/** Filters of `GET audit/` and `GET audit/export.csv`. */
export interface AuditFilter {
  action?: string;
  /** ISO-8601 UTC; from (inclusive). */
  since?: string;
  /** ISO-8601 UTC; before (exclusive). */
  until?: string;
  /** e.g. "token:12", "cli", "server", "device:aa:bb:cc:dd:ee:ff". */
  actor?: string;
  /** Events on this gateway or on one of its certificates. */
  gateway_id?: number;
  result?: 'ok' | 'denied' | 'error';
  /** Server admins: one account's events (default: all, the server's own included). */
  conta_id?: number;
}

export interface AccountView {
  id: number;
  name: string;
  is_active: boolean;
  created_at: string;
}

/** An API token as listed: never its secret (only a hash is stored). */
export interface ApiTokenView {
  id: number;
  conta_id: number;
  role: Role;
  label: string | null;
  server_admin: boolean;
  created_at: string;
  revoked_at: string | null;
}

export interface CreateTokenRequest {
  role: Role;
  /** Default: the token's own account; another account needs a server admin token. */
  conta_id?: number;
  label?: string;
  /** Role admin only; only a server admin may make one. */
  server_admin?: boolean;
}

/** `GET whoami/` (any valid token): which token this is, so a client can show what its role allows. */
export interface WhoAmIResponse {
  token_id: number;
  conta_id: number;
  role: Role;
  server_admin: boolean;
}

/** 201 answer of `POST tokens/`: the secret is in `token`, shown only here. */
export interface ApiTokenCreated extends ApiTokenView {
  token: string;
}

export interface BrokerPublication {
  at: string;
  crl_number: number | null;
  result: 'ok' | 'error';
  reloaded: boolean;
  /** Identities whose live sessions were disconnected. */
  disconnected: number;
  error: string | null;
}

/** `GET crl/`: the CRL as stored, and its last publication to each broker this server feeds. */
export interface CrlState {
  crl_number: number;
  this_update: string;
  next_update: string;
  revoked_count: number;
  /** Present for server admins when the server runs its broker side. */
  publications?: { mosquitto: BrokerPublication | null; embedded: BrokerPublication | null };
}

/** `GET broker/` (server admins): the brokers this server feeds and the last publication to each. */
export interface BrokerState {
  mosquitto: {
    configured: boolean;
    host: string | null;
    port: number | null;
    publish_dir: string | null;
    reload: string | null;
    session_control: boolean;
    built_at: string | null;
    last_publication: BrokerPublication | null;
  };
  embedded: { running: boolean; host: string | null; port: number | null; last_publication: BrokerPublication | null };
  mqtt_client: { enabled: boolean; connected: boolean };
}

export interface PresenceQuery {
  /** ISO-8601 UTC; default 7 days ago. */
  since?: string | Date;
  /** ISO-8601 UTC; default now. */
  until?: string | Date;
}

/** `GET gateways/{id}/presence/`: online/offline transitions and the uptime over the window. */
export interface PresenceHistoryResponse {
  gateway_id: number;
  mac_address: string;
  since: string;
  until: string;
  /** The state at `since` (null: unknown, older than the history's retention). */
  state_at_start: 'online' | 'offline' | null;
  transitions: { status: 'online' | 'offline'; at: string }[];
  online_seconds: number;
  window_seconds: number;
  uptime_percent: number | null;
  truncated: boolean;
}

/** `GET /healthz`: status ("degraded" while a scheduled job's last run failed), version, schedule. */
export interface HealthzResponse {
  status: 'ok' | 'degraded';
  version: string;
  schedule: Record<'renewal' | 'crl', { enabled: boolean; lastRun: string | null; lastResult: 'ok' | 'error' | null; nextRun: string | null }>;
}
