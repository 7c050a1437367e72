/**
 * The zero-touch onboarding contract (docs/zero-touch.md) that devices, the station and the server
 * share: the code alphabet and its normalisation, the QR payloads, the exact text each signature
 * covers, and the wire types. Pure functions only (the renderer imports this module): hashing and
 * signing live with the callers.
 */
import { macToHex12, parseMac } from './mac.js';

/** Crockford base32: no I, L, O, U, so nothing reads as another character. */
export const CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** Activation code: 8 characters = 40 bits, shown `XXXX-XXXX`. */
export const ACTIVATION_CODE_LENGTH = 8;
/** Claim secret: 26 characters ≥ 128 bits. */
export const CLAIM_SECRET_LENGTH = 26;

export type NormalisedText = { ok: true; value: string } | { ok: false; error: string };

/**
 * Upper case, spaces and dashes removed, O→0 and I/L→1 (what people type for those), then every
 * character must be in the alphabet and the length must be `length`.
 */
export function normaliseCodeText(input: unknown, length: number, what: string): NormalisedText {
  if (typeof input !== 'string') return { ok: false, error: `${what} must be a string` };
  if (input.length > 4 * length) return { ok: false, error: `${what} is too long (expected ${length} characters)` };
  const text = input
    .toUpperCase()
    .replace(/[\s-]+/g, '')
    .replace(/O/g, '0')
    .replace(/[IL]/g, '1');
  for (const ch of text) {
    if (!CODE_ALPHABET.includes(ch)) {
      const shown = /^[\x21-\x7e]$/.test(ch) ? `'${ch}'` : `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
      return { ok: false, error: `${what} contains ${shown}, which is not one of ${CODE_ALPHABET}` };
    }
  }
  if (text.length !== length) return { ok: false, error: `${what} must have ${length} characters (it has ${text.length})` };
  return { ok: true, value: text };
}

export function normaliseCode(input: unknown): NormalisedText {
  return normaliseCodeText(input, ACTIVATION_CODE_LENGTH, 'activation_code');
}

export function normaliseClaimSecret(input: unknown): NormalisedText {
  return normaliseCodeText(input, CLAIM_SECRET_LENGTH, 'claim_secret');
}

/** `K7M2Q4T0` → `K7M2-Q4T0`. */
export function formatCode(code: string): string {
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}

// ------------------------------------------------------------------------------------------ QR

const QR_PREFIX = { label: 'TDS:B1', device: 'TDS:C1' } as const;

/** Label QR of a bench-born device: MAC + claim secret. */
export function labelQr(mac: string, claimSecret: string): string {
  return `${QR_PREFIX.label}:${macToHex12(mac).toUpperCase()}:${claimSecret}`;
}

/** QR a device shows on the open path: MAC + activation code. */
export function deviceQr(mac: string, code: string): string {
  return `${QR_PREFIX.device}:${macToHex12(mac).toUpperCase()}:${code.replace(/-/g, '')}`;
}

export type ClaimQr =
  | { ok: true; kind: 'label'; mac: string; claimSecret: string }
  | { ok: true; kind: 'code'; mac: string; code: string }
  | { ok: false; error: string };

/** Reads a label or device QR payload (any case, surrounding blanks ignored). */
export function parseClaimQr(input: unknown): ClaimQr {
  if (typeof input !== 'string') return { ok: false, error: 'qr must be the text of the QR code' };
  const text = input.trim().toUpperCase();
  if (text.length > 80) return { ok: false, error: 'qr is too long to be a TDS claim QR' };
  const m = /^TDS:(B1|C1):([0-9A-F]{12}):([0-9A-Z-]+)$/.exec(text);
  if (!m) return { ok: false, error: "qr is not a TDS claim QR (expected 'TDS:B1:<MAC>:<secret>' from a label or 'TDS:C1:<MAC>:<code>' from a device)" };
  const mac = parseMac(m[2]!);
  if (!mac.ok) return { ok: false, error: `qr: ${mac.error}` };
  if (m[1] === 'B1') {
    const secret = normaliseClaimSecret(m[3]);
    return secret.ok ? { ok: true, kind: 'label', mac: mac.mac, claimSecret: secret.value } : { ok: false, error: `qr: ${secret.error}` };
  }
  const code = normaliseCode(m[3]);
  return code.ok ? { ok: true, kind: 'code', mac: mac.mac, code: code.value } : { ok: false, error: `qr: ${code.error}` };
}

// ------------------------------------------------------------------------------------------ signed text

/** What the birth key signs (attested bootstrap): `csrSha256Hex` is SHA-256 of the CSR's DER, lowercase hex. */
export function attestationMessage(mac: string, nonce: string, csrSha256Hex: string): string {
  return `tds-bootstrap-attest/1\n${mac}\n${nonce}\n${csrSha256Hex}`;
}

/** What the CSR key signs on every poll; `timestamp` in Unix seconds. */
export function pollMessage(bootstrapId: string, timestamp: number): string {
  return `tds-bootstrap-poll/1\n${bootstrapId}\n${timestamp}`;
}

export const POLL_TIMESTAMP_HEADER = 'x-tds-timestamp';
export const POLL_SIGNATURE_HEADER = 'x-tds-signature';

// ------------------------------------------------------------------------------------------ wire types

export type BootstrapPath = 'attested' | 'open';
export type BootstrapStatus = 'pending' | 'approved' | 'issued' | 'expired' | 'rejected';

/** Stable machine-readable refusal codes of the device endpoints (`details.code`). */
export const BOOTSTRAP_ERROR_CODES = [
  'bad_request',
  'rate_limited',
  'busy',
  'no_birth_identity',
  'too_many_nonces',
  'nonce_invalid',
  'open_enrolment_off',
  'too_many_pending',
  'csr_invalid',
  'birth_certificate_invalid',
  'birth_certificate_revoked',
  'birth_certificate_mac_mismatch',
  'attestation_invalid',
  'mac_has_identity',
  'signature_invalid',
  'timestamp_invalid',
  'slow_down',
  'expired',
  'rejected',
  'not_found',
] as const;
export type BootstrapErrorCode = (typeof BOOTSTRAP_ERROR_CODES)[number];

export interface BootstrapNonceRequest {
  mac_address: string;
}

export interface BootstrapNonceResponse {
  nonce: string;
  expires_at: string;
  expires_in: number;
}

export interface BootstrapRequest {
  mac_address: string;
  csr_pem: string;
  model?: string;
  firmware_version?: string;
  /** Attested path: the three come together. */
  birth_certificate_pem?: string;
  nonce?: string;
  attestation_signature?: string;
}

export interface BootstrapResponse {
  bootstrap_id: string;
  status: BootstrapStatus;
  path: BootstrapPath;
  mac_address: string;
  key_fingerprint: string;
  poll_url: string;
  poll_interval: number;
  expires_at: string;
  expires_in: number;
  /** The server's clock (Unix seconds), for devices without one (poll timestamps). */
  server_time: number;
  /** Open path, new request only. */
  activation_code?: string;
  qr_payload?: string;
}

export interface BootstrapPendingResponse {
  bootstrap_id: string;
  status: 'pending';
  poll_interval: number;
  expires_at: string;
}

export interface BootstrapIssuedResponse {
  bootstrap_id: string;
  status: 'issued';
  mac_address: string;
  gateway_id: number;
  codigo: string;
  certificate_pem: string;
  ca_pem: string;
  serial_number: string;
  expires_at: string;
  mqtt_broker: string;
  mqtt_port: number;
  mqtt_topic: string;
}

/** How an operator names the device to claim: a QR, the label typed by hand, or the code + housing MAC. */
export type ClaimCredentials = { qr: string } | { mac_address: string; claim_secret: string } | { mac_address: string; activation_code: string };

export interface ClaimPreviewResponse {
  bootstrap_id: string;
  status: BootstrapStatus;
  path: BootstrapPath;
  mac_address: string;
  model: string | null;
  firmware_version: string | null;
  key_fingerprint: string;
  key_type: string;
  requested_at: string;
  source_ip: string | null;
  expires_at: string;
  birth_serial_number: string | null;
  /** Whether the one-account-per-MAC rule lets this account claim it now. */
  mac_available: boolean;
  problem: string | null;
}

export type ClaimRequest = ClaimCredentials & { conta_id: number; codigo: string; nome: string; bootstrap_id?: string };

export interface ClaimResponse {
  gateway_id: number;
  bootstrap_id: string;
  status: 'approved';
  mac_address: string;
  conta_id: number;
  codigo: string;
  nome: string;
  serial_number: string;
  expires_at: string;
  download_url: string;
}

export type ClaimRejectRequest = ClaimCredentials & { bootstrap_id?: string; reason?: string };

export interface ClaimRejectResponse {
  bootstrap_id: string;
  status: 'rejected';
  reason: string;
}

export interface BirthIdentityRequest {
  mac_address: string;
  csr_pem: string;
  model?: string;
  /** Revoke an existing birth certificate of the MAC (superseded) and issue a new one. */
  replace?: boolean;
}

export interface BirthIdentityResponse {
  mac_address: string;
  serial_number: string;
  birth_certificate_pem: string;
  birth_ca_pem: string;
  expires_at: string;
  /** Shown once; only a hash is stored. */
  claim_secret: string;
  label_qr: string;
  server_url?: string;
}

export interface BirthRevokeResponse {
  mac_address: string;
  serial_number: string;
  revoked_at: string;
  reason: string;
  crl_number: number;
}
