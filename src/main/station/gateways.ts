import { ApiError } from '@tds/server/client';
import type { CertificateSummary, Gateway, GatewayDetail, ImportResponse, TelemetryLatestResponse } from '@tds/server/contract';
import type { CertificateView, FileData, GatewayDetailView, GatewayPage, GatewayStanding, GatewayTelemetryView, GatewayView, ImportResult } from '../../shared/views.js';
import { toStationError, type ServerLink } from './server-link.js';

const PAGE_SIZE = 50;
/** Readings per series the detail view charts. */
const READINGS_PER_SERIES = 60;
/** Details fetched at once to tell a revoked gateway from an expired one in a list page. */
const DETAIL_FETCHES = 6;

/** The server keeps a revocation as `reason` or `reason: note` (free text, or why the server revoked it). */
export function splitRevokeReason(text: string | null): { reason: string | null; note: string | null } {
  if (text === null) return { reason: null, note: null };
  const i = text.indexOf(': ');
  return i < 0 ? { reason: text, note: null } : { reason: text.slice(0, i), note: text.slice(i + 2) };
}

function certView(c: CertificateSummary): CertificateView {
  const { reason, note } = splitRevokeReason(c.revoke_reason);
  return {
    id: c.id,
    serialNumber: c.serial_number,
    issuedAt: c.issued_at,
    expiresAt: c.expires_at,
    status: c.status ?? (c.is_revoked ? 'revoked' : 'active'),
    revoked: c.is_revoked,
    revokedAt: c.revoked_at,
    revokeReason: reason,
    revokeNote: note,
    keyOrigin: c.key_origin,
  };
}

/**
 * What the certificates say, newest first: an active one that has not expired → active; else the
 * newest that is not pending was revoked (when, why) or expired; no certificate at all → none.
 */
export function standingOf(active: CertificateSummary | null, history: CertificateSummary[] | null, now = Date.now()): GatewayStanding {
  if (active && !active.is_revoked && Date.parse(active.expires_at) > now) return { kind: 'active' };
  const newest = history?.find((c) => c.status !== 'pending') ?? active;
  if (!newest) return { kind: 'none' };
  if (newest.is_revoked) {
    const { reason, note } = splitRevokeReason(newest.revoke_reason);
    return { kind: 'revoked', at: newest.revoked_at, reason: reason ?? 'unspecified', note };
  }
  return { kind: 'expired', at: newest.expires_at };
}

/** Seed wire names → the UI's English ones; live presence from this station's monitor wins when known. */
export function gatewayView(g: Gateway, online: (mac: string) => boolean | undefined, history: CertificateSummary[] | null = null): GatewayView {
  return {
    id: g.id,
    accountId: g.conta_id,
    code: g.codigo,
    name: g.nome,
    mac: g.mac,
    online: online(g.mac) ?? g.is_online,
    lastSeen: g.last_seen,
    firmwareVersion: g.firmware_version,
    createdAt: g.created_at,
    activeCertificate: g.active_certificate ? certView(g.active_certificate) : null,
    standing: standingOf(g.active_certificate, history),
  };
}

export function detailView(g: GatewayDetail, online: (mac: string) => boolean | undefined): GatewayDetailView {
  const d = g.renewal_delivery;
  return {
    ...gatewayView(g, online, g.certificados),
    certificates: g.certificados.map(certView),
    renewalDelivery: d
      ? { pendingSerial: d.pending_serial_number, replacesSerial: d.replaces_serial_number, attempts: d.attempts, lastAttemptAt: d.last_attempt_at, createdAt: d.created_at }
      : null,
  };
}

function telemetryView(r: TelemetryLatestResponse): GatewayTelemetryView {
  return {
    since: r.since,
    series: r.series.map((x) => ({ slaveId: x.slave_id, register: x.register, unit: x.unidade, points: x.results.map((p) => ({ at: p.timestamp, value: p.valor })) })),
  };
}

function importView(r: ImportResponse): ImportResult {
  return {
    created: r.created,
    failed: r.failed,
    rows: r.rows.map((x) => ({ line: x.line, mac: x.mac_address, status: x.status, gatewayId: x.gateway_id ?? null, error: x.error ?? null })),
  };
}

/** A certificate this station revoked (recorded in the station log). */
export interface Revoked {
  gateway: GatewayDetailView;
  certificate: CertificateView;
  reason: string;
}

/** `fn` over `items`, at most `limit` at a time, results in order. */
async function mapLimited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** The Gateways screen over the server's REST API. */
export class Gateways {
  constructor(
    private readonly server: ServerLink,
    private readonly online: (mac: string) => boolean | undefined,
    /** Told of every certificate a revocation from this station revoked. */
    private readonly onRevoked: (r: Revoked) => void = () => undefined,
  ) {}

  async list(search: string | undefined, page: number, expiresWithinDays?: number): Promise<GatewayPage> {
    const p = await this.server.call((c) =>
      c.listGateways({ page, page_size: PAGE_SIZE, ...(search ? { search } : {}), ...(expiresWithinDays !== undefined ? { expires_within_days: expiresWithinDays } : {}) }),
    );
    // The list carries only the active certificate: a gateway without one is looked at closer, so a
    // revoked gateway reads as revoked (and why), not as merely offline.
    const now = Date.now();
    const histories = await mapLimited(p.results, DETAIL_FETCHES, async (g) =>
      g.active_certificate && Date.parse(g.active_certificate.expires_at) > now ? null : (await this.server.call((c) => c.getGateway(g.id))).certificados,
    );
    return { count: p.count, page, pageSize: PAGE_SIZE, results: p.results.map((g, i) => gatewayView(g, this.online, histories[i] ?? null)) };
  }

  async get(id: number): Promise<GatewayDetailView> {
    return detailView(await this.server.call((c) => c.getGateway(id)), this.online);
  }

  /** The newest readings of each of the gateway's series (per register), from the server's telemetry store. */
  async telemetry(id: number): Promise<GatewayTelemetryView> {
    return telemetryView(await this.server.call((c) => c.latestTelemetry(id, { per_series: READINGS_PER_SERIES })));
  }

  async revoke(id: number, reason: string): Promise<GatewayDetailView> {
    const before = await this.get(id);
    await this.server.call((c) => c.revoke(id, reason));
    const after = await this.get(id);
    const wasRevoked = new Set(before.certificates.filter((c) => c.revoked).map((c) => c.id));
    for (const certificate of after.certificates) {
      if (certificate.revoked && !wasRevoked.has(certificate.id)) this.onRevoked({ gateway: after, certificate, reason });
    }
    return after;
  }

  async zip(id: number): Promise<FileData> {
    const r = await this.server.call((c) => c.downloadCertificates(id));
    return { fileName: r.filename, mime: 'application/zip', base64: r.zip.toString('base64') };
  }

  async importCsv(csv: string): Promise<ImportResult> {
    const client = await this.server.client();
    try {
      return importView(await client.importCsv(csv));
    } catch (err) {
      // The server imports all rows or none; a refused batch comes back with its per-row reasons.
      const failed = importFailure(err);
      if (failed) return failed;
      throw toStationError(err);
    }
  }
}

/** A refused import's per-row results, when the server sent them (details.rows). */
export function importFailure(err: unknown): ImportResult | undefined {
  if (!(err instanceof ApiError)) return undefined;
  const rows = (err.details as { rows?: ImportResponse['rows'] } | undefined)?.rows;
  if (!Array.isArray(rows)) return undefined;
  return importView({ created: 0, failed: rows.filter((r) => r.status === 'error').length, rows });
}
