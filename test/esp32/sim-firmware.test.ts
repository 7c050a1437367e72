/**
 * The simulated board's flash boot: real bootloader/app images in its flash, the `tdscfg` NVS
 * partition read with our reader, and the firmware stand-in going online over mTLS MQTT against a
 * real Mosquitto, with Last Will, telemetry and commands (topics from the server contract).
 */
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '../../server/src/contract/topics.js';
import { generateNvsImage, type NvsEntry } from '../../src/main/esp32/nvs/index.js';
import { startMosquitto, type RunningMosquitto } from '../support/mosquitto.js';
import { freePort } from '../support/ports.js';
import { tempDir } from '../support/temp.js';
import { TDSCFG_OFFSET, TDSCFG_SIZE, bundleParts, writeFlashFile } from '../sim/esp32/flash-image.js';
import { startEsp32Sim, type Esp32Sim } from '../sim/esp32/launch.js';
import { makeTestPki, writeMosquittoConf, type CertPair, type TestPki } from '../sim/esp32/test-pki.js';

interface Msg {
  topic: string;
  payload: string;
  retain: boolean;
}

let tmp: ReturnType<typeof tempDir>;
let pki: TestPki;
let broker: RunningMosquitto;
let monitor: MqttClient;
const messages: Msg[] = [];
const sims: Esp32Sim[] = [];

function tdscfg(mac: string, device: CertPair, overrides: Partial<Record<string, string | number>> = {}): Uint8Array {
  const v: Record<string, string | number> = {
    ca_pem: pki.caPem,
    cert_pem: device.cert,
    key_pem: device.key,
    wifi_ssid: 'Fabrica-Linha-2',
    wifi_pass: 'senha-segura-123',
    mqtt_host: '127.0.0.1',
    mqtt_port: broker.port,
    gw_code: 'GW-0001',
    mac,
    prov_at: new Date().toISOString(),
    prov_by: 'station-test',
    cfg_ver: 1,
    ...overrides,
  };
  const entries: NvsEntry[] = Object.entries(v).map(([key, value]) =>
    key === 'mqtt_port'
      ? { namespace: 'tds', key, type: 'u16', value: Number(value) }
      : key === 'cfg_ver'
        ? { namespace: 'tds', key, type: 'u8', value: Number(value) }
        : { namespace: 'tds', key, type: 'string', value: String(value) },
  );
  return generateNvsImage(entries, { size: TDSCFG_SIZE });
}

async function boardWith(mac: string, flash: { tdscfg?: Uint8Array; mutate?: (f: Buffer) => void }): Promise<Esp32Sim> {
  const dir = path.join(tmp.path, mac.replace(/:/g, ''));
  const flashFile = path.join(tmp.path, `${mac.replace(/:/g, '')}.bin`);
  writeFlashFile(flashFile, { extra: flash.tdscfg ? [{ offset: TDSCFG_OFFSET, data: flash.tdscfg }] : [] });
  if (flash.mutate) {
    const { readFileSync, writeFileSync } = await import('node:fs');
    const f = readFileSync(flashFile);
    flash.mutate(f);
    writeFileSync(flashFile, f);
  }
  const sim = await startEsp32Sim({ mac, dir, flashFile, telemetryIntervalMs: 300 });
  sims.push(sim);
  return sim;
}

