/**
 * Storage for the MQTT side (SQLite, on the server's database): presence columns of `gateways`,
 * the `telemetry` table (migration 002), and the certificate queries the broker ACL and renewal
 * need. Kept apart from the issuance Repository so a PostgreSQL port replaces one class each.
 *
 * A MAC belongs to the gateway that holds its active (or pending) device certificate: a MAC may
 * exist in several accounts over time, but only one of them can have a valid certificate for it.
 */
import type Database from 'better-sqlite3';
import { classifyCommonName, type ServiceKind } from '../contract/index.js';
import type { PresenceSink, PresenceUpdate } from './presence.js';
import type { TelemetryRow, TelemetrySink } from './telemetry.js';

export interface TelemetryReadingRecord {
  id: number;
  measuredAt: string;
  receivedAt: string;
  valor: number;
  unidade: string;
  slaveId: number | null;
  register: number | null;
  firmwareVersion: string | null;
}

/** The readings of one series (one register of one slave, in one unit), oldest first. */
export interface TelemetrySeriesRecord {
  slaveId: number | null;
  register: number | null;
  unidade: string;
  readings: TelemetryReadingRecord[];
}

function readingRecord(r: Record<string, unknown>): TelemetryReadingRecord {
  return {
    id: r.id as number,
    measuredAt: r.measured_at as string,
    receivedAt: r.received_at as string,
    valor: r.valor as number,
    unidade: r.unidade as string,
    slaveId: (r.slave_id as number | null) ?? null,
    register: (r.register as number | null) ?? null,
    firmwareVersion: (r.firmware_version as string | null) ?? null,
  };
}

export interface DeviceCertificateRow {
  id: number;
  serialNumber: string;
  status: 'active' | 'pending';
  certificatePem: string;
  gatewayId: number;
  accountId: number;
}

const isoSeconds = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
const MAC_CACHE_MS = 10_000;

export class MqttStore implements PresenceSink, TelemetrySink {
  private readonly macCache = new Map<string, { gatewayId: number | null; at: number }>();
  private readonly s;

