import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TelemetryLatestResponse } from '@tds/server/contract';
import { ApiClientIssuer } from '../../src/main/certs/api-client-issuer.js';
import { ConsoleRequestError, DeviceConsoleClient } from '../../src/main/device-console/index.js';
import type { SerialDeviceDescriptor } from '../../src/main/devices/serial-link.js';
import { SerialPortLink } from '../../src/main/devices/serialport-link.js';
import { loadBundle, type FirmwareBundle } from '../../src/main/esp32/bundle.js';
import { esp32JobSettings } from '../../src/main/esp32/job-settings.js';
import { readNvsImage } from '../../src/main/esp32/nvs/index.js';
import { esp32ProvisionJob, type Esp32JobInput } from '../../src/main/esp32/provision-job.js';
import { JobQueue } from '../../src/main/jobs/index.js';
import { BrokerMonitor } from '../../src/main/monitor/index.js';
import { encodeModbusTable, Esp32ModbusSchema } from '../../src/shared/esp32-modbus.js';
import { ProfileSchema } from '../../src/shared/profile.js';
import { StationError } from '../../src/shared/ipc-errors.js';
import { startEsp32Sim } from '../sim/esp32/launch.js';
import { SimDeviceSource } from '../sim/esp32/sim-device-source.js';
import { startBackend, type Backend } from '../support/backend.js';
import { tempDir } from '../support/temp.js';
import { stationGateways } from '../support/station-gateways.js';
import { buildDeviceHost, startHostDevice, startModbusBus, type HostDevice, type ModbusBus } from './host-build.js';

// ESP32 gateways that send telemetry, end to end: the profile's Modbus readings → the ESP32 job (both
// key modes) → the firmware's table in tdscfg → the real firmware core (tds-device-host) reading
// pymodbus RTU slaves on a pty → real Mosquitto → the real server's telemetry consumer → its REST
// API → the station's Gateways view. Registers of the slaves: test/firmware/modbus_slave.py.
const MANIFEST = path.resolve(import.meta.dirname, '../fixtures/bundle-arduino/manifest.json');

/** Two devices on the bus (qte_max_dispositivos 2), four readings, two of them every second. */
const MODBUS = {
  timeout_s: 0.5,
  maxDevices: 2,
  slaves: [
    { slave: 1, register: 2, unit: '°C', scale: 0.1, interval: 1 },
    { slave: 1, register: 4, unit: 'L', count: 2, interval: 3600 },
    { slave: 2, register: 0, unit: 'kWh', function: 'input', interval: 1 },
    { slave: 2, register: 3, unit: 'dBm', signed: true, interval: 3600 },
  ],
};
/** [slave, register, unit, value] the server must hold for MODBUS. */
const EXPECTED: Array<[number, number, string, number]> = [
  [1, 2, '°C', 23.5],
  [1, 4, 'L', 100000],
  [2, 0, 'kWh', 201],
  [2, 3, 'dBm', -1],
];

