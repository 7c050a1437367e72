import type { ProvisionRequest, ProvisionResponse } from '@tds/server/contract';
import { normaliseMac } from '@tds/server/contract';
import { JobFailure } from '../jobs/job-failure.js';
import type { DeviceConsoleClient } from './client.js';
import type { CommitReply, DeviceInfo } from './protocol.js';

/** The part of the server's ApiClient this flow uses (`@tds/server/client`). */
export interface ProvisionApi {
  provision(request: ProvisionRequest): Promise<ProvisionResponse>;
}

export type DeviceKeyStep = 'info' | 'csr' | 'sign' | 'set' | 'commit' | 'reboot';

export interface DeviceKeyProvisionInput {
  console: DeviceConsoleClient;
  api: ProvisionApi;
  gateway: { code: string; name: string; accountId: number };
  wifi: { ssid: string; password?: string };
  /** Broker the device connects to; defaults to `mqtt_broker`/`mqtt_port` from the server's reply. */
  broker?: { host: string; port: number };
  /** MAC read by another route (esptool eFuse probe): the console's MAC must equal it. */
  expectedMac?: string;
  operator?: string;
  /** Configuration version written as `cfg_ver` (NVS u8, 0-255). Default 1. */
  cfgVer?: number;
  /** Optional tdscfg extras: the Modbus table (encodeModbusTable; null erases one the board holds), NTP server. */
  modbus?: string | null;
  ntpHost?: string;
  /** Reboot at the end (default true) and wait for the `boot` line. */
  reboot?: boolean;
  onStep?: (step: DeviceKeyStep, detail: string) => void;
  /** Clock for `prov_at` (tests). */
  now?: () => Date;
}

export interface DeviceKeyProvisionResult {
  mac: string;
  gatewayId: number;
  serialNumber: string;
  expiresAt: string;
  firmwareVersion: string;
  /** Where the device's TLS key lives after commit: always "device" in this flow. */
  keySource: string;
  commit: CommitReply;
  /** `info` as read before provisioning. */
  before: DeviceInfo;
}

/**
 * "Device-key mode" for a board that already runs our firmware: the key is born on the device and
 * never leaves it. info → csr (device makes an EC P-256 key) → server signs the CSR → set CA,
 * certificate, Wi-Fi, broker, identity → commit (the device checks that the certificate matches its
 * key and MAC) → reboot. Going online is the caller's to watch (broker monitor or the console's
 * `state` events).
 */
export async function provisionWithDeviceKey(input: DeviceKeyProvisionInput): Promise<DeviceKeyProvisionResult> {
  const { console: dev, api } = input;
  const step = (s: DeviceKeyStep, detail: string): void => input.onStep?.(s, detail);

  const before = await dev.info();
  const mac = normaliseMac(before.mac);
  step('info', `${mac} · ${before.fw.name} ${before.fw.version} · ${before.chip.model} rev ${before.chip.revision}`);
  if (input.expectedMac !== undefined && normaliseMac(input.expectedMac) !== mac) {
    throw new JobFailure('DEVICE_CONSOLE_FAILED', `the console reports MAC ${mac}, the chip probe read ${normaliseMac(input.expectedMac)}`, {
      hint: 'Two boards may be mixed up on this port; unplug the others and try again.',
    });
  }

  const csr = await dev.csr();
  if (csr.cn !== mac) {
    throw new JobFailure('DEVICE_CONSOLE_FAILED', `the device made a CSR for ${csr.cn}, expected ${mac}`);
  }
  step('csr', `${csr.key_type} key generated on the device`);

  const issued = await api.provision({
    mac_address: mac,
    codigo: input.gateway.code,
    nome: input.gateway.name,
    conta_id: input.gateway.accountId,
    csr_pem: csr.csr_pem,
  });
  if (issued.private_key_pem !== undefined) {
    // The server must never make the key when we sent a CSR; refuse to use such a reply.
    throw new JobFailure('SERVER_REJECTED', 'the server returned a private key for a CSR request', {
      hint: 'Check the server version; a CSR-based provision must not return private_key_pem.',
    });
  }
  step('sign', `certificate ${issued.serial_number}, expires ${issued.expires_at}`);

  const broker = input.broker ?? { host: issued.mqtt_broker, port: issued.mqtt_port };
  await dev.discard();
  await dev.setAll({
    ca_pem: issued.ca_pem,
    cert_pem: issued.certificate_pem,
    key_pem: null, // the key stays on the device; no station key may linger in tdscfg
    wifi_ssid: input.wifi.ssid,
    wifi_pass: input.wifi.password ?? '',
    mqtt_host: broker.host,
    mqtt_port: broker.port,
    gw_code: input.gateway.code,
    prov_at: (input.now?.() ?? new Date()).toISOString(),
    prov_by: input.operator ?? '',
    cfg_ver: input.cfgVer ?? 1,
    modbus: input.modbus,
    ntp_host: input.ntpHost,
  });
  step('set', `CA, certificate, Wi-Fi "${input.wifi.ssid}", broker ${broker.host}:${broker.port}`);

  const commit = await dev.commit();
  step('commit', `written (${commit.key_source} key, serial ${commit.cert_serial ?? '?'})`);

  if (input.reboot ?? true) {
    await dev.reboot();
    step('reboot', 'device restarted');
  }
  return {
    mac,
    gatewayId: issued.gateway_id,
    serialNumber: issued.serial_number,
    expiresAt: issued.expires_at,
    firmwareVersion: before.fw.version,
    keySource: commit.key_source,
    commit,
    before,
  };
}
