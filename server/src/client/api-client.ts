/**
 * Typed HTTP client for the issuance server's REST API: one code path for `tds-provision`, the
 * desktop station (remote server or the bundled one on 127.0.0.1) and the tests. Node's http/https
 * with a keep-alive agent; an optional pinned CA (`caPem`) replaces the system trust store.
 */
import http from 'node:http';
import https from 'node:https';
import type {
  AccountView,
  ApiTokenCreated,
  ApiTokenView,
  AuditEvent,
  AuditFilter,
  BrokerState,
  CreateTokenRequest,
  CrlState,
  DeliverRenewResponse,
  HealthzResponse,
  Gateway,
  GatewayDetail,
  ImportResponse,
  KeyType,
  Paginated,
  PendingRenewRequest,
  PendingRenewResponse,
  PresenceHistoryResponse,
  PresenceQuery,
  ProvisionRequest,
  ProvisionResponse,
  RenewalCancelResponse,
  RenewalConfirmResponse,
  RenewRequest,
  RenewRequestedResponse,
  RevokeResponse,
  TelemetryLatestQuery,
  TelemetryLatestResponse,
  TelemetryQuery,
  TelemetryResponse,
  WhoAmIResponse,
} from '../contract/api.js';
import {
  POLL_SIGNATURE_HEADER,
  POLL_TIMESTAMP_HEADER,
  pollMessage,
  type BirthIdentityRequest,
  type BirthIdentityResponse,
  type BirthRevokeResponse,
  type BootstrapIssuedResponse,
  type BootstrapNonceResponse,
  type BootstrapPendingResponse,
  type BootstrapRequest,
  type BootstrapResponse,
  type ClaimCredentials,
  type ClaimPreviewResponse,
  type ClaimRejectRequest,
  type ClaimRejectResponse,
  type ClaimRequest,
  type ClaimResponse,
} from '../contract/bootstrap.js';
import { ApiError, ServerUnreachableError, type UnreachableReason } from './errors.js';

export interface ApiClientOptions {
  /** `https://host:port` or the seed-style `https://host:port/api/v1`. */
  baseUrl: string;
  token?: string;
  /** Trust only this CA (PEM) for HTTPS. */
  caPem?: string;
  /** Per request; default 30 s. */
  timeoutMs?: number;
  /** Local address to connect from (a multi-homed host; simulations of many devices on loopback). */
  localAddress?: string;
}

export interface GatewayListQuery {
  page?: number;
  page_size?: number;
  search?: string;
  mac?: string;
  codigo?: string;
  is_online?: boolean;
  /** Only gateways whose active certificate expires within this many days. */
  expires_within_days?: number;
  conta_id?: number;
}

export interface AuditListQuery extends AuditFilter {
  page?: number;
  page_size?: number;
}

const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
const HEALTHZ = '/healthz';

/** A poll's outcome (docs/zero-touch.md §3.3); other refusals throw ApiError. */
export type BootstrapPollResult =
  | { status: 'pending'; retryAfterSeconds: number; body: BootstrapPendingResponse }
  | { status: 'issued'; body: BootstrapIssuedResponse }
  | { status: 'slow_down'; retryAfterSeconds: number }
  | { status: 'gone'; code: 'expired' | 'rejected'; error: string };

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function classify(err: NodeJS.ErrnoException): UnreachableReason {
  const code = err.code ?? '';
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ETIMEDOUT' || code === 'ABORT_ERR' || code === 'TDS_TIMEOUT') return 'timeout';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'dns';
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED') return 'reset';
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO|HOSTNAME|ALTNAME/i.test(code)) return 'tls';
  return 'other';
}

const REASON_TEXT: Record<UnreachableReason, string> = {
  refused: 'connection refused (is the server running on that port?)',
  timeout: 'no answer in time',
  dns: 'unknown host name',
  tls: 'TLS failed (wrong pinned CA, wrong host name, or not an HTTPS server)',
  reset: 'connection reset',
  other: 'network error',
};

