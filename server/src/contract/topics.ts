/**
 * MQTT contract (the seed's topics, no account id in topics; docs/broker.md). Topic strings and payload
 * field names are the wire contract shared by the server, the station monitor, the ESP32 firmware
 * and the Pi agent.
 */
export const TOPIC_ROOT = 'tds_new/devices';

export const topics = {
  telemetry: (mac: string) => `${TOPIC_ROOT}/${mac}/telemetry`,
  status: (mac: string) => `${TOPIC_ROOT}/${mac}/status`,
  logs: (mac: string) => `${TOPIC_ROOT}/${mac}/logs`,
  commands: (mac: string) => `${TOPIC_ROOT}/${mac}/commands`,
  certCsr: (mac: string) => `${TOPIC_ROOT}/${mac}/cert/csr`,
  certAck: (mac: string) => `${TOPIC_ROOT}/${mac}/cert/ack`,
} as const;

/** Wildcard subscriptions used by service identities. */
export const wildcard = {
  status: `${TOPIC_ROOT}/+/status`,
  telemetry: `${TOPIC_ROOT}/+/telemetry`,
  logs: `${TOPIC_ROOT}/+/logs`,
  certCsr: `${TOPIC_ROOT}/+/cert/csr`,
  certAck: `${TOPIC_ROOT}/+/cert/ack`,
} as const;

export type DeviceTopicKind = 'telemetry' | 'status' | 'logs' | 'commands' | 'cert/csr' | 'cert/ack';

/** Splits `tds_new/devices/{mac}/{kind}`; undefined for anything else. */
export function parseDeviceTopic(topic: string): { mac: string; kind: DeviceTopicKind } | undefined {
  const m = /^tds_new\/devices\/([0-9a-f]{2}(?::[0-9a-f]{2}){5})\/(telemetry|status|logs|commands|cert\/csr|cert\/ack)$/.exec(topic);
  if (!m) return undefined;
  return { mac: m[1]!, kind: m[2] as DeviceTopicKind };
}

export type StatusPayload = 'online' | 'offline';

/** Seed telemetry payload. */
export interface TelemetryPayload {
  timestamp: string | number;
  valor: number;
  unidade: string;
  gateway_mac: string;
  firmware_version?: string;
  slave_id?: number;
  register?: number;
}

export type DeviceCommand =
  | { cmd: 'ping'; id: string }
  | { cmd: 'reboot'; id: string }
  | { cmd: 'cert_renew'; id: string }
  | { cmd: 'cert_update'; id: string; certificate_pem: string; ca_pem?: string; serial_number: string };

/** Device → server renewal request (the MQTT renewal exchange, docs/broker.md). */
export interface CertCsrPayload {
  id: string;
  csr_pem: string;
}

/** Device → server: new certificate installed and in use. */
export interface CertAckPayload {
  id: string;
  serial_number: string;
}
