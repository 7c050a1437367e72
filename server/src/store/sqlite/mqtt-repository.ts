/**
 * The MQTT side's storage (`MqttRepository`) on the server's SQLite database: presence columns of
 * `gateways`, the `telemetry` table (migration 002), certificate queries for the ACL and renewal.
 * Synchronous better-sqlite3 underneath; the async signatures are the backend-neutral contract.
 */
import type Database from 'better-sqlite3';
import type {
  DeviceCertificateRow,
  MqttRepository,
  NewTelemetryReading,
  PresenceWrite,
  ServiceCertificateRow,
  TelemetryReadingRecord,
} from '../mqtt-repository.js';
import { toDeviceCertificate, toReading, toServiceCertificate, type Row } from '../rows.js';

const SQL = {
  gatewayForMac: `SELECT gateway_id FROM certificates WHERE kind = 'device' AND subject_cn = ? AND status IN ('active', 'pending')
     ORDER BY status = 'active' DESC LIMIT 1`,
  resetPresence: 'UPDATE gateways SET is_online = 0 WHERE is_online = 1',
  historyResetAll: 'INSERT INTO presence_events (gateway_id, online, at) SELECT id, 0, ? FROM gateways WHERE is_online = 1',
  gatewayOffline: 'UPDATE gateways SET is_online = 0 WHERE id = ?',
  // A transition only: nothing is written when the gateway is already in that state.
  history: 'INSERT INTO presence_events (gateway_id, online, at) SELECT id, ?, ? FROM gateways WHERE id = ? AND is_online <> ?',
  updatePresence: `UPDATE gateways SET is_online = @online,
       last_seen = CASE WHEN @lastSeen IS NOT NULL AND (last_seen IS NULL OR @lastSeen > last_seen) THEN @lastSeen ELSE last_seen END,
       firmware_version = COALESCE(@firmware, firmware_version) WHERE id = @id`,
  historyExpire: 'INSERT INTO presence_events (gateway_id, online, at) SELECT id, 0, ? FROM gateways WHERE is_online = 1 AND (last_seen IS NULL OR last_seen < ?)',
  expirePresence: 'UPDATE gateways SET is_online = 0 WHERE is_online = 1 AND (last_seen IS NULL OR last_seen < ?)',
  insertReading: `INSERT INTO telemetry (gateway_id, measured_at, received_at, valor, unidade, slave_id, register, firmware_version)
     VALUES (@gatewayId, @measuredAt, @receivedAt, @valor, @unidade, @slaveId, @register, @firmwareVersion)`,
  deleteBefore: 'DELETE FROM telemetry WHERE received_at < ?',
  readings: `SELECT id, measured_at, received_at, valor, unidade, slave_id, register, firmware_version FROM telemetry
     WHERE gateway_id = ? AND (received_at > ? OR (received_at = ? AND id > ?)) ORDER BY received_at, id LIMIT ?`,
  // Each series' newest readings since a time: one window over the gateway's recent rows
  // (telemetry_gateway_received), cost proportional to the readings in the window.
  latest: `WITH recent AS (
       SELECT id, measured_at, received_at, valor, unidade, slave_id, register, firmware_version,
              ROW_NUMBER() OVER (PARTITION BY slave_id, register, unidade ORDER BY received_at DESC, id DESC) AS rn
       FROM telemetry WHERE gateway_id = ? AND received_at >= ?),
     series AS (SELECT slave_id, register, unidade FROM recent WHERE rn = 1 ORDER BY slave_id, register, unidade LIMIT ?)
     SELECT r.id, r.measured_at, r.received_at, r.valor, r.unidade, r.slave_id, r.register, r.firmware_version
     FROM recent r JOIN series s ON s.slave_id IS r.slave_id AND s.register IS r.register AND s.unidade = r.unidade
     WHERE r.rn <= ? ORDER BY r.slave_id, r.register, r.unidade, r.received_at, r.id`,
  services: `SELECT DISTINCT subject_cn FROM certificates WHERE kind = 'service' AND status = 'active' AND expires_at > ? ORDER BY subject_cn`,
  revokedOnly: `SELECT DISTINCT c.subject_cn FROM certificates c
     WHERE c.kind IN ('device', 'service') AND c.status = 'revoked'
       AND NOT EXISTS (SELECT 1 FROM certificates d WHERE d.subject_cn = c.subject_cn AND d.status IN ('active', 'pending'))
     ORDER BY c.subject_cn`,
  deviceCerts: `SELECT id, serial_number, status, certificate_pem, gateway_id, account_id FROM certificates
     WHERE kind = 'device' AND subject_cn = ? AND status IN ('active', 'pending') AND expires_at > ? ORDER BY id`,
  serviceCerts: `SELECT subject_cn, serial_number, status, issued_at, expires_at, revoked_at FROM certificates WHERE kind = 'service' ORDER BY subject_cn, id`,
  activeServiceCerts: `SELECT serial_number FROM certificates WHERE kind = 'service' AND subject_cn = ? AND status = 'active' ORDER BY id`,
  // Serials compare as lowercase hex without leading zeros (how CRL entries are normalised).
  cnOfSerial: `SELECT DISTINCT subject_cn FROM certificates WHERE kind IN ('device', 'service') AND ltrim(lower(serial_number), '0') = ?`,
  issuedSince: `SELECT COUNT(*) AS n FROM certificates WHERE kind = 'device' AND subject_cn = ? AND issued_at >= ?`,
} as const;