export class ApiClient {
  readonly apiUrl: string;
  private readonly origin: URL;
  private readonly agent: http.Agent;
  private readonly timeoutMs: number;

  constructor(private readonly options: ApiClientOptions) {
    const trimmed = options.baseUrl.replace(/\/+$/, '');
    this.apiUrl = trimmed.endsWith('/api/v1') ? trimmed : `${trimmed}/api/v1`;
    this.origin = new URL(this.apiUrl);
    if (this.origin.protocol !== 'https:' && this.origin.protocol !== 'http:') throw new Error(`baseUrl must be http(s): ${options.baseUrl}`);
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.agent =
      this.origin.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, maxSockets: 64, ...(options.caPem ? { ca: options.caPem } : {}), ...(options.localAddress ? { localAddress: options.localAddress } : {}) })
        : new http.Agent({ keepAlive: true, maxSockets: 64, ...(options.localAddress ? { localAddress: options.localAddress } : {}) });
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.agent.destroy();
  }

  // ---------------------------------------------------------------------------- endpoints

  provision(body: ProvisionRequest): Promise<ProvisionResponse> {
    return this.json('POST', '/gateways/provision/', body);
  }

  listGateways(query: GatewayListQuery = {}): Promise<Paginated<Gateway>> {
    return this.json('GET', `/gateways/${qs(query)}`);
  }

  /** Every gateway of the account, following `next` pages. */
  async listAllGateways(query: Omit<GatewayListQuery, 'page'> = {}): Promise<Gateway[]> {
    const out: Gateway[] = [];
    for (let page = 1; ; page++) {
      const p = await this.listGateways({ ...query, page, page_size: query.page_size ?? 200 });
      out.push(...p.results);
      if (!p.next) return out;
    }
  }

  getGateway(id: number): Promise<GatewayDetail> {
    return this.json('GET', `/gateways/${id}/`);
  }

  /** The ZIP of seed strategy 1 (client.crt, ca.crt, README.txt, client.key once after an import). */
  async downloadCertificates(id: number): Promise<{ filename: string; zip: Buffer }> {
    const path = `/gateways/${id}/certificados/`;
    const r = await this.request('GET', path);
    this.throwIfError(r, 'GET', path);
    const disposition = String(r.headers['content-disposition'] ?? '');
    return { filename: safeFileName(/filename="([^"]+)"/.exec(disposition)?.[1], `gateway-${id}_certificados.zip`), zip: r.body };
  }

  revoke(id: number, reason: string): Promise<RevokeResponse> {
    return this.json('POST', `/gateways/${id}/revoke/`, { reason });
  }

  /**
   * POST gateways/{id}/renew/. Plain (the seed's behaviour): 201, the old certificate is revoked at
   * once. `ask_device: true`: 202, the device renews itself over MQTT. `pending: true`: 201 with the
   * new certificate pending (see renewPending).
   */
  renew(id: number, body: RenewRequest & { ask_device: true }): Promise<RenewRequestedResponse>;
  renew(id: number, body: RenewRequest & { pending: true }): Promise<PendingRenewResponse>;
  renew(id: number, body: RenewRequest & { deliver: true }): Promise<DeliverRenewResponse>;
  renew(id: number, body?: RenewRequest & { ask_device?: false; pending?: false; deliver?: false }): Promise<ProvisionResponse>;
  renew(id: number, body: RenewRequest = {}): Promise<ProvisionResponse | PendingRenewResponse | RenewRequestedResponse | DeliverRenewResponse> {
    return this.json('POST', `/gateways/${id}/renew/`, body);
  }

  /**
   * A renewal the server delivers to the device over MQTT: a pending certificate for the key the
   * device has; the server asks the device now if it is online, else when it next comes online.
   */
  renewAndDeliver(id: number): Promise<DeliverRenewResponse> {
    return this.json('POST', `/gateways/${id}/renew/`, { deliver: true });
  }

  /**
   * A new certificate that waits for confirmation; the active one stays valid until
   * confirmRenewal (then it is revoked, superseded) or cancelRenewal (the new one is revoked). An
   * earlier unconfirmed certificate of the gateway is replaced (revoked).
   */
  renewPending(id: number, body: PendingRenewRequest = {}): Promise<PendingRenewResponse> {
    return this.json('POST', `/gateways/${id}/renew/`, { ...body, pending: true });
  }

  /** The pending certificate has been seen working: it becomes active, the old one is revoked. Idempotent. */
  confirmRenewal(id: number, serialNumber: string): Promise<RenewalConfirmResponse> {
    return this.json('POST', `/gateways/${id}/renew/confirm/`, { serial_number: serialNumber });
  }

  /** Abandons the pending certificate (failed install): it is revoked, the active one stays. Idempotent with a serial. */
  cancelRenewal(id: number, serialNumber?: string): Promise<RenewalCancelResponse> {
    return this.json('POST', `/gateways/${id}/renew/cancel/`, serialNumber === undefined ? {} : { serial_number: serialNumber });
  }

  /** Stored telemetry, oldest first (servers with an MQTT side); page on with `next`. */
  telemetry(id: number, query: TelemetryQuery = {}): Promise<TelemetryResponse> {
    const since = query.since instanceof Date ? query.since.toISOString() : query.since;
    return this.json('GET', `/gateways/${id}/telemetry/${qs({ ...query, since })}`);
  }

  /** Each series' newest readings (servers with an MQTT side; others answer 404 "no such endpoint"). */
  latestTelemetry(id: number, query: TelemetryLatestQuery = {}): Promise<TelemetryLatestResponse> {
    const since = query.since instanceof Date ? query.since.toISOString() : query.since;
    return this.json('GET', `/gateways/${id}/telemetry/latest/${qs({ ...query, since })}`);
  }

  /** CSV `mac_address,codigo,nome`; all rows or none (ApiError 400/409 with details.rows). */
  importCsv(csv: string, options: { key_type?: KeyType } = {}): Promise<ImportResponse> {
    return this.json('POST', `/gateways/import/${qs(options)}`, csv, 'text/csv');
  }

  listAudit(query: AuditListQuery = {}): Promise<Paginated<AuditEvent>> {
    return this.json('GET', `/audit/${qs(query)}`);
  }

  // ---------------------------------------------------------------------------- admin console

  /** The filtered audit log as CSV (formula-like cells neutralised); `truncated` past the export's row cap. */
  async exportAuditCsv(filter: AuditFilter = {}): Promise<{ csv: string; total: number; truncated: boolean }> {
    const path = `/audit/export.csv${qs(filter)}`;
    const r = await this.request('GET', path);
    this.throwIfError(r, 'GET', path);
    return { csv: r.body.toString('utf8'), total: Number(r.headers['x-total-count'] ?? 0), truncated: r.headers['x-truncated'] === 'true' };
  }

  /** The calling token's id, account, role and server-admin flag (any role). */
  whoami(): Promise<WhoAmIResponse> {
    return this.json('GET', '/whoami/');
  }

  listAccounts(): Promise<AccountView[]> {
    return this.json('GET', '/accounts/');
  }

  /** Server admins only. */
  createAccount(name: string): Promise<AccountView> {
    return this.json('POST', '/accounts/', { name });
  }

  renameAccount(id: number, name: string): Promise<AccountView> {
    return this.json('PATCH', `/accounts/${id}/`, { name });
  }

  /** Tokens without their secrets: the account's (server admins: any account, or all). */
  listTokens(query: { conta_id?: number } = {}): Promise<ApiTokenView[]> {
    return this.json('GET', `/tokens/${qs(query)}`);
  }

  /** A new token; its secret is in the answer's `token`, shown only this once. */
  createToken(body: CreateTokenRequest): Promise<ApiTokenCreated> {
    return this.json('POST', '/tokens/', body);
  }

  revokeToken(id: number): Promise<ApiTokenView> {
    return this.json('POST', `/tokens/${id}/revoke/`, {});
  }

  crlState(): Promise<CrlState> {
    return this.json('GET', '/crl/');
  }

  /** Server admins only. */
  brokerState(): Promise<BrokerState> {
    return this.json('GET', '/broker/');
  }

  /** A gateway's online/offline transitions and its uptime over the window (default: the last 7 days). */
  presenceHistory(id: number, query: PresenceQuery = {}): Promise<PresenceHistoryResponse> {
    const iso = (v: string | Date | undefined): string | undefined => (v instanceof Date ? v.toISOString().replace(/\.\d{3}Z$/, 'Z') : v);
    return this.json('GET', `/gateways/${id}/presence/${qs({ since: iso(query.since), until: iso(query.until) })}`);
  }

  // ---------------------------------------------------------------------------- zero-touch onboarding

  /** Device, attested path: a nonce for the attestation signature. */
  bootstrapNonce(macAddress: string): Promise<BootstrapNonceResponse> {
    return this.json('POST', '/gateways/bootstrap/nonce/', { mac_address: macAddress });
  }

  /** Device: asks to join (201 new, 200 the same key's approved or issued request). */
  bootstrap(body: BootstrapRequest): Promise<BootstrapResponse> {
    return this.json('POST', '/gateways/bootstrap/', body);
  }

  /**
   * Device: one poll, signed by `sign` (the CSR key's signature, base64, over the message it is given;
   * docs/zero-touch.md §2.5) with `timestamp` in Unix seconds.
   */
  async pollBootstrap(id: string, timestamp: number, sign: (message: string) => string | Promise<string>): Promise<BootstrapPollResult> {
    const path = `/gateways/bootstrap/${encodeURIComponent(id)}/`;
    const headers = { [POLL_TIMESTAMP_HEADER]: String(timestamp), [POLL_SIGNATURE_HEADER]: await sign(pollMessage(id, timestamp)) };
    const r = await this.request('GET', path, undefined, undefined, headers);
    const retryAfter = Number(r.headers['retry-after'] ?? 0) || 0;
    const body = (): Record<string, unknown> => JSON.parse(r.body.toString('utf8')) as Record<string, unknown>;
    if (r.status === 202) return { status: 'pending', retryAfterSeconds: retryAfter, body: body() as unknown as BootstrapPendingResponse };
    if (r.status === 200) return { status: 'issued', body: body() as unknown as BootstrapIssuedResponse };
    if (r.status === 429 && (body().details as { code?: string } | undefined)?.code === 'slow_down') return { status: 'slow_down', retryAfterSeconds: retryAfter };
    if (r.status === 410) {
      const b = body() as { error?: string; details?: { code?: string } };
      return { status: 'gone', code: b.details?.code === 'rejected' ? 'rejected' : 'expired', error: b.error ?? 'gone' };
    }
    this.throwIfError(r, 'GET', path);
    throw new ApiError(r.status, `unexpected answer ${r.status}`, undefined, 'GET', path);
  }

  /** Operator: what the server saw of the device named by a QR, a label typed by hand, or code + MAC. */
  claimPreview(credentials: ClaimCredentials): Promise<ClaimPreviewResponse> {
    return this.json('POST', '/gateways/ativar/preview/', credentials);
  }

  /** Operator: approves the device for the account (POST gateways/ativar/). */
  claim(body: ClaimRequest): Promise<ClaimResponse> {
    return this.json('POST', '/gateways/ativar/', body);
  }

  claimReject(body: ClaimRejectRequest): Promise<ClaimRejectResponse> {
    return this.json('POST', '/gateways/ativar/reject/', body);
  }

  /** Bench: a birth identity for a MAC (the claim secret is in this answer only). */
  issueBirthIdentity(body: BirthIdentityRequest): Promise<BirthIdentityResponse> {
    return this.json('POST', '/gateways/birth/', body);
  }

  revokeBirthIdentity(macAddress: string, reason: string): Promise<BirthRevokeResponse> {
    return this.json('POST', '/gateways/birth/revoke/', { mac_address: macAddress, reason });
  }

  async getBirthCaPem(): Promise<string> {
    return this.text('/birth-ca.pem');
  }

  async getBirthCrlPem(): Promise<string> {
    return this.text('/birth-crl.pem');
  }

  async getCaPem(): Promise<string> {
    return this.text('/ca.pem');
  }

  async getCrlPem(): Promise<string> {
    return this.text('/crl.pem');
  }

  getOpenApi(): Promise<Record<string, unknown>> {
    return this.json('GET', '/openapi.json');
  }

  health(): Promise<{ status: string }> {
    return this.json('GET', '/health');
  }

  /** `/healthz` (outside /api/v1): version and the scheduled jobs' last and next runs. */
  healthz(): Promise<HealthzResponse> {
    return this.json('GET', HEALTHZ);
  }

  // ---------------------------------------------------------------------------- transport

  private async text(path: string): Promise<string> {
    const r = await this.request('GET', path);
    this.throwIfError(r, 'GET', path);
    return r.body.toString('utf8');
  }

  private async json<T>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const r = await this.request(method, path, payload, contentType);
    this.throwIfError(r, method, path);
    try {
      return JSON.parse(r.body.toString('utf8')) as T;
    } catch {
      throw new ApiError(r.status, 'the server answered with something that is not JSON', undefined, method, path);
    }
  }

  private throwIfError(r: RawResponse, method: string, path: string): void {
    if (r.status >= 200 && r.status < 300) return;
    let error = `HTTP ${r.status}`;
    let details: ApiError['details'];
    try {
      const parsed = JSON.parse(r.body.toString('utf8')) as { error?: unknown; details?: unknown };
      if (typeof parsed.error === 'string') error = parsed.error;
      if (parsed.details && typeof parsed.details === 'object') details = parsed.details as ApiError['details'];
    } catch {
      /* not JSON: keep the status text */
    }
    const retryAfter = Number(r.headers['retry-after']);
    throw new ApiError(r.status, error, details, method, path, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined);
  }

  private request(method: string, path: string, body?: string, contentType?: string, extraHeaders: Record<string, string> = {}): Promise<RawResponse> {
    const url = path === HEALTHZ ? new URL(HEALTHZ, this.origin) : new URL(this.apiUrl + path);
    const headers: http.OutgoingHttpHeaders = { accept: 'application/json', ...extraHeaders };
    if (this.options.token) headers.authorization = `Token ${this.options.token}`;
    if (body !== undefined) {
      headers['content-type'] = contentType;
      headers['content-length'] = Buffer.byteLength(body);
    }
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise<RawResponse>((resolve, reject) => {
      const req = lib.request(url, { method, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) req.destroy(new Error('response too large'));
          else chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', (err) => fail(err));
      });
      const fail = (err: NodeJS.ErrnoException): void => {
        const reason = classify(err);
        reject(new ServerUnreachableError(reason, this.apiUrl, `cannot reach the TDS server at ${this.origin.origin}: ${REASON_TEXT[reason]} [${err.code ?? err.message}]`, err.code));
      };
      req.setTimeout(this.timeoutMs, () => {
        const err = new Error('timeout') as NodeJS.ErrnoException;
        err.code = 'TDS_TIMEOUT';
        req.destroy(err);
      });
      req.on('error', fail);
      if (body !== undefined) req.end(body);
      else req.end();
    });
  }
}

function qs(query: object): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null) p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

/**
 * A file name from a server reduced to a base name that is safe to write next to others: the part
 * after the last folder separator, only letters, digits and `._:-`, not starting with a dot, no
 * `..`; anything else becomes `fallback`.
 */
export function safeFileName(name: string | undefined, fallback: string): string {
  const base = name?.split(/[\\/]/).pop() ?? '';
  return /^[A-Za-z0-9][A-Za-z0-9._:-]{0,120}$/.test(base) && !base.includes('..') ? base : fallback;
}
