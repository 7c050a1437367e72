/**
 * The MQTT side's storage (`MqttRepository`) on PostgreSQL: the same queries as the SQLite one.
 * Presence may be written by several server instances (each handles part of the devices' messages
 * through a shared subscription): `last_seen` only moves forward, and timeouts are decided from it
 * (`expirePresence`). A telemetry batch is one multi-row INSERT.
 */
import type pg from 'pg';
import type {
  DeviceCertificateRow,
  MqttRepository,
  NewTelemetryReading,
  PresenceWrite,
  ServiceCertificateRow,
  TelemetryReadingRecord,
} from '../mqtt-repository.js';
import { toDeviceCertificate, toReading, toServiceCertificate, type Row } from '../rows.js';
import { rethrow } from './pool.js';

const SQL = {
  gatewayForMac: `SELECT gateway_id FROM certificates WHERE kind = 'device' AND subject_cn = $1 AND status IN ('active', 'pending')
     ORDER BY status = 'active' DESC LIMIT 1`,
  // Each presence write is one statement: the state and its transition in the history (presence_events)
  // commit together. `prev` locks the gateway's row, so two instances writing the same gateway queue
  // and the second sees the first one's state (one transition recorded, not two).
  resetPresence: `WITH gone AS (UPDATE gateways SET is_online = FALSE WHERE is_online RETURNING id)
     INSERT INTO presence_events (gateway_id, online, at) SELECT id, FALSE, $1::text FROM gone`,
  gatewayOffline: `WITH prev AS (SELECT id, is_online FROM gateways WHERE id = $1 FOR UPDATE),
     h AS (INSERT INTO presence_events (gateway_id, online, at) SELECT id, FALSE, $2::text FROM prev WHERE is_online)
     UPDATE gateways SET is_online = FALSE WHERE id = (SELECT id FROM prev)`,
  updatePresence: `WITH prev AS (SELECT id, is_online FROM gateways WHERE id = $4 FOR UPDATE),
     h AS (INSERT INTO presence_events (gateway_id, online, at) SELECT id, $1::boolean, $5::text FROM prev WHERE is_online <> $1::boolean)
     UPDATE gateways SET is_online = $1::boolean,
       last_seen = CASE WHEN $2::text IS NOT NULL AND (last_seen IS NULL OR $2::text > last_seen) THEN $2::text ELSE last_seen END,
       firmware_version = COALESCE($3, firmware_version) WHERE id = (SELECT id FROM prev)`,
  expirePresence: `WITH gone AS (UPDATE gateways SET is_online = FALSE WHERE is_online AND (last_seen IS NULL OR last_seen < $1) RETURNING id)
     INSERT INTO presence_events (gateway_id, online, at) SELECT id, FALSE, $2::text FROM gone`,
  insertReadings: `INSERT INTO telemetry (gateway_id, measured_at, received_at, valor, unidade, slave_id, register, firmware_version)
     SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::float8[], $5::text[], $6::int[], $7::int[], $8::text[])`,
  deleteBefore: 'DELETE FROM telemetry WHERE received_at < $1',
  readings: `SELECT id, measured_at, received_at, valor, unidade, slave_id, register, firmware_version FROM telemetry
     WHERE gateway_id = $1 AND (received_at > $2 OR (received_at = $2 AND id > $3)) ORDER BY received_at, id LIMIT $4`,
  // As in SQLite: one window over the gateway's recent rows; the series join is null-safe (a reading
  // without slave or register is a series of its own).
  latest: `WITH recent AS (
       SELECT id, measured_at, received_at, valor, unidade, slave_id, register, firmware_version,
              ROW_NUMBER() OVER (PARTITION BY slave_id, register, unidade ORDER BY received_at DESC, id DESC) AS rn
       FROM telemetry WHERE gateway_id = $1 AND received_at >= $2),
     series AS (SELECT slave_id, register, unidade FROM recent WHERE rn = 1 ORDER BY slave_id NULLS FIRST, register NULLS FIRST, unidade COLLATE "C" LIMIT $3)
     SELECT r.id, r.measured_at, r.received_at, r.valor, r.unidade, r.slave_id, r.register, r.firmware_version
     FROM recent r JOIN series s ON s.slave_id IS NOT DISTINCT FROM r.slave_id AND s.register IS NOT DISTINCT FROM r.register AND s.unidade = r.unidade
     WHERE r.rn <= $4 ORDER BY r.slave_id NULLS FIRST, r.register NULLS FIRST, r.unidade COLLATE "C", r.received_at, r.id`,
  services: `SELECT DISTINCT subject_cn FROM certificates WHERE kind = 'service' AND status = 'active' AND expires_at > $1 ORDER BY subject_cn`,
  revokedOnly: `SELECT DISTINCT c.subject_cn FROM certificates c
     WHERE c.kind IN ('device', 'service') AND c.status = 'revoked'
       AND NOT EXISTS (SELECT 1 FROM certificates d WHERE d.subject_cn = c.subject_cn AND d.status IN ('active', 'pending'))
     ORDER BY c.subject_cn`,
  deviceCerts: `SELECT id, serial_number, status, certificate_pem, gateway_id, account_id FROM certificates
     WHERE kind = 'device' AND subject_cn = $1 AND status IN ('active', 'pending') AND expires_at > $2 ORDER BY id`,
  serviceCerts: `SELECT subject_cn, serial_number, status, issued_at, expires_at, revoked_at FROM certificates WHERE kind = 'service' ORDER BY subject_cn, id`,
  activeServiceCerts: `SELECT serial_number FROM certificates WHERE kind = 'service' AND subject_cn = $1 AND status = 'active' ORDER BY id`,
  cnOfSerial: `SELECT DISTINCT subject_cn FROM certificates WHERE kind IN ('device', 'service') AND ltrim(lower(serial_number), '0') = $1`,
  issuedSince: `SELECT COUNT(*) AS n FROM certificates WHERE kind = 'device' AND subject_cn = $1 AND issued_at >= $2`,
} as const;

