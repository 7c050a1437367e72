import { readFileSync } from 'node:fs';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ProvisionRequest, ProvisionResponse } from '@tds/server/contract';
import { SerialPortLink } from '../../src/main/devices/serialport-link.js';
import { ConsoleRequestError, DeviceConsoleClient, provisionWithDeviceKey } from '../../src/main/device-console/index.js';
import { startMosquitto, type RunningMosquitto } from '../support/mosquitto.js';
import { freePort } from '../support/ports.js';
import { tempDir } from '../support/temp.js';
import { buildDeviceHost, startHostDevice, startModbusBus, type HostDevice } from './host-build.js';
import { makePki, writeMosquittoConf, type TestPki } from './openssl-pki.js';

// The station's console client against the real firmware console code (tds-device-host on a pty),
// a CA made with the openssl CLI, and a real Mosquitto enforcing mTLS + per-device ACLs.

const MAC = '24:6f:28:1a:2b:3c';
const SERVICE = 'tds-test-service';

let tmp: { path: string; remove(): void };
let device: HostDevice | undefined;
let link: SerialPortLink | undefined;
let client: DeviceConsoleClient | undefined;

beforeAll(() => {
  buildDeviceHost();
}, 300_000);

afterEach(async () => {
  client?.dispose();
  await link?.close();
  await device?.stop();
  tmp?.remove();
  client = undefined;
  link = undefined;
  device = undefined;
});

async function connectConsole(extraArgs: string[] = [], logLines: string[] = []): Promise<DeviceConsoleClient> {
  tmp = tempDir('tds-fw-console-');
  device = await startHostDevice(tmp.path, MAC, extraArgs);
  link = new SerialPortLink(device.port);
  await link.open({ baudRate: 115200 });
  client = new DeviceConsoleClient(link, { timeoutMs: 5_000, onLogLine: (l) => logLines.push(l) });
  return client;
}

