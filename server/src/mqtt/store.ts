/**
 * The MQTT side's view of the store: presence and telemetry sinks, and the certificate queries the
 * broker ACL and renewal need, over the backend-neutral `MqttRepository` (SQLite or PostgreSQL),
 * with a short MAC → gateway cache and the identity rules of `contract/`.
 *
 * A MAC belongs to the gateway that holds its active (or pending) device certificate: a MAC may
 * exist in several accounts over time, but only one of them can have a valid certificate for it.
 */
import { classifyCommonName, type ServiceKind } from '../contract/index.js';
import type { DeviceCertificateRow, MqttRepository, ServiceCertificateRow, TelemetryReadingRecord } from '../store/mqtt-repository.js';
import type { PresenceSink, PresenceUpdate } from './presence.js';
import type { TelemetryRow, TelemetrySink } from './telemetry.js';

export type { DeviceCertificateRow, TelemetryReadingRecord };

/** The readings of one series (one register of one slave, in one unit), oldest first. */
export interface TelemetrySeriesRecord {
  slaveId: number | null;
  register: number | null;
  unidade: string;
  readings: TelemetryReadingRecord[];
}

const isoSeconds = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
const MAC_CACHE_MS = 10_000;

export class MqttStore implements PresenceSink, TelemetrySink {
  private readonly macCache = new Map<string, { gatewayId: number | null; at: number }>();

  constructor(readonly repo: MqttRepository) {}

  /** Forget cached MAC → gateway mappings (after issuance or revocation). */
  invalidate(mac?: string): void {
    if (mac) this.macCache.delete(mac);
    else this.macCache.clear();
  }

  async gatewayIdForMac(mac: string, now = Date.now()): Promise<number | null> {
    const hit = this.macCache.get(mac);
    if (hit && now - hit.at < MAC_CACHE_MS) return hit.gatewayId;
    const gatewayId = await this.repo.gatewayIdForMac(mac);
    this.macCache.set(mac, { gatewayId, at: now });
    return gatewayId;
  }

  // -- presence
  // Every online/offline transition is also kept in presence_events (the gateway's history), in the
  // same transaction as the state it records (the repository does both).
  async resetAll(): Promise<void> {
    await this.repo.resetPresence(isoSeconds(new Date()));
  }

  /** Online gateways not seen since `before` go offline (presence kept by several instances). */
  async expireStale(before: Date): Promise<void> {
    await this.repo.expirePresence(isoSeconds(before), isoSeconds(new Date()));
  }

  /** A gateway whose certificate was revoked cannot be online (its MAC no longer maps to it). */
  async setGatewayOffline(gatewayId: number): Promise<void> {
    await this.repo.setGatewayOffline(gatewayId, isoSeconds(new Date()));
  }

  async update(u: PresenceUpdate): Promise<void> {
    const id = await this.gatewayIdForMac(u.mac);
    if (id === null) return;
    await this.repo.updatePresence(id, { at: isoSeconds(new Date()), isOnline: u.isOnline, lastSeen: u.lastSeen ? isoSeconds(u.lastSeen) : null, firmwareVersion: u.firmwareVersion });
  }

  // -- telemetry
  async insertTelemetry(rows: readonly TelemetryRow[]): Promise<number> {
    const ids = new Map<string, number | null>();
    for (const r of rows) if (!ids.has(r.mac)) ids.set(r.mac, await this.gatewayIdForMac(r.mac));
    const known = rows.flatMap((r) => {
      const gatewayId = ids.get(r.mac);
      return gatewayId === null || gatewayId === undefined ? [] : [{ ...r, gatewayId }];
    });
    if (known.length === 0) return 0;
    return this.repo.insertTelemetry(
      known.map((r) => ({
        gatewayId: r.gatewayId,
        measuredAt: r.measuredAt,
        receivedAt: r.receivedAt,
        valor: r.valor,
        unidade: r.unidade,
        slaveId: r.slaveId,
        register: r.register,
        firmwareVersion: r.firmwareVersion,
      })),
    );
  }

  deleteTelemetryBefore(cutoff: Date): Promise<number> {
    return this.repo.deleteTelemetryBefore(cutoff.toISOString());
  }

  /** Readings received at or after `since` (after `afterId` within that instant), oldest first. */
  listTelemetry(gatewayId: number, since: Date, limit: number, afterId = 0): Promise<TelemetryReadingRecord[]> {
    return this.repo.listTelemetry(gatewayId, since.toISOString(), limit, afterId);
  }

  /**
   * The newest `perSeries` readings of each series (slave, register, unit) received at or after
   * `since`, at most `maxSeries` series ordered by slave, register and unit; readings oldest first.
   */
  async latestTelemetry(gatewayId: number, since: Date, perSeries: number, maxSeries: number): Promise<TelemetrySeriesRecord[]> {
    const out: TelemetrySeriesRecord[] = [];
    for (const r of await this.repo.latestTelemetry(gatewayId, since.toISOString(), perSeries, maxSeries)) {
      const last = out.at(-1);
      if (last && last.slaveId === r.slaveId && last.register === r.register && last.unidade === r.unidade) last.readings.push(r);
      else out.push({ slaveId: r.slaveId, register: r.register, unidade: r.unidade, readings: [r] });
    }
    return out;
  }

  // -- broker ACL
  async serviceIdentities(now = new Date()): Promise<{ kind: ServiceKind; cn: string }[]> {
    const out: { kind: ServiceKind; cn: string }[] = [];
    for (const cn of await this.repo.activeServiceCommonNames(isoSeconds(now))) {
      const id = classifyCommonName(cn);
      if (id.kind === 'server' || id.kind === 'station') out.push({ kind: id.kind, cn });
    }
    return out;
  }

  /** Identities whose certificates are all revoked: the ACL denies them everything. */
  async quarantinedIdentities(): Promise<string[]> {
    return (await this.repo.revokedOnlyCommonNames()).filter((cn) => classifyCommonName(cn).kind !== 'unknown');
  }

  /** CNs (devices and services) of the certificates with these serials (lowercase hex, no leading zeros). */
  async commonNamesOfSerials(serials: readonly string[]): Promise<string[]> {
    const out = new Set<string>();
    for (const serial of serials) for (const cn of await this.repo.commonNamesOfSerial(serial)) out.add(cn);
    return [...out];
  }

  listServiceCertificates(): Promise<ServiceCertificateRow[]> {
    return this.repo.serviceCertificates();
  }

  activeServiceSerials(cn: string): Promise<string[]> {
    return this.repo.activeServiceSerials(cn);
  }

  // -- renewal
  deviceCertificates(mac: string, now = new Date()): Promise<DeviceCertificateRow[]> {
    return this.repo.deviceCertificates(mac, isoSeconds(now));
  }

  deviceCertificatesIssuedSince(mac: string, since: Date): Promise<number> {
    return this.repo.deviceCertificatesIssuedSince(mac, isoSeconds(since));
  }
}