describe('ESP32 telemetry: profile → firmware → Modbus RTU → Mosquitto → server → station', () => {
  let backend: Backend;
  let monitor: BrokerMonitor;
  let bundle: FirmwareBundle;
  const queue = new JobQueue();
  const dir = tempDir('tds-fw-telemetry-');
  const running: Array<{ stop(): Promise<void> }> = [];

  beforeAll(async () => {
    buildDeviceHost();
    backend = await startBackend({ broker: 'mosquitto', monitorName: 'telemetry-test' });
    monitor = await BrokerMonitor.connect({ host: backend.broker.host, port: backend.broker.port, ca: backend.monitor.caPem, cert: backend.monitor.certPem, key: backend.monitor.keyPem });
    bundle = await loadBundle(MANIFEST);
  }, 300_000);

  afterAll(async () => {
    await queue.shutdown();
    for (const r of running.reverse()) await r.stop();
    await monitor?.close();
    await backend?.stop();
    dir.remove();
  });

  function profile(keyMode: 'station' | 'device') {
    return ProfileSchema.parse({
      name: `telemetry ${keyMode}`,
      accountId: backend.server.contaId,
      codeTemplate: 'TM-{mac12}',
      brokerHost: backend.broker.host,
      brokerPort: backend.broker.port,
      keyMode,
      esp32: { bundlePath: MANIFEST, wifiSsid: 'plant', onlineTimeoutSec: 30, modbus: MODBUS },
    });
  }

  async function run(input: Omit<Esp32JobInput, 'bundle' | 'monitor' | 'settings'>, keyMode: 'station' | 'device') {
    const settings = esp32JobSettings(profile(keyMode), 'plant-pass', { operator: 'tester', stationId: 'telemetry', reprovision: 'stop' }, { bootLogMs: 500 });
    const final = await queue.wait(queue.submit(esp32ProvisionJob({ ...input, bundle, monitor, settings })));
    expect({ state: final.state, error: final.error }).toEqual({ state: 'succeeded', error: undefined });
    return final;
  }

  async function bus(slaves: number[]): Promise<ModbusBus> {
    const busDir = path.join(dir.path, `bus-${running.length}`);
    mkdirSync(busDir);
    const b = await startModbusBus(busDir, slaves);
    running.push(b);
    return b;
  }

  async function hostDevice(mac: string, busPort: string, prepare?: (nvsDir: string) => void, extraArgs: string[] = []): Promise<HostDevice> {
    const nvsDir = path.join(dir.path, mac.replace(/:/g, ''));
    mkdirSync(nvsDir);
    prepare?.(nvsDir);
    const d = await startHostDevice(nvsDir, mac, ['--rs485', busPort, ...extraArgs]);
    running.push(d);
    return d;
  }

  /** What the server stores, once every series has a reading (and `more` holds). */
  async function stored(gatewayId: number, more: (r: TelemetryLatestResponse) => boolean = () => true, since?: Date): Promise<TelemetryLatestResponse> {
    const api = backend.server.client('auditor');
    try {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const r = await api.latestTelemetry(gatewayId, since ? { since } : {});
        if (r.series.length === EXPECTED.length && more(r)) return r;
        if (Date.now() > deadline) throw new Error(`the server holds ${JSON.stringify(r.series)}`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    } finally {
      api.close();
    }
  }

  function expectReadings(r: TelemetryLatestResponse, mac: string): void {
    expect(r.mac_address).toBe(mac);
    expect(r.series.map((s) => [s.slave_id, s.register, s.unidade, s.results.at(-1)!.valor])).toEqual(EXPECTED);
    for (const s of r.series) for (const x of s.results) expect(x).toMatchObject({ firmware_version: '0.0.0-host', timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), timestamp_source: 'device' });
  }

  it('device-key mode: the console writes the table; readings of two slaves reach the server, each register at its interval', async () => {
    const mac = '24:6f:28:7e:00:01';
    const b = await bus([1, 2]);
    const host = await hostDevice(mac, b.port);
    const device: SerialDeviceDescriptor = { id: host.port, path: host.port, resetMode: 'auto', likelyEsp32: true };
    const issuer = new ApiClientIssuer(backend.server.client('operator'), 'device');
    try {
      const final = await run({ device, openLink: () => new SerialPortLink(host.port), issuer, firmwareInstalled: true }, 'device');
      expect(final.steps.find((s) => s.name === 'certificate')?.detail).toMatch(/Modbus: 4 reading\(s\) from 2 of at most 2 device\(s\) at 9600 baud/);
      // Each register at its own interval. Every point is read when the app starts (after the commit,
      // and again after the console's reboot); then, while the every-second registers get 2 more
      // readings, the hourly ones get none.
      const r = await stored(final.gatewayId!);
      expectReadings(r, mac);
      const count = (x: TelemetryLatestResponse, unit: string): number => x.series.find((s) => s.unidade === unit)!.results.length;
      const grown = (from: TelemetryLatestResponse, n: number) => (x: TelemetryLatestResponse) => count(x, '°C') >= count(from, '°C') + n && count(x, 'kWh') >= count(from, 'kWh') + n;
      const settled = await stored(final.gatewayId!, grown(r, 1));
      const later = await stored(final.gatewayId!, grown(settled, 2));
      expect([count(later, 'L'), count(later, 'dBm')]).toEqual([count(settled, 'L'), count(settled, 'dBm')]);
      expect(count(later, 'L')).toBeLessThanOrEqual(2);

      // The full history endpoint holds the same rows, in the seed's payload fields.
      const all = await backend.server.client('auditor').telemetry(final.gatewayId!, { limit: 10_000 });
      expect(all.results.find((x) => x.unidade === 'kWh')).toMatchObject({ valor: 201, slave_id: 2, register: 0 });

      // The station's Gateways view shows the same series; another account's token sees nothing.
      const own = await stationGateways(path.join(dir.path, 'station'), { url: backend.server.url, token: backend.server.tokens.operator, caPem: backend.server.caPem });
      try {
        const view = await own.gateways.telemetry(final.gatewayId!);
        expect(view.series.map((s) => [s.slaveId, s.register, s.unit, s.points.at(-1)!.value])).toEqual(EXPECTED);
      } finally {
        own.link.close();
      }
      const other = await backend.server.createAccount('telemetry stranger');
      const foreign = await stationGateways(path.join(dir.path, 'stranger'), { url: backend.server.url, token: other.tokens.admin, caPem: backend.server.caPem });
      try {
        const err = await foreign.gateways.telemetry(final.gatewayId!).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(StationError);
        expect((err as StationError).code).toBe('NOT_FOUND');
      } finally {
        foreign.link.close();
      }

      // The firmware holds qte_max_dispositivos itself: a table naming 3 devices on a gateway of 2 is refused.
      const serial = new SerialPortLink(host.port);
      await serial.open({ baudRate: 115200 });
      const c = new DeviceConsoleClient(serial, { timeoutMs: 5_000 });
      try {
        const three = { ...MODBUS, maxDevices: 3, slaves: [...MODBUS.slaves, { slave: 3, register: 0, unit: 'V' }] };
        const table = encodeModbusTable(Esp32ModbusSchema.parse(three)).replace('"max_dev":3', '"max_dev":2');
        const refused = await c.set('modbus', table).catch((e: unknown) => e);
        expect(refused).toBeInstanceOf(ConsoleRequestError);
        expect((refused as ConsoleRequestError).consoleCode).toBe('bad_value');
        expect((refused as ConsoleRequestError).message).toMatch(/pts name 3 devices \(slave addresses\) but this gateway takes at most 2 \(max_dev\)/);
      } finally {
        c.dispose();
        await serial.close();
      }
    } finally {
      issuer.close();
    }
  }, 180_000);

  it('a gateway whose clock was never set (no SNTP answer): its readings carry no timestamp and are stored at their receive time, marked as such', async () => {
    const mac = '24:6f:28:7e:00:03';
    const b = await bus([1, 2]);
    const host = await hostDevice(mac, b.port, undefined, ['--no-clock']);
    const device: SerialDeviceDescriptor = { id: host.port, path: host.port, resetMode: 'auto', likelyEsp32: true };
    const issuer = new ApiClientIssuer(backend.server.client('operator'), 'device');
    try {
      const before = Date.now();
      const final = await run({ device, openLink: () => new SerialPortLink(host.port), issuer, firmwareInstalled: true }, 'device');
      const r = await stored(final.gatewayId!);
      expect(r.series.map((s) => [s.slave_id, s.register, s.unidade, s.results.at(-1)!.valor])).toEqual(EXPECTED);
      for (const x of r.series.flatMap((s) => s.results)) {
        expect(x.timestamp_source).toBe('server');
        expect(x.timestamp).toBe(x.received_at);
        // Plausible: between the job's start and now (not 1970, not the device's uptime).
        expect(Date.parse(x.timestamp)).toBeGreaterThanOrEqual(before - 1_000);
        expect(Date.parse(x.timestamp)).toBeLessThanOrEqual(Date.now() + 1_000);
      }
    } finally {
      issuer.close();
    }
  }, 180_000);

  it('station-key mode: the factory data the job flashes holds the table, and the firmware booted from it sends the readings', async () => {
    const mac = '24:6f:28:7e:00:02';
    const sim = await startEsp32Sim({ mac, telemetryIntervalMs: 3_600_000 });
    const source = new SimDeviceSource();
    const issuer = new ApiClientIssuer(backend.server.client('operator'));
    let tdscfg: Record<string, { type: string; value: unknown }>;
    try {
      await source.add(sim);
      const [device] = await source.list();
      const final = await run({ device: device!, openLink: () => source.link(device!), issuer }, 'station');
      expect(final.steps.find((s) => s.name === 'factory-data')?.detail).toMatch(/Modbus: 4 reading\(s\) from 2 of at most 2 device\(s\)/);
      // The data partition exactly as flashed: an ESP-IDF NVS image, namespace tds.
      const part = bundle.builds[0]!.dataPartition;
      const image = readNvsImage(sim.readFlash(part.offset, part.size));
      const entries = image.entries.filter((e) => e.namespace === 'tds');
      expect(entries.find((e) => e.key === 'modbus')).toMatchObject({ type: 'string', value: encodeModbusTable(profile('station').esp32!.modbus!) });
      tdscfg = Object.fromEntries(entries.map((e) => [e.key, { type: e.type, value: e.value }]));
    } finally {
      source.close();
      await sim.stop(); // its stand-in firmware goes away; the real firmware core takes the board's identity
      issuer.close();
    }
    // The same partition given to the real firmware core (as its host NVS file): it goes online and reads the bus.
    // (Readings from now on: the simulator's stand-in firmware sent one of its own while it was online.)
    const since = new Date();
    const b = await bus([1, 2]);
    await hostDevice(mac, b.port, (nvsDir) => writeFileSync(path.join(nvsDir, 'tdscfg.json'), JSON.stringify({ tds: tdscfg })));
    const gw = (await backend.server.client('operator').listGateways({ mac })).results[0]!;
    expectReadings(await stored(gw.id, undefined, since), mac);
  }, 180_000);
});