/** Resolves with the first message at index ≥ `from` that matches. */
async function waitForMessage(pred: (m: Msg) => boolean, from = 0, timeoutMs = 15_000): Promise<Msg> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = messages.slice(from).find(pred);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`expected MQTT message did not arrive; got ${messages.slice(from).map((m) => `${m.topic}=${m.payload.slice(0, 40)}`).join(', ')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  tmp = tempDir('tds-simfw-');
  pki = makeTestPki(tmp.path);
  broker = await startMosquitto(writeMosquittoConf(pki, await freePort()));
  const id = pki.client('station-monitor-test');
  monitor = mqtt.connect({ protocol: 'mqtts', host: '127.0.0.1', port: broker.port, ca: pki.caPem, cert: id.cert, key: id.key, clientId: 'station-monitor-test', reconnectPeriod: 0 });
  await new Promise<void>((resolve, reject) => {
    monitor.once('connect', () => resolve());
    monitor.once('error', reject);
  });
  monitor.on('message', (topic, payload, packet) => messages.push({ topic, payload: payload.toString(), retain: packet.retain }));
  await monitor.subscribeAsync('tds_new/devices/#', { qos: 1 });
});

afterAll(async () => {
  for (const s of sims) await s.stop();
  await monitor?.endAsync();
  await broker?.stop();
  tmp?.remove();
});

describe('simulated board: flash boot of a provisioned board', () => {
  const mac = '24:6f:28:aa:00:01';
  let sim: Esp32Sim;
  beforeAll(async () => {
    sim = await boardWith(mac, { tdscfg: tdscfg(mac, pki.client(mac)) });
  });

  it('boots the real images: ROM banner, bootloader segments, partition table with tdscfg, app loaded', async () => {
    await sim.waitForLog(/\[uart\] I \(\d+\) tds: mqtt connected: online as 24:6f:28:aa:00:01/);
    const out = sim.output();
    expect(out).toContain('rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)');
    const bootloader = bundleParts().find((p) => p.name === 'bootloader.bin')!.data;
    expect(out).toContain(`entry 0x${bootloader.readUInt32LE(4).toString(16).padStart(8, '0')}`);
    expect(out).toMatch(/tdscfg\s+WiFi data\s+01 02 00310000 00010000/);
    expect(out).toContain('Loaded app from partition at offset 0x10000');
    expect(out).toMatch(/config: tdscfg @0x310000, 12 keys, gw_code GW-0001, cfg_ver 1/);
  });

  it('goes online (retained) with its MAC as client id and sends seed-format telemetry', async () => {
    const online = await waitForMessage((m) => m.topic === topics.status(mac) && m.payload === 'online');
    expect(online.topic).toBe(`tds_new/devices/${mac}/status`);
    const t = await waitForMessage((m) => m.topic === topics.telemetry(mac));
    const payload = JSON.parse(t.payload) as Record<string, unknown>;
    expect(payload).toMatchObject({ gateway_mac: mac, unidade: '°C', firmware_version: '1.0.0-sim' });
    expect(typeof payload.valor).toBe('number');
    expect(Number.isNaN(Date.parse(String(payload.timestamp)))).toBe(false);
    expect(broker.output()).toMatch(new RegExp(`New client connected from 127\\.0\\.0\\.1:\\d+ as ${mac}`));
  });

  it('answers ping on its logs topic and reboots on command (offline, SW reset, online again)', async () => {
    monitor.publish(topics.commands(mac), JSON.stringify({ cmd: 'ping', id: 'p-1' }), { qos: 1 });
    const pong = await waitForMessage((m) => m.topic === topics.logs(mac) && m.payload.includes('"p-1"'));
    expect(JSON.parse(pong.payload)).toMatchObject({ event: 'pong', id: 'p-1', firmware_version: '1.0.0-sim' });
    monitor.publish(topics.commands(mac), JSON.stringify({ cmd: 'melt', id: 'x-1' }), { qos: 1 });
    const rejected = await waitForMessage((m) => m.topic === topics.logs(mac) && m.payload.includes('"x-1"'));
    expect(JSON.parse(rejected.payload)).toEqual({ event: 'command_rejected', id: 'x-1', detail: "unknown cmd 'melt'" });

    const before = messages.length;
    monitor.publish(topics.commands(mac), JSON.stringify({ cmd: 'reboot', id: 'r-1' }), { qos: 1 });
    await waitForMessage((m) => m.topic === topics.status(mac) && m.payload === 'offline', before);
    await sim.waitForLog(/rst:0xc \(SW_CPU_RESET\),boot:0x13/);
    await waitForMessage((m) => m.topic === topics.status(mac) && m.payload === 'online', before);
  });

  it('unplugging it makes the broker publish its Last Will "offline"', async () => {
    const before = messages.length;
    await sim.sendControl('UNPLUG');
    const will = await waitForMessage((m) => m.topic === topics.status(mac) && m.payload === 'offline', before);
    expect(will.payload).toBe('offline');
  });
});

describe('simulated board: flash boot failures are visible on the serial log and silent on MQTT', () => {
  it('empty tdscfg → provisioning mode, never online', async () => {
    const mac = '24:6f:28:aa:00:02';
    const sim = await boardWith(mac, {});
    await sim.waitForLog(/E \(\d+\) tds: configuration invalid: tdscfg has no "tds" namespace/);
    await sim.waitForLog(/provisioning mode/);
    await new Promise((r) => setTimeout(r, 500));
    expect(messages.some((m) => m.topic.includes(mac))).toBe(false);
  });

  it('a tdscfg made for another board is refused', async () => {
    const mac = '24:6f:28:aa:00:03';
    const other = '24:6f:28:aa:00:99';
    const sim = await boardWith(mac, { tdscfg: tdscfg(other, pki.client(other)) });
    await sim.waitForLog(/mac in tdscfg is 24:6f:28:aa:00:99 but this chip's MAC is 24:6f:28:aa:00:03 \(image made for another board\)/);
    expect(sim.output()).toMatch(/cert_pem CN is '24:6f:28:aa:00:99'/);
  });

  it('a certificate from another CA: TLS is refused by the broker and the log says so', async () => {
    const mac = '24:6f:28:aa:00:04';
    const other = pki.otherCa();
    const rogue = pki.client(mac, other);
    const sim = await boardWith(mac, { tdscfg: tdscfg(mac, rogue, { ca_pem: pki.caPem }) });
    // The firmware checks its own certificate against its CA before trying.
    await sim.waitForLog(/configuration invalid: cert_pem is not signed by ca_pem/);
    const mac2 = '24:6f:28:aa:00:05';
    // Same rogue pair but with the rogue CA as its trust anchor: the broker's certificate then fails.
    const sim2 = await boardWith(mac2, { tdscfg: tdscfg(mac2, pki.client(mac2, other), { ca_pem: other.pem }) });
    await sim2.waitForLog(/E \(\d+\) tds: mqtt: connect failed: .*(certificate|self.signed|verify)/i);
    expect(messages.some((m) => m.topic.includes(mac2))).toBe(false);
  });

  it('a corrupted application image does not boot', async () => {
    const mac = '24:6f:28:aa:00:06';
    const sim = await boardWith(mac, { tdscfg: tdscfg(mac, pki.client(mac)), mutate: (f) => void f.writeUInt8(f.readUInt8(0x10000 + 5000) ^ 0xff, 0x10000 + 5000) });
    await sim.waitForLog(/E \(\d+\) esp_image: image at 0x10000 has Checksum failed/);
    await sim.waitForLog(/No bootable app partitions/);
    expect(sim.output()).not.toContain('tds: TDS gateway');
  });
});
