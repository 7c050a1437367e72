/**
 * REST API wire types of the admin console (admin tokens; server admins act on every account),
 * the health endpoint and the presence history, in the seed's naming style like `api.ts`.
 */
import type { Role } from './api.js';

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