export class PgMqttRepository implements MqttRepository {
  constructor(private readonly pool: pg.Pool) {}

  private async q(name: keyof typeof SQL, ...values: unknown[]): Promise<pg.QueryResult<Row>> {
    try {
      return await this.pool.query<Row>({ name: `mqtt_${name}`, text: SQL[name], values });
    } catch (err) {
      rethrow(err);
    }
  }

  private async cns(name: keyof typeof SQL, ...values: unknown[]): Promise<string[]> {
    return (await this.q(name, ...values)).rows.map((r) => r.subject_cn as string);
  }

  async gatewayIdForMac(mac: string): Promise<number | null> {
    return ((await this.q('gatewayForMac', mac)).rows[0]?.gateway_id as number | undefined) ?? null;
  }

  async resetPresence(at: string): Promise<void> {
    await this.q('resetPresence', at);
  }

  async setGatewayOffline(gatewayId: number, at: string): Promise<void> {
    await this.q('gatewayOffline', gatewayId, at);
  }

  async updatePresence(gatewayId: number, w: PresenceWrite): Promise<void> {
    await this.q('updatePresence', w.isOnline, w.lastSeen, w.firmwareVersion, gatewayId, w.at);
  }

  async expirePresence(before: string, at: string): Promise<number> {
    return (await this.q('expirePresence', before, at)).rowCount ?? 0;
  }

  async insertTelemetry(rows: readonly NewTelemetryReading[]): Promise<number> {
    if (rows.length === 0) return 0;
    const col = <K extends keyof NewTelemetryReading>(k: K): NewTelemetryReading[K][] => rows.map((r) => r[k]);
    const r = await this.q(
      'insertReadings',
      col('gatewayId'),
      col('measuredAt'),
      col('receivedAt'),
      col('valor'),
      col('unidade'),
      col('slaveId'),
      col('register'),
      col('firmwareVersion'),
    );
    return r.rowCount ?? 0;
  }

  async deleteTelemetryBefore(before: string): Promise<number> {
    return (await this.q('deleteBefore', before)).rowCount ?? 0;
  }

  async listTelemetry(gatewayId: number, since: string, limit: number, afterId: number): Promise<TelemetryReadingRecord[]> {
    return (await this.q('readings', gatewayId, since, afterId, limit)).rows.map(toReading);
  }

  async latestTelemetry(gatewayId: number, since: string, perSeries: number, maxSeries: number): Promise<TelemetryReadingRecord[]> {
    return (await this.q('latest', gatewayId, since, maxSeries, perSeries)).rows.map(toReading);
  }

  activeServiceCommonNames(now: string): Promise<string[]> {
    return this.cns('services', now);
  }

  revokedOnlyCommonNames(): Promise<string[]> {
    return this.cns('revokedOnly');
  }

  commonNamesOfSerial(serial: string): Promise<string[]> {
    return this.cns('cnOfSerial', serial);
  }

  async serviceCertificates(): Promise<ServiceCertificateRow[]> {
    return (await this.q('serviceCerts')).rows.map(toServiceCertificate);
  }

  async activeServiceSerials(cn: string): Promise<string[]> {
    return (await this.q('activeServiceCerts', cn)).rows.map((r) => r.serial_number as string);
  }

  async deviceCertificates(mac: string, now: string): Promise<DeviceCertificateRow[]> {
    return (await this.q('deviceCerts', mac, now)).rows.map(toDeviceCertificate);
  }

  async deviceCertificatesIssuedSince(mac: string, since: string): Promise<number> {
    return (await this.q('issuedSince', mac, since)).rows[0]!.n as number;
  }
}
