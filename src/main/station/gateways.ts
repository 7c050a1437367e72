import { ApiError } from '@tds/server/client';
import type { CertificateSummary, Gateway, GatewayDetail, ImportResponse, TelemetryLatestResponse } from '@tds/server/contract';
import type { CertificateView, FileData, GatewayDetailView, GatewayPage, GatewayTelemetryView, GatewayView, ImportResult } from '../../shared/views.js';
import { toStationError, type ServerLink } from './server-link.js';

const PAGE_SIZE = 50;
/** Readings per series the detail view charts. */
const READINGS_PER_SERIES = 60;

function certView(c: CertificateSummary): CertificateView {
  return {
    id: c.id,
    serialNumber: c.serial_number,
    issuedAt: c.issued_at,
    expiresAt: c.expires_at,
    revoked: c.is_revoked,
    revokedAt: c.revoked_at,
    revokeReason: c.revoke_reason,
    keyOrigin: c.key_origin,
  };
}

/** Seed wire names → the UI's English ones; live presence from this station's monitor wins when known. */
export function gatewayView(g: Gateway, online: (mac: string) => boolean | undefined): GatewayView {
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
  };
}

function detailView(g: GatewayDetail, online: (mac: string) => boolean | undefined): GatewayDetailView {
  return { ...gatewayView(g, online), certificates: g.certificados.map(certView) };
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

/** The Gateways screen over the server's REST API. */
export class Gateways {
  constructor(
    private readonly server: ServerLink,
    private readonly online: (mac: string) => boolean | undefined,
    /** Told of every certificate a revocation from this station revoked. */
    private readonly onRevoked: (r: Revoked) => void = () => undefined,
  ) {}

  async list(search: string | undefined, page: number): Promise<GatewayPage> {
    const p = await this.server.call((c) => c.listGateways({ page, page_size: PAGE_SIZE, ...(search ? { search } : {}) }));
    return { count: p.count, page, pageSize: PAGE_SIZE, results: p.results.map((g) => gatewayView(g, this.online)) };
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
