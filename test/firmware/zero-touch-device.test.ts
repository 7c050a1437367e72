import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDeviceCsr } from '@tds/server';
import { topics } from '@tds/server/contract';
import { startBackend, type Backend } from '../support/backend.js';
import { Recorder } from '../rpi-agent/support.js';
import { buildDeviceHost } from './host-build.js';
import { deviceApiUrl, fingerprintOf, ZeroTouchDevice } from './zero-touch-support.js';

/**
 * Zero-touch onboarding of the ESP32 firmware (docs/zero-touch.md), run by its host build
 * (tds-device-host) over HTTPS against the real issuance server (open enrolment on), with Debian's
 * Mosquitto running the server's broker kit. The test plays the installer through the claim API with
 * what the device printed on its console (the activation code) or the label QR from the bench.
 */
const CODE = /^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/;
let backend: Backend;
let recorder: Recorder;
let device: ZeroTouchDevice | undefined;

const operator = () => backend.server.client('operator');
const hexSerial = (s: string) => BigInt(`0x${s}`);

function factory(extra: Record<string, string | number> = {}): Record<string, string | number> {
  return { bs_url: deviceApiUrl(backend.server.apiUrl), bs_ca: backend.server.caPem, wifi_ssid: 'bench', wifi_pass: 'bench-password', ...extra };
}

function requests(mac: string): Array<{ id: string; status: string; status_reason: string | null; path: string }> {
  const db = new Database(path.join(backend.server.dataDir, 'tds-server.db'), { readonly: true });
  try {
    return db.prepare('SELECT id, status, status_reason, path FROM bootstrap_requests WHERE mac = ? ORDER BY created_at').all(mac) as Array<{
      id: string;
      status: string;
      status_reason: string | null;
      path: string;
    }>;
  } finally {
    db.close();
  }
}

/** Live (not retained) `online` from the device on its status topic. */
async function online(mac: string, since: number): Promise<void> {
  await recorder.waitFor((m) => m.topic === topics.status(mac) && m.payload === 'online' && !m.retain && m.at >= since, 30_000, `${mac} online`);
}

/** What the device stored after the 200: an identity for its own key, the bootstrap state gone. */
function expectInstalled(d: ZeroTouchDevice, serial: string, codigo: string): void {
  const cfg = d.nvs('tdscfg');
  const dev = d.nvs('nvs');
  expect(hexSerial(new X509Certificate(String(cfg.cert_pem)).serialNumber)).toBe(hexSerial(serial));
  expect(cfg).toMatchObject({ mqtt_host: '127.0.0.1', mqtt_port: backend.broker.port, gw_code: codigo, mac: d.mac, prov_by: 'zero-touch', cfg_ver: 1 });
  expect(cfg.ca_pem).toBe(backend.server.caPem);
  expect(cfg.key_pem).toBeUndefined();
  expect(fingerprintOf(String(cfg.cert_pem))).toBe(fingerprintOf(String(dev.key_pem)));
  expect(dev.bs_id).toBeUndefined();
  expect(dev.bs_key).toBeUndefined();
  expect(dev.bs_meta).toBeUndefined();
}

beforeAll(async () => {
  buildDeviceHost();
  backend = await startBackend({ broker: 'mosquitto', serverIdentity: true, server: { extraServeArgs: ['--open-enrolment'] } });
  recorder = await Recorder.connect(backend, backend.serverIdentity!, ['tds_new/devices/+/status']);
}, 300_000);

afterEach(async () => {
  await device?.stop();
  device = undefined;
});

afterAll(async () => {
  await recorder?.close();
  await backend?.stop();
});

