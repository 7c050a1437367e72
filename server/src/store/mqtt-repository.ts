/**
 * The storage contract of the server's MQTT side, backend-neutral like `repository.ts`: presence
 * columns of `gateways`, the `telemetry` table, and the certificate queries the broker ACL and the
 * renewal protocol need. `sqlite/mqtt-repository.ts` and `postgres/mqtt-repository.ts` implement it;
 * `mqtt/store.ts` adds the MAC cache and the identity rules on top. Timestamps are ISO-8601 UTC text.
 */

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

export interface NewTelemetryReading extends Omit<TelemetryReadingRecord, 'id'> {
  gatewayId: number;
}

export interface DeviceCertificateRow {
  id: number;
  serialNumber: string;
  status: 'active' | 'pending';
  certificatePem: string;
  gatewayId: number;
  accountId: number;
}

export interface ServiceCertificateRow {
  cn: string;
  serialNumber: string;
  status: string;
  issuedAt: string;
  expiresAt: string;
  revokedAt: string | null;
}

export interface PresenceWrite {
  /** When it was seen (a transition is recorded in the presence history at this time). */
  at: string;
  isOnline: boolean;
  /** Moves `last_seen` forward only (several instances may write it); null leaves it. */
  lastSeen: string | null;
  /** Null leaves it. */
  firmwareVersion: string | null;
}

export interface MqttRepository {
  /** The gateway that holds the MAC's active (else pending) device certificate, or null. */
  gatewayIdForMac(mac: string): Promise<number | null>;

  // presence: every write that changes `is_online` also records the transition in presence_events
  // (the gateway's history), in the same transaction; a write that changes nothing records nothing.
  /** Every gateway offline (start-up of a single instance: nothing is known until the broker speaks). */
  resetPresence(at: string): Promise<void>;
  setGatewayOffline(gatewayId: number, at: string): Promise<void>;
  updatePresence(gatewayId: number, write: PresenceWrite): Promise<void>;
  /** Online gateways not seen since `before` go offline (presence kept by several instances); returns how many. */
  expirePresence(before: string, at: string): Promise<number>;

  // telemetry
  /** One transaction; returns the number of rows stored. */
  insertTelemetry(rows: readonly NewTelemetryReading[]): Promise<number>;
  deleteTelemetryBefore(before: string): Promise<number>;
  /** Readings received after `since` (or at `since` with an id above `afterId`), oldest first. */
  listTelemetry(gatewayId: number, since: string, limit: number, afterId: number): Promise<TelemetryReadingRecord[]>;
  /**
   * The newest `perSeries` readings of each series (slave, register, unit; a missing slave or register
   * is a series of its own) received at or after `since`, of at most `maxSeries` series in
   * (slave, register, unit) order; ordered by series, then oldest first.
   */
  latestTelemetry(gatewayId: number, since: string, perSeries: number, maxSeries: number): Promise<TelemetryReadingRecord[]>;

  // broker ACL and identities
  /** CNs of service certificates that are active and unexpired at `now`. */
  activeServiceCommonNames(now: string): Promise<string[]>;
  /** CNs (device or service) with a revoked certificate and no active or pending one. */
  revokedOnlyCommonNames(): Promise<string[]>;
  /** CNs of device and service certificates whose serial, as lowercase hex without leading zeros, is `serial`. */
  commonNamesOfSerial(serial: string): Promise<string[]>;
  serviceCertificates(): Promise<ServiceCertificateRow[]>;
  activeServiceSerials(cn: string): Promise<string[]>;

  // renewal over MQTT
  /** The MAC's active and pending device certificates unexpired at `now`. */
  deviceCertificates(mac: string, now: string): Promise<DeviceCertificateRow[]>;
  deviceCertificatesIssuedSince(mac: string, since: string): Promise<number>;
}
