import type { FileData } from './views.js';

/**
 * What the Admin screen shows (admin tokens): the server's audit log, accounts, API tokens, the
 * CRL's and the brokers' state. The server's wire names mapped to the UI's; plain data.
 */

export const TOKEN_ROLES = ['admin', 'operator', 'auditor'] as const;
export type TokenRole = (typeof TOKEN_ROLES)[number];

export const AUDIT_RESULTS = ['ok', 'denied', 'error'] as const;
export type AuditResult = (typeof AUDIT_RESULTS)[number];

export interface AuditEventView {
  id: number;
  at: string;
  accountId: number | null;
  /** `token:12`, `cli`, `server`, `scheduler`, `station`, `anonymous`, `device:<mac>`. */
  actor: string;
  /** `gateway.provision`, `certificate.revoke`, … */
  action: string;
  object: string | null;
  sourceIp: string | null;
  result: AuditResult;
  detail: string | null;
}

export interface AuditPageView {
  count: number;
  page: number;
  pageSize: number;
  rows: AuditEventView[];
}

export interface AuditExportView {
  file: FileData;
  total: number;
  /** More rows matched than the server exports at once: narrow the dates. */
  truncated: boolean;
}

export interface AccountView {
  id: number;
  name: string;
  active: boolean;
  createdAt: string;
}

export interface TokenView {
  id: number;
  accountId: number;
  role: TokenRole;
  label: string | null;
  serverAdmin: boolean;
  createdAt: string;
  revokedAt: string | null;
}

/** A new token: its secret travels once, to be shown once; the server keeps only a hash. */
export interface TokenCreatedView {
  token: TokenView;
  secret: string;
}

export interface BrokerPublicationView {
  at: string;
  crlNumber: number | null;
  ok: boolean;
  reloaded: boolean;
  /** Sessions of revoked identities the broker closed. */
  disconnected: number;
  error: string | null;
}

export interface CrlStateView {
  number: number;
  thisUpdate: string;
  nextUpdate: string;
  revokedCount: number;
  /** Server admins only: the last publication to each broker (null: never published there). */
  publications: { mosquitto: BrokerPublicationView | null; embedded: BrokerPublicationView | null } | null;
}

export interface BrokerStateView {
  mosquitto: {
    configured: boolean;
    host: string | null;
    port: number | null;
    publishDir: string | null;
    reload: string | null;
    sessionControl: boolean;
    builtAt: string | null;
    lastPublication: BrokerPublicationView | null;
  };
  embedded: { running: boolean; host: string | null; port: number | null; lastPublication: BrokerPublicationView | null };
  mqttClient: { enabled: boolean; connected: boolean };
}