describe('DeviceConsoleClient against the host console program', () => {
  it('reads info, stages values in chunks and refuses an incomplete commit', async () => {
    const logs: string[] = [];
    const c = await connectConsole([], logs);
    const info = await c.info();
    expect(info.proto).toBe('tds-console/1');
    expect(info.mac).toBe(MAC);
    expect(info.state).toBe('provisioning');
    expect(info.cert.installed).toBe(false);
    expect(info.config.valid).toBe(false);
    expect(info.config.problems).toContain('cert_pem is missing');

    await c.set('wifi_ssid', 'bench');
    await c.set('mqtt_port', 8883);
    // A long value that is not a certificate: transferred in chunks, then refused as a value.
    const notPem = `-----BEGIN CERTIFICATE-----\n${'QUJD'.repeat(400)}\n-----END CERTIFICATE-----\n`;
    await expect(c.set('ca_pem', notPem)).rejects.toMatchObject({ consoleCode: 'bad_value' });
    await expect(c.set('wifi_pass', 'short')).rejects.toBeInstanceOf(ConsoleRequestError);
    const refused = await c.commit().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConsoleRequestError);
    expect((refused as ConsoleRequestError).consoleCode).toBe('invalid_config');
    expect((refused as ConsoleRequestError).problems).toContain('mqtt_host is missing');
    expect((refused as ConsoleRequestError).code).toBe('DEVICE_CONSOLE_FAILED');
    const staged = await c.info();
    expect(staged.staged).toEqual(['mqtt_port', 'wifi_ssid']);
    await c.discard();
    expect((await c.info()).staged).toEqual([]);

    // Reboot: acknowledged, ROM banner noise, then a boot event.
    const boot = await c.reboot();
    expect(boot.mac).toBe(MAC);
    expect(logs.some((l) => l.includes('rst:0x1 (POWERON_RESET)'))).toBe(true);
  });

  it('answers Improv Wi-Fi serial on the same port and stores the network', async () => {
    const c = await connectConsole();
    const frames: Buffer[] = [];
    let raw = Buffer.alloc(0);
    const off = link!.onData((chunk) => {
      raw = Buffer.concat([raw, Buffer.from(chunk)]);
      let at: number;
      while ((at = raw.indexOf('IMPROV')) >= 0 && raw.length >= at + 9 && raw.length >= at + 10 + raw[at + 8]!) {
        const len = raw[at + 8]!;
        frames.push(raw.subarray(at, at + 10 + len));
        raw = raw.subarray(at + 10 + len);
      }
    });
    const frame = (type: number, data: number[]): Buffer => {
      const b = Buffer.from([...Buffer.from('IMPROV'), 1, type, data.length, ...data]);
      return Buffer.concat([b, Buffer.from([b.reduce((s, x) => (s + x) & 0xff, 0)]), Buffer.from('\n')]);
    };
    const until = async (n: number): Promise<void> => {
      for (let i = 0; i < 100 && frames.length < n; i++) await new Promise((r) => setTimeout(r, 20));
      expect(frames.length).toBeGreaterThanOrEqual(n);
    };
    const checksumOk = (f: Buffer): boolean => f.subarray(0, -1).reduce((s, x) => (s + x) & 0xff, 0) === f[f.length - 1];

    await link!.write(frame(3, [3, 0])); // RPC REQUEST_INFO
    await until(1);
    const info = frames[0]!;
    expect(checksumOk(info)).toBe(true);
    expect(info[7]).toBe(4); // RPC_RESULT
    const strings: string[] = [];
    for (let i = 11; i < info.length - 1; i += 1 + info[i]!) strings.push(info.subarray(i + 1, i + 1 + info[i]!).toString());
    expect(strings).toEqual(['tds-gateway', '0.0.0-host', 'ESP32', `TDS ${MAC}`]);

    const ssid = Buffer.from('bench-ap');
    const pass = Buffer.from('bench-password');
    const payload = [ssid.length, ...ssid, pass.length, ...pass];
    await link!.write(frame(3, [1, payload.length, ...payload])); // SEND_WIFI_SETTINGS
    await until(4);
    expect([...frames.slice(1, 4)].map((f) => [f[7], f[9]])).toEqual([
      [1, 3], // CURRENT_STATE provisioning
      [1, 4], // CURRENT_STATE provisioned
      [4, 1], // RPC_RESULT for SEND_WIFI_SETTINGS
    ]);
    off();
    const after = await c.info();
    expect(after.config.wifi_ssid).toBe('bench-ap');
    const nvs = JSON.parse(readFileSync(path.join(tmp.path, 'tdscfg.json'), 'utf8')) as Record<string, Record<string, { type: string; value: unknown }>>;
    expect(nvs.tds!.wifi_pass).toEqual({ type: 'string', value: 'bench-password' });
  });
});