export class SqliteMqttRepository implements MqttRepository {
  private readonly s: Record<keyof typeof SQL, Database.Statement>;

  constructor(private readonly db: Database.Database) {
    this.s = Object.fromEntries(Object.entries(SQL).map(([k, sql]) => [k, db.prepare(sql)])) as Record<keyof typeof SQL, Database.Statement>;
  }

  async gatewayIdForMac(mac: string): Promise<number | null> {
    return (this.s.gatewayForMac.get(mac) as { gateway_id: number } | undefined)?.gateway_id ?? null;
  }

  async resetPresence(at: string): Promise<void> {
    this.db.transaction(() => {
      this.s.historyResetAll.run(at);
      this.s.resetPresence.run();
    })();
  }

  async setGatewayOffline(gatewayId: number, at: string): Promise<void> {
    this.db.transaction(() => {
      this.s.history.run(0, at, gatewayId, 0);
      this.s.gatewayOffline.run(gatewayId);
    })();
  }

  async updatePresence(gatewayId: number, w: PresenceWrite): Promise<void> {
    const online = w.isOnline ? 1 : 0;
    this.db.transaction(() => {
      this.s.history.run(online, w.at, gatewayId, online);
      this.s.updatePresence.run({ online, lastSeen: w.lastSeen, firmware: w.firmwareVersion, id: gatewayId });
    })();
  }

  async expirePresence(before: string, at: string): Promise<number> {
    return this.db.transaction(() => {
      this.s.historyExpire.run(at, before);
      return this.s.expirePresence.run(before).changes;
    })();
  }

  async insertTelemetry(rows: readonly NewTelemetryReading[]): Promise<number> {
    this.db.transaction(() => {
      for (const r of rows) this.s.insertReading.run(r);
    })();
    return rows.length;
  }

  async deleteTelemetryBefore(before: string): Promise<number> {
    return this.s.deleteBefore.run(before).changes;
  }

  async listTelemetry(gatewayId: number, since: string, limit: number, afterId: number): Promise<TelemetryReadingRecord[]> {
    return (this.s.readings.all(gatewayId, since, since, afterId, limit) as Row[]).map(toReading);
  }

  async latestTelemetry(gatewayId: number, since: string, perSeries: number, maxSeries: number): Promise<TelemetryReadingRecord[]> {
    return (this.s.latest.all(gatewayId, since, maxSeries, perSeries) as Row[]).map(toReading);
  }

  async activeServiceCommonNames(now: string): Promise<string[]> {
    return (this.s.services.all(now) as { subject_cn: string }[]).map((r) => r.subject_cn);
  }

  async revokedOnlyCommonNames(): Promise<string[]> {
    return (this.s.revokedOnly.all() as { subject_cn: string }[]).map((r) => r.subject_cn);
  }

  async commonNamesOfSerial(serial: string): Promise<string[]> {
    return (this.s.cnOfSerial.all(serial) as { subject_cn: string }[]).map((r) => r.subject_cn);
  }

  async serviceCertificates(): Promise<ServiceCertificateRow[]> {
    return (this.s.serviceCerts.all() as Row[]).map(toServiceCertificate);
  }

  async activeServiceSerials(cn: string): Promise<string[]> {
    return (this.s.activeServiceCerts.all(cn) as { serial_number: string }[]).map((r) => r.serial_number);
  }

  async deviceCertificates(mac: string, now: string): Promise<DeviceCertificateRow[]> {
    return (this.s.deviceCerts.all(mac, now) as Row[]).map(toDeviceCertificate);
  }

  async deviceCertificatesIssuedSince(mac: string, since: string): Promise<number> {
    return (this.s.issuedSince.get(mac, since) as { n: number }).n;
  }
}