  constructor(private readonly db: Database.Database) {
    this.s = {
      gatewayForMac: db.prepare(
        `SELECT gateway_id FROM certificates WHERE kind = 'device' AND subject_cn = ? AND status IN ('active', 'pending')
         ORDER BY status = 'active' DESC LIMIT 1`,
      ),
      resetPresence: db.prepare('UPDATE gateways SET is_online = 0 WHERE is_online = 1'),
      historyResetAll: db.prepare('INSERT INTO presence_events (gateway_id, online, at) SELECT id, 0, ? FROM gateways WHERE is_online = 1'),
      gatewayOffline: db.prepare('UPDATE gateways SET is_online = 0 WHERE id = ?'),
      // A transition only: nothing is written when the gateway is already in that state.
      history: db.prepare('INSERT INTO presence_events (gateway_id, online, at) SELECT id, ?, ? FROM gateways WHERE id = ? AND is_online <> ?'),
      updatePresence: db.prepare(
        `UPDATE gateways SET is_online = ?, last_seen = COALESCE(?, last_seen), firmware_version = COALESCE(?, firmware_version) WHERE id = ?`,
      ),
      insertReading: db.prepare(
        `INSERT INTO telemetry (gateway_id, measured_at, received_at, valor, unidade, slave_id, register, firmware_version)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      deleteBefore: db.prepare('DELETE FROM telemetry WHERE received_at < ?'),
      readings: db.prepare(
        `SELECT id, measured_at, received_at, valor, unidade, slave_id, register, firmware_version FROM telemetry
         WHERE gateway_id = ? AND (received_at > ? OR (received_at = ? AND id > ?)) ORDER BY received_at, id LIMIT ?`,
      ),
      // Each series' newest readings since a time: one window over the gateway's recent rows
      // (telemetry_gateway_received), cost proportional to the readings in the window.
      latest: db.prepare(
        `WITH recent AS (
           SELECT id, measured_at, received_at, valor, unidade, slave_id, register, firmware_version,
                  ROW_NUMBER() OVER (PARTITION BY slave_id, register, unidade ORDER BY received_at DESC, id DESC) AS rn
           FROM telemetry WHERE gateway_id = ? AND received_at >= ?),
         series AS (SELECT slave_id, register, unidade FROM recent WHERE rn = 1 ORDER BY slave_id, register, unidade LIMIT ?)
         SELECT r.id, r.measured_at, r.received_at, r.valor, r.unidade, r.slave_id, r.register, r.firmware_version
         FROM recent r JOIN series s ON s.slave_id IS r.slave_id AND s.register IS r.register AND s.unidade = r.unidade
         WHERE r.rn <= ? ORDER BY r.slave_id, r.register, r.unidade, r.received_at, r.id`,
      ),
      services: db.prepare(
        `SELECT DISTINCT subject_cn FROM certificates WHERE kind = 'service' AND status = 'active' AND expires_at > ? ORDER BY subject_cn`,
      ),
      quarantined: db.prepare(
        `SELECT DISTINCT c.subject_cn FROM certificates c
         WHERE c.kind IN ('device', 'service') AND c.status = 'revoked'
           AND NOT EXISTS (SELECT 1 FROM certificates d WHERE d.subject_cn = c.subject_cn AND d.status IN ('active', 'pending'))
         ORDER BY c.subject_cn`,
      ),
      deviceCerts: db.prepare(
        `SELECT id, serial_number, status, certificate_pem, gateway_id, account_id FROM certificates
         WHERE kind = 'device' AND subject_cn = ? AND status IN ('active', 'pending') AND expires_at > ?`,
      ),
      serviceCerts: db.prepare(
        `SELECT subject_cn, serial_number, status, issued_at, expires_at, revoked_at FROM certificates WHERE kind = 'service' ORDER BY subject_cn, id`,
      ),
      activeServiceCerts: db.prepare(`SELECT serial_number FROM certificates WHERE kind = 'service' AND subject_cn = ? AND status = 'active'`),
      // Serials compare as lowercase hex without leading zeros (how CRL entries are normalised).
      cnOfSerial: db.prepare(`SELECT subject_cn FROM certificates WHERE kind IN ('device', 'service') AND ltrim(lower(serial_number), '0') = ?`),
      issuedSince: db.prepare(`SELECT COUNT(*) AS n FROM certificates WHERE kind = 'device' AND subject_cn = ? AND issued_at >= ?`),
    };
  }

  /** Forget cached MAC → gateway mappings (after issuance or revocation). */
  invalidate(mac?: string): void {
    if (mac) this.macCache.delete(mac);
    else this.macCache.clear();
  }

  gatewayIdForMac(mac: string, now = Date.now()): number | null {
    const hit = this.macCache.get(mac);
    if (hit && now - hit.at < MAC_CACHE_MS) return hit.gatewayId;
    const row = this.s.gatewayForMac.get(mac) as { gateway_id: number } | undefined;
    const gatewayId = row?.gateway_id ?? null;
    this.macCache.set(mac, { gatewayId, at: now });
    return gatewayId;
  }

  // -- presence
  // Every online/offline transition is also kept in presence_events (the gateway's history), in the
  // same transaction as the state it records.
  resetAll(): void {
    this.db.transaction(() => {
      this.s.historyResetAll.run(isoSeconds(new Date()));
      this.s.resetPresence.run();
    })();
  }

  /** A gateway whose certificate was revoked cannot be online (its MAC no longer maps to it). */
  setGatewayOffline(gatewayId: number): void {
    this.db.transaction(() => {
      this.s.history.run(0, isoSeconds(new Date()), gatewayId, 0);
      this.s.gatewayOffline.run(gatewayId);
    })();
  }

  update(u: PresenceUpdate): void {
    const id = this.gatewayIdForMac(u.mac);
    if (id === null) return;
    const online = u.isOnline ? 1 : 0;
    this.db.transaction(() => {
      this.s.history.run(online, isoSeconds(new Date()), id, online);
      this.s.updatePresence.run(online, u.lastSeen ? isoSeconds(u.lastSeen) : null, u.firmwareVersion, id);
    })();
  }

  // -- telemetry
  insertTelemetry(rows: readonly TelemetryRow[]): number {
    let n = 0;
    this.db.transaction(() => {
      for (const r of rows) {
        const id = this.gatewayIdForMac(r.mac);
        if (id === null) continue;
        this.s.insertReading.run(id, r.measuredAt, r.receivedAt, r.valor, r.unidade, r.slaveId, r.register, r.firmwareVersion);
        n++;
      }
    })();
    return n;
  }

  deleteTelemetryBefore(cutoff: Date): number {
    return this.s.deleteBefore.run(cutoff.toISOString()).changes;
  }

  /** Readings received at or after `since` (after `afterId` within that instant), oldest first. */
  listTelemetry(gatewayId: number, since: Date, limit: number, afterId = 0): TelemetryReadingRecord[] {
    const at = since.toISOString();
    return (this.s.readings.all(gatewayId, at, at, afterId, limit) as Record<string, unknown>[]).map(readingRecord);
  }

  /**
   * The newest `perSeries` readings of each series (slave, register, unit) received at or after
   * `since`, at most `maxSeries` series ordered by slave, register and unit; readings oldest first.
   */
  latestTelemetry(gatewayId: number, since: Date, perSeries: number, maxSeries: number): TelemetrySeriesRecord[] {
    const out: TelemetrySeriesRecord[] = [];
    for (const raw of this.s.latest.all(gatewayId, since.toISOString(), maxSeries, perSeries) as Record<string, unknown>[]) {
      const r = readingRecord(raw);
      const last = out.at(-1);
      if (last && last.slaveId === r.slaveId && last.register === r.register && last.unidade === r.unidade) last.readings.push(r);
      else out.push({ slaveId: r.slaveId, register: r.register, unidade: r.unidade, readings: [r] });
    }
    return out;
  }

  // -- broker ACL
  serviceIdentities(now = new Date()): { kind: ServiceKind; cn: string }[] {
    const out: { kind: ServiceKind; cn: string }[] = [];
    for (const r of this.s.services.all(isoSeconds(now)) as { subject_cn: string }[]) {
      const id = classifyCommonName(r.subject_cn);
      if (id.kind === 'server' || id.kind === 'station') out.push({ kind: id.kind, cn: r.subject_cn });
    }
    return out;
  }

  /** Identities whose certificates are all revoked: the ACL denies them everything. */
  quarantinedIdentities(): string[] {
    return (this.s.quarantined.all() as { subject_cn: string }[])
      .map((r) => r.subject_cn)
      .filter((cn) => classifyCommonName(cn).kind !== 'unknown');
  }

  /** CNs (devices and services) of the certificates with these serials (lowercase hex, no leading zeros). */
  commonNamesOfSerials(serials: readonly string[]): string[] {
    const out = new Set<string>();
    for (const serial of serials) {
      for (const r of this.s.cnOfSerial.all(serial) as { subject_cn: string }[]) out.add(r.subject_cn);
    }
    return [...out];
  }

  listServiceCertificates(): { cn: string; serialNumber: string; status: string; issuedAt: string; expiresAt: string; revokedAt: string | null }[] {
    return (this.s.serviceCerts.all() as Record<string, string | null>[]).map((r) => ({
      cn: r.subject_cn!,
      serialNumber: r.serial_number!,
      status: r.status!,
      issuedAt: r.issued_at!,
      expiresAt: r.expires_at!,
      revokedAt: r.revoked_at ?? null,
    }));
  }

  activeServiceSerials(cn: string): string[] {
    return (this.s.activeServiceCerts.all(cn) as { serial_number: string }[]).map((r) => r.serial_number);
  }

  // -- renewal
  deviceCertificates(mac: string, now = new Date()): DeviceCertificateRow[] {
    return (this.s.deviceCerts.all(mac, isoSeconds(now)) as Record<string, unknown>[]).map((r) => ({
      id: r.id as number,
      serialNumber: r.serial_number as string,
      status: r.status as 'active' | 'pending',
      certificatePem: r.certificate_pem as string,
      gatewayId: r.gateway_id as number,
      accountId: r.account_id as number,
    }));
  }

  deviceCertificatesIssuedSince(mac: string, since: Date): number {
    return (this.s.issuedSince.get(mac, isoSeconds(since)) as { n: number }).n;
  }
}