describe('device-key provisioning, online over mTLS, renewal (host firmware + Mosquitto + openssl CA)', () => {
  let pki: TestPki;
  let broker: RunningMosquitto;
  let observer: MqttClient;
  let pkiDir: { path: string; remove(): void };
  const seen: Array<{ topic: string; payload: string; retain: boolean }> = [];

  beforeAll(async () => {
    pkiDir = tempDir('tds-fw-pki-');
    pki = makePki(pkiDir.path);
    const port = await freePort();
    broker = await startMosquitto(writeMosquittoConf(pkiDir.path, pki, port, SERVICE));
    const svc = pki.client(SERVICE);
    observer = mqtt.connect(`mqtts://127.0.0.1:${port}`, {
      ca: pki.caPem,
      cert: readFileSync(svc.cert),
      key: readFileSync(svc.key),
      clientId: SERVICE,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    await new Promise<void>((resolve, reject) => {
      observer.once('connect', () => resolve());
      observer.once('error', reject);
    });
    observer.on('message', (topic, payload, packet) => seen.push({ topic, payload: payload.toString(), retain: packet.retain }));
    await observer.subscribeAsync('tds_new/#', { qos: 1 });
  }, 60_000);

  afterAll(async () => {
    await observer?.endAsync();
    await broker?.stop();
    pkiDir?.remove();
  });

  /** What a fresh subscriber gets as the retained status of a device. */
  async function retainedStatus(mac: string): Promise<string> {
    const topic = `tds_new/devices/${mac}/status`;
    const got = new Promise<string>((resolve) => {
      const onMsg = (t: string, payload: Buffer, packet: { retain: boolean }): void => {
        if (t === topic && packet.retain) {
          observer.off('message', onMsg);
          resolve(payload.toString());
        }
      };
      observer.on('message', onMsg);
    });
    await observer.unsubscribeAsync(topic).catch(() => undefined);
    await observer.subscribeAsync(topic, { qos: 1 });
    return got;
  }

  async function waitFor(pred: (m: { topic: string; payload: string; retain: boolean }) => boolean, ms = 20_000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = seen.find(pred);
      if (m) return m;
      if (Date.now() > deadline) throw new Error(`no matching MQTT message within ${ms} ms; seen: ${JSON.stringify(seen.map((s) => [s.topic, s.payload.slice(0, 80)]))}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('provisions with a key born on the device, goes online, sends Modbus telemetry, renews its certificate and sends its Last Will', async () => {
    // An RS485 bus: a pty pair with a pymodbus RTU slave (id 1) on the far end.
    const busDir = tempDir('tds-fw-bus-');
    try {
      const bus = await startModbusBus(busDir.path, [1]);
      try {
        await provisionOnlineRenew(bus.port);
      } finally {
        await bus.stop();
      }
    } finally {
      busDir.remove();
    }
  });

  async function provisionOnlineRenew(busPort: string): Promise<void> {
    const c = await connectConsole(['--rs485', busPort]);
    const requests: ProvisionRequest[] = [];
    // The server's role, played by the openssl CA: checks the CSR and signs it.
    const api = {
      async provision(req: ProvisionRequest): Promise<ProvisionResponse> {
        requests.push(req);
        expect(pki.csrSubjectCn(req.csr_pem!)).toBe(req.mac_address);
        const { certPem, serial } = pki.signCsr(req.csr_pem!);
        return {
          gateway_id: 7,
          certificate_pem: certPem,
          ca_pem: pki.caPem,
          expires_at: new Date(Date.now() + 30 * 86400_000).toISOString(),
          serial_number: serial,
          mqtt_broker: '127.0.0.1',
          mqtt_port: broker.port,
          mqtt_topic: `tds_new/devices/${req.mac_address}/telemetry`,
        };
      },
    };
    const steps: string[] = [];
    const result = await provisionWithDeviceKey({
      console: c,
      api,
      gateway: { code: 'GW-001', name: 'Bench 1', accountId: 1 },
      wifi: { ssid: 'bench', password: 'bench-password' },
      expectedMac: MAC.toUpperCase(),
      operator: 'tech-1',
      // The firmware's table (docs/firmware-esp32.md); f32 is the firmware's own, beyond what profiles write.
      modbus: JSON.stringify({ v: 1, baud: 9600, pts: [[1, 3, 0, 'f32', 1, 'm3', 3600], [1, 3, 2, 'u16', 0.1, 'C', 3600]] }),
      onStep: (s) => steps.push(s),
    });
    expect(steps).toEqual(['info', 'csr', 'sign', 'set', 'commit', 'reboot']);
    expect(result.mac).toBe(MAC);
    expect(result.keySource).toBe('device');
    expect(result.commit.valid).toBe(true);
    expect(BigInt(`0x${result.commit.cert_serial}`)).toBe(BigInt(`0x${result.serialNumber}`));
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ mac_address: MAC, codigo: 'GW-001', conta_id: 1 });

    // The private key exists only in the device's own NVS, never in tdscfg.
    const cfg = JSON.parse(readFileSync(path.join(tmp.path, 'tdscfg.json'), 'utf8')) as Record<string, Record<string, { type: string; value: unknown }>>;
    const dev = JSON.parse(readFileSync(path.join(tmp.path, 'nvs.json'), 'utf8')) as Record<string, Record<string, { type: string; value: unknown }>>;
    expect(cfg.tds!.key_pem).toBeUndefined();
    expect(cfg.tds!.mqtt_port).toEqual({ type: 'u16', value: broker.port });
    expect(cfg.tds!.mac).toEqual({ type: 'string', value: MAC });
    expect(cfg.tds!.cfg_ver).toEqual({ type: 'u8', value: 1 });
    expect(String(dev.tds_dev!.key_pem!.value)).toContain('BEGIN EC PRIVATE KEY');

    // Online after the reboot: the console reports it, and the broker holds the retained status.
    const deadline = Date.now() + 20_000;
    while ((await c.info()).state !== 'online') {
      if (Date.now() > deadline) throw new Error('device did not come online within 20 s');
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(await retainedStatus(MAC)).toBe('online');

    // Telemetry in the seed payload, read over RTU from the pymodbus slave.
    const t1 = await waitFor((m) => m.topic === `tds_new/devices/${MAC}/telemetry` && m.payload.includes('"register":0'));
    const t2 = await waitFor((m) => m.topic === `tds_new/devices/${MAC}/telemetry` && m.payload.includes('"register":2'));
    expect(JSON.parse(t1.payload)).toMatchObject({ valor: 10, unidade: 'm3', gateway_mac: MAC, slave_id: 1, register: 0, firmware_version: '0.0.0-host' });
    expect(JSON.parse(t2.payload)).toMatchObject({ valor: 23.5, unidade: 'C', slave_id: 1, register: 2 });
    expect(typeof (JSON.parse(t1.payload) as { timestamp: unknown }).timestamp).toBe('string');

    // Renewal over MQTT: cert_renew → CSR → cert_update → reconnect with the new cert → ack.
    const cmd = `tds_new/devices/${MAC}/commands`;
    await observer.publishAsync(cmd, JSON.stringify({ cmd: 'cert_renew', id: 'renew-1' }), { qos: 1 });
    const csrMsg = await waitFor((m) => m.topic === `tds_new/devices/${MAC}/cert/csr`);
    const csr = JSON.parse(csrMsg.payload) as { id: string; csr_pem: string };
    expect(csr.id).toBe('renew-1');
    expect(pki.csrSubjectCn(csr.csr_pem)).toBe(MAC);
    const renewed = pki.signCsr(csr.csr_pem);
    await observer.publishAsync(
      cmd,
      JSON.stringify({ cmd: 'cert_update', id: 'renew-1', certificate_pem: renewed.certPem, serial_number: renewed.serial }),
      { qos: 1 },
    );
    const ack = await waitFor((m) => m.topic === `tds_new/devices/${MAC}/cert/ack`).catch((err: unknown) => {
      throw new Error(`${String(err)}\n--- device ---\n${device!.device.output().slice(-3000)}`);
    });
    expect(JSON.parse(ack.payload)).toEqual({ id: 'renew-1', serial_number: renewed.serial });
    const after = await c.info();
    expect(BigInt(`0x${after.cert.serial}`)).toBe(BigInt(`0x${renewed.serial}`));
    expect(after.cert.key_source).toBe('device');

    // Ping answered on the logs topic with the new serial.
    await observer.publishAsync(cmd, JSON.stringify({ cmd: 'ping', id: 'p-1' }), { qos: 1 });
    const pong = await waitFor((m) => m.topic === `tds_new/devices/${MAC}/logs` && m.payload.includes('"pong"'));
    expect(JSON.parse(pong.payload)).toMatchObject({ event: 'pong', id: 'p-1', cert_serial: BigInt(`0x${renewed.serial}`).toString(16) });

    // The ACL holds: the device cannot publish as another MAC (its CN is its username).
    expect(broker.output()).not.toMatch(/Denied PUBLISH from 24:6f:28:1a:2b:3c/);

    // Power loss: the broker publishes the Last Will.
    seen.length = 0;
    await device!.device.kill();
    const will = await waitFor((m) => m.topic === `tds_new/devices/${MAC}/status` && m.payload === 'offline', 60_000);
    expect(will.payload).toBe('offline');
  }
});