describe('ESP32 firmware (host build): zero-touch onboarding against the real server', () => {
  it('open path: shows its code on the console, the installer claims it with code + MAC, the device installs its certificate and goes online', async () => {
    const mac = '02:7a:00:00:00:01';
    device = await ZeroTouchDevice.start(mac, factory());
    const shown = await device.waitFor('code');
    expect(shown.mac).toBe(mac);
    expect(shown.code).toMatch(CODE);
    expect(shown.qr).toBe(`TDS:C1:027A00000001:${String(shown.code).replace('-', '')}`);
    expect(shown.bootstrap_id).toMatch(/^[0-9a-f]{32}$/);
    // The key was made on the device and kept in its NVS with the request id; the console shows its fingerprint.
    const dev = device.nvs('nvs');
    expect(dev.bs_id).toBe(shown.bootstrap_id);
    expect(shown.key_fingerprint).toBe(fingerprintOf(String(dev.bs_key)));

    const preview = await operator().claimPreview({ mac_address: mac, activation_code: String(shown.code) });
    expect(preview).toMatchObject({ bootstrap_id: shown.bootstrap_id, path: 'open', status: 'pending', key_fingerprint: shown.key_fingerprint, model: 'ESP32 rev3', firmware_version: '0.0.0-host', key_type: 'EC P-256' });
    const since = Date.now();
    const claim = await operator().claim({ mac_address: mac, activation_code: String(shown.code), conta_id: backend.server.contaId, codigo: 'ZT-ESP-OPEN', nome: 'Open-path ESP32', bootstrap_id: preview.bootstrap_id });
    const installed = await device.waitFor('installed', 30_000);
    expect(hexSerial(String(installed.serial))).toBe(hexSerial(claim.serial_number));
    await online(mac, since);
    expectInstalled(device, claim.serial_number, 'ZT-ESP-OPEN');
    expect(requests(mac)).toEqual([expect.objectContaining({ id: shown.bootstrap_id, status: 'issued' })]);
    // The device's private key never reached the server.
    const keyBody = String(device.nvs('nvs').key_pem).split('\n')[1]!;
    expect(readFileSync(path.join(backend.server.dataDir, 'tds-server.db')).includes(Buffer.from(keyBody))).toBe(false);
  });

  it('attested path: a bench-born board (birth identity in its factory data) waits for the label QR, then installs and goes online', async () => {
    const mac = '02:7a:00:00:00:02';
    const birth = await createDeviceCsr({ mac });
    const identity = await operator().issueBirthIdentity({ mac_address: mac, csr_pem: birth.csrPem, model: 'ESP32-D0WD-V3' });
    device = await ZeroTouchDevice.start(mac, factory({ birth_cert: identity.birth_certificate_pem, birth_key: birth.privateKeyPem }));
    const waiting = await device.waitFor('waiting');
    expect(waiting).toMatchObject({ path: 'attested', bootstrap_id: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(waiting.code).toBeUndefined();
    const preview = await operator().claimPreview({ qr: identity.label_qr });
    expect(preview).toMatchObject({ bootstrap_id: waiting.bootstrap_id, path: 'attested', key_fingerprint: waiting.key_fingerprint, birth_serial_number: identity.serial_number });
    // The operational key is new: not the birth key.
    expect(waiting.key_fingerprint).not.toBe(fingerprintOf(birth.privateKeyPem));
    const since = Date.now();
    const claim = await operator().claim({ qr: identity.label_qr, conta_id: backend.server.contaId, codigo: 'ZT-ESP-BENCH', nome: 'Bench-born ESP32' });
    const installed = await device.waitFor('installed', 30_000);
    expect(hexSerial(String(installed.serial))).toBe(hexSerial(claim.serial_number));
    await online(mac, since);
    expectInstalled(device, claim.serial_number, 'ZT-ESP-BENCH');
    // The birth identity stays in the factory data (a later re-onboarding needs a new claim from the bench anyway).
    expect(device.nvs('tdscfg').birth_cert).toBe(identity.birth_certificate_pem);
  });

  it('a wrong server CA: the pin refuses the server, the device says so and nothing reaches the server', async () => {
    const mac = '02:7a:00:00:00:03';
    // A real CA, but not the one that issued the server's HTTPS certificate.
    device = await ZeroTouchDevice.start(mac, factory({ bs_ca: await operator().getBirthCaPem() }));
    const err = await device.waitFor('error');
    expect(err).toMatchObject({ code: 'tls_verify', retry_in_s: expect.any(Number) });
    expect(String(err.message)).toMatch(/refused by the pinned CA/);
    expect(requests(mac)).toEqual([]);
    expect(device.nvs('nvs').bs_id).toBeUndefined();
  });

  it('410 rejected: the device says so and starts again with a new key and a new code (CA and URL from the build)', async () => {
    const mac = '02:7a:00:00:00:04';
    const caFile = path.join(backend.server.dataDir, '..', 'zt-build-ca.pem');
    writeFileSync(caFile, backend.server.caPem);
    device = await ZeroTouchDevice.start(mac, { wifi_ssid: 'bench', wifi_pass: 'bench-password' }, ['--bs-url', deviceApiUrl(backend.server.apiUrl), '--bs-ca', caFile]);
    const first = await device.waitFor('code');
    await operator().claimReject({ mac_address: mac, activation_code: String(first.code), reason: 'fingerprint differs' });
    const rejected = await device.waitFor('rejected', 30_000);
    expect(rejected.reason).toContain('fingerprint differs');
    const index = device.events.indexOf(rejected);
    const second = await device.waitFor('code', 40_000, index);
    expect(second.bootstrap_id).not.toBe(first.bootstrap_id);
    expect(second.code).not.toBe(first.code);
    expect(second.key_fingerprint).not.toBe(first.key_fingerprint);
    expect(requests(mac).map((r) => r.status)).toEqual(['rejected', 'pending']);
  });

  it('a reboot mid-poll resumes the same request (key kept in NVS); the early poll is told to slow down and waits as told', async () => {
    const mac = '02:7a:00:00:00:05';
    device = await ZeroTouchDevice.start(mac, factory());
    const shown = await device.waitFor('code');
    await device.host.device.waitForOutput(/bootstrap: pending, next poll in \d+ s/, 30_000);
    const keyBefore = device.nvs('nvs').bs_key;
    const rebootedAt = device.events.length;
    await device.console.reboot();
    // The same request and code come back from NVS after the reboot.
    const again = await device.waitFor('code', 20_000, rebootedAt);
    expect(again).toMatchObject({ bootstrap_id: shown.bootstrap_id, code: shown.code, key_fingerprint: shown.key_fingerprint });
    expect(device.nvs('nvs').bs_key).toBe(keyBefore);
    await device.host.device.waitForOutput(new RegExp(`resuming request ${String(shown.bootstrap_id)}`), 5_000);
    // The resumed poll came sooner than poll_interval − 1 s after the last accepted one: 429 slow_down + Retry-After.
    await device.host.device.waitForOutput(/bootstrap: slow_down, next poll in \d+ s/, 20_000);
    await device.host.device.waitForOutput(/bootstrap: slow_down[^\n]*\n(?:[^\n]*\n)*?[^\n]*bootstrap: pending, next poll/, 30_000);
    // Both lines are from the same boot (uptime restarts at a reboot), in log order.
    const polls = device.logLines(/^bootstrap: (slow_down|pending), next poll in/);
    const slowAt = polls.findIndex((l) => l.text.startsWith('bootstrap: slow_down'));
    const slow = polls[slowAt]!;
    const pollAfter = polls[slowAt + 1]!;
    expect(pollAfter.text).toMatch(/^bootstrap: pending/);
    expect(pollAfter.ms - slow.ms).toBeGreaterThanOrEqual(Number(/in (\d+) s/.exec(slow.text)![1]) * 1000);
    expect(requests(mac)).toEqual([expect.objectContaining({ id: shown.bootstrap_id, status: 'pending' })]);
    // And it still finishes: claimed with the code it shows.
    const since = Date.now();
    const claim = await operator().claim({ mac_address: mac, activation_code: String(again.code), conta_id: backend.server.contaId, codigo: 'ZT-ESP-REBOOT', nome: 'Rebooted ESP32' });
    await device.waitFor('installed', 30_000, rebootedAt);
    await online(mac, since);
    expectInstalled(device, claim.serial_number, 'ZT-ESP-REBOOT');
  });
});
