import { encodeModbusTable, modbusDeviceCount, type Esp32Modbus } from '../../shared/esp32-modbus.js';
import type { Esp32JobSettings } from './job-input.js';
import { generateNvsImage, type NvsEntry } from './nvs/index.js';
import { JobFailure } from '../jobs/job-failure.js';

/** Version of the `tds` factory-data layout the firmware reads (`cfg_ver`). */
export const FACTORY_DATA_VERSION = 1;

/** What every board's factory data says besides its identity. */
export interface BoardFacts {
  wifiSsid: string;
  wifiPassword: string;
  mac: string;
  provisionedAt: string;
  provisionedBy: string;
  /** The firmware's Modbus table (encodeModbusTable); absent = no readings. */
  modbusTable?: string;
}

/** The facts from a job's settings, for the board with `mac`, provisioned now. */
export function boardFacts(settings: Pick<Esp32JobSettings, 'wifi' | 'operator' | 'stationId' | 'modbus'>, mac: string): BoardFacts {
  return {
    wifiSsid: settings.wifi.ssid,
    wifiPassword: settings.wifi.password,
    mac,
    provisionedAt: new Date().toISOString(),
    provisionedBy: `${settings.operator}@${settings.stationId}`,
    ...(settings.modbus ? { modbusTable: encodeModbusTable(settings.modbus) } : {}),
  };
}

export interface FactoryData extends BoardFacts {
  caPem: string;
  certPem: string;
  /** PKCS#8 PEM bytes of a station-made key; absent when the key lives on the device. */
  keyPem?: Uint8Array;
  mqttHost: string;
  mqttPort: number;
  gatewayCode: string;
}

/**
 * The per-device factory-data partition (docs/firmware-esp32.md, docs/decisions.md): an ESP-IDF NVS
 * image, namespace `tds`, every key a string except `mqtt_port` (u16) and `cfg_ver` (u8), padded with
 * 0xFF to the whole partition so no page of an earlier provisioning survives.
 * The returned buffer may hold the private key: the caller zeroes it after flashing.
 */
export function buildFactoryDataImage(data: FactoryData, partition: { size: number; label: string }, namespace = 'tds'): Uint8Array {
  const s = (key: string, value: string): NvsEntry => ({ namespace, key, type: 'string', value });
  const entries: NvsEntry[] = [
    { namespace, key: 'cfg_ver', type: 'u8', value: FACTORY_DATA_VERSION },
    s('mac', data.mac),
    s('gw_code', data.gatewayCode),
    s('ca_pem', data.caPem),
    s('cert_pem', data.certPem),
  ];
  // The NVS generator takes strings; this is the one moment the key exists as one (see docs).
  if (data.keyPem) entries.push(s('key_pem', Buffer.from(data.keyPem).toString('latin1')));
  entries.push(s('wifi_ssid', data.wifiSsid), s('wifi_pass', data.wifiPassword), s('mqtt_host', data.mqttHost), { namespace, key: 'mqtt_port', type: 'u16', value: data.mqttPort });
  return partitionImage([...entries, ...provenance(data, namespace)], partition);
}

/** `prov_at`, `prov_by` and the optional `modbus` table, last in every image. */
function provenance(data: BoardFacts, namespace: string): NvsEntry[] {
  const s = (key: string, value: string): NvsEntry => ({ namespace, key, type: 'string', value });
  return [s('prov_at', data.provisionedAt), s('prov_by', data.provisionedBy), ...(data.modbusTable !== undefined ? [s('modbus', data.modbusTable)] : [])];
}

/** A bench-born board's factory data: a birth identity and where to ask in the field, no operational identity. */
export interface BirthFactoryData extends BoardFacts {
  birthCertPem: string;
  /** PKCS#8 PEM bytes of the station-made birth key. */
  birthKeyPem: Uint8Array;
  /** The server's API base URL the device asks (`bs_url`). */
  bootstrapUrl: string;
  /** The CA the device pins for the server's HTTPS certificate (`bs_ca`). */
  bootstrapCaPem: string;
}

/**
 * The data partition of a board that onboards itself in the field (docs/zero-touch.md §7.1): the keys
 * `birth_cert`, `birth_key`, `bs_url`, `bs_ca` with Wi-Fi and the usual facts, and none of `cert_pem`,
 * `key_pem`, `gw_code`, `mqtt_host`, `mqtt_port` (the server hands those out once it is claimed). The
 * returned buffer holds the birth key: the caller zeroes it after flashing.
 */
export function buildBirthFactoryDataImage(data: BirthFactoryData, partition: { size: number; label: string }, namespace = 'tds'): Uint8Array {
  const s = (key: string, value: string): NvsEntry => ({ namespace, key, type: 'string', value });
  const entries: NvsEntry[] = [
    { namespace, key: 'cfg_ver', type: 'u8', value: FACTORY_DATA_VERSION },
    s('mac', data.mac),
    s('birth_cert', data.birthCertPem),
    // As for key_pem: the one moment the key exists as a string.
    s('birth_key', Buffer.from(data.birthKeyPem).toString('latin1')),
    s('bs_url', data.bootstrapUrl),
    s('bs_ca', data.bootstrapCaPem),
    s('wifi_ssid', data.wifiSsid),
    s('wifi_pass', data.wifiPassword),
  ];
  return partitionImage([...entries, ...provenance(data, namespace)], partition);
}

function partitionImage(entries: NvsEntry[], partition: { size: number; label: string }): Uint8Array {
  try {
    return generateNvsImage(entries, { size: partition.size, padToSize: true });
  } catch (err) {
    throw new JobFailure('BUNDLE_INVALID', `The factory data does not fit partition "${partition.label}" (${partition.size} bytes): ${(err as Error).message}`, {
      hint: 'Use a bundle whose partition table gives the data partition at least 0x3000 bytes.',
      cause: err,
    });
  }
}

/** What a job's log says about the Modbus table it gives the board. */
export function describeModbus(modbus: Esp32Modbus | undefined): string {
  if (!modbus || modbus.slaves.length === 0) return 'no Modbus readings';
  return `Modbus: ${modbus.slaves.length} reading(s) from ${modbusDeviceCount(modbus)} of at most ${modbus.maxDevices} device(s) at ${modbus.baudrate} baud`;
}
