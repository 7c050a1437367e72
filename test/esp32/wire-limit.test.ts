import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClientIssuer } from '../../src/main/certs/api-client-issuer.js';
import { buildForChip, loadBundle, type FirmwareBundle } from '../../src/main/esp32/bundle.js';
import { openFlashMemory } from '../../src/main/esp32/flash-memory.js';
import type { ImageHistory } from '../../src/main/esp32/image-history.js';
import { esp32JobSettings } from '../../src/main/esp32/job-settings.js';
import { PortRates } from '../../src/main/esp32/port-rates.js';
import { esp32ProvisionJob, type Esp32JobSettings } from '../../src/main/esp32/provision-job.js';
import { JobQueue } from '../../src/main/jobs/index.js';
import { StationLog } from '../../src/main/log/index.js';
import { BrokerMonitor } from '../../src/main/monitor/index.js';
import { ProfileSchema } from '../../src/shared/profile.js';
import { patchImageByte } from '../sim/esp32/esp-image.js';
import { startEsp32Sim, type Esp32Sim, type Esp32SimOptions } from '../sim/esp32/launch.js';
import { fixturePart, writeTestBundle } from '../sim/esp32/multi-chip-bundle.js';
import { SimDeviceSource } from '../sim/esp32/sim-device-source.js';
import { startBackend, type Backend } from '../support/backend.js';
import { tempDir } from '../support/temp.js';

// The bench at the limit of the wire, end to end: simulated boards behind modelled USB bridges, the
// real issuance server, Mosquitto with the server's kit and the station's monitor identity; the
// station's port memory and image history in a data folder, the station log recording every job.
const MANIFEST = path.resolve(import.meta.dirname, '../fixtures/bundle-arduino/manifest.json');

describe('ESP32 jobs at the limit of the wire (simulator + real server + real broker)', () => {
  let backend: Backend;
  let monitor: BrokerMonitor;
  let issuer: ApiClientIssuer;
  let bundle: FirmwareBundle;
  let log: StationLog;
  let portRates: PortRates;
  let imageHistory: ImageHistory;
  const dir = tempDir('tds-esp32-wire-');
  const dataDir = path.join(dir.path, 'data');
  const sims: Esp32Sim[] = [];
  const source = new SimDeviceSource();
  const queue = new JobQueue({ concurrency: 4 });

  beforeAll(async () => {
    backend = await startBackend({ broker: 'mosquitto', monitorName: 'esp32-wire' });
    monitor = await BrokerMonitor.connect({ host: backend.broker.host, port: backend.broker.port, ca: backend.monitor.caPem, cert: backend.monitor.certPem, key: backend.monitor.keyPem });
    issuer = new ApiClientIssuer(backend.server.client('operator'));
    bundle = await loadBundle(MANIFEST);
    log = StationLog.open(path.join(dataDir, 'station-log.sqlite'), { stationId: 'wire-test' });
    log.attach(queue);
    ({ portRates, imageHistory } = await openFlashMemory(dataDir, log));
  }, 180_000);

  afterAll(async () => {
    await queue.shutdown();
    source.close();
    await Promise.all(sims.map((s) => s.stop()));
    log?.close();
    issuer?.close();
    await monitor?.close();
    await backend?.stop();
    dir.remove();
  });

  async function board(mac: string, options: Esp32SimOptions = {}): Promise<Esp32Sim> {
    const sim = await startEsp32Sim({ mac, ...options });
    sims.push(sim);
    await source.add(sim);
    return sim;
  }

  function settings(overrides: Partial<Esp32JobSettings> = {}): Esp32JobSettings {
    const profile = ProfileSchema.parse({
      name: 'wire bench',
      accountId: backend.server.contaId,
      brokerHost: backend.broker.host,
      brokerPort: backend.broker.port,
      esp32: { bundlePath: MANIFEST, wifiSsid: 'bench', onlineTimeoutSec: 15 },
    });
    // No speed cap in the profile: the station picks the rate from the bridge.
    return esp32JobSettings(profile, 'bench-pass', { operator: 'tester', stationId: 'wire-test', reprovision: 'replace' }, { bootLogMs: 800, ...overrides });
  }

  async function run(sim: Esp32Sim, jobBundle: FirmwareBundle = bundle, overrides: Partial<Esp32JobSettings> = {}) {
    const device = (await source.list()).find((d) => d.path === sim.hostPath)!;
    const id = queue.submit(esp32ProvisionJob({ device, openLink: () => source.link(device), bundle: jobBundle, issuer, monitor, settings: settings(overrides), portRates, imageHistory }));
    const final = await queue.wait(id);
    const text = log.lines(id).map((l) => `[${l.step}] ${l.text}`).join('\n');
    return { final, text, device };
  }

  /** Flash writes the simulator saw since `from` (its output), as "offset size" pairs. */
  function writes(sim: Esp32Sim, from: number): Array<{ offset: number; size: number }> {
    return [...sim.output().slice(from).matchAll(/compressed write of (\d+) bytes at 0x([0-9a-f]+) begins/g)].map((m) => ({ offset: Number.parseInt(m[2]!, 16), size: Number(m[1]) }));
  }

  function expectFlashHolds(sim: Esp32Sim, b: FirmwareBundle, family: string): void {
    for (const p of buildForChip(b, family).parts) expect(Buffer.compare(sim.readFlash(p.offset, p.data.length), Buffer.from(p.data)), `${p.name} at 0x${p.offset.toString(16)}`).toBe(0);
  }

  it('a CP2102N that garbles at 2 Mbaud: the job steps down once, succeeds at 921600, and the port remembers it', async () => {
    const sim = await board('24:6f:28:cc:00:01', { bridge: 'cp2102n:921600' });
    const first = await run(sim);
    expect({ state: first.final.state, error: first.final.error }, first.text).toEqual({ state: 'succeeded', error: undefined });
    expect(first.text).toMatch(/answers at 2000000 baud failed or came garbled on this port; stepping down to 921600/);
    expect(first.final.facts?.baud).toBe('921600');
    expect(first.final.steps.find((s) => s.name === 'flash')?.detail).toMatch(/at 921600 baud, MD5 verified$/);
    expect(portRates.get(first.device)).toEqual({ worked: 921600, failed: [2000000] });
    expect(((await sim.status()) as { bridgeDamaged: { fromHost: number } }).bridgeDamaged.fromHost).toBeGreaterThan(0);
    // Kept on disk (atomically written JSON), read back by a fresh store.
    await portRates.flush();
    expect((await PortRates.open(dataDir)).get(first.device)).toEqual({ worked: 921600, failed: [2000000] });

    // The next job on this port starts at the rate that worked: no 2 Mbaud attempt.
    const damagedBefore = ((await sim.status()) as { bridgeDamaged: { fromHost: number } }).bridgeDamaged.fromHost;
    const second = await run(sim);
    expect(second.final.state, second.text).toBe('succeeded');
    expect(second.text).not.toMatch(/2000000/);
    expect(((await sim.status()) as { bridgeDamaged: { fromHost: number } }).bridgeDamaged.fromHost).toBe(damagedBefore);
  }, 180_000);

  it('on a classic ESP32 the ROM changes speed before the flasher stub is loaded, so the stub travels at 2 Mbaud', async () => {
    const sim = await board('24:6f:28:cc:00:17', { bridge: 'cp2102n' });
    const from = sim.output().length;
    const { final, text, device } = await run(sim);
    expect(final.state, text).toBe('succeeded');
    expect(final.facts?.baud).toBe('2000000');
    const out = sim.output().slice(from);
    const switched = out.indexOf('baud rate 115200 → 2000000');
    const stub = out.indexOf('stub running');
    expect(switched, out).toBeGreaterThanOrEqual(0);
    expect(stub, out).toBeGreaterThan(switched);
    // One speed change only: the stub kept the rate the ROM set.
    expect(out.match(/baud rate \d+ → \d+/g)).toEqual(['baud rate 115200 → 2000000']);
    expect(portRates.get(device).stubAtSpeedFailed).toBeUndefined();
  }, 180_000);

  it('a ROM that cannot take the stub at 2 Mbaud: the job resets, loads the stub at 115200, flashes at 2 Mbaud, and the port remembers', async () => {
    // The ROM keeps up with short commands at 2 Mbaud but loses bytes of the stub's 6 KB blocks.
    const sim = await board('24:6f:28:cc:00:18', { bridge: 'cp2102n', faults: ['rom-overrun=115200'] });
    const first = await run(sim);
    expect({ state: first.final.state, error: first.final.error }, first.text).toEqual({ state: 'succeeded', error: undefined });
    expect(first.text).toMatch(/flasher stub did not start when loaded at 2000000 baud .*loading it at 115200 first, as esptool does/);
    expect(first.final.facts?.baud).toBe('2000000');
    expect(((await sim.status()) as { romOverrunBytes: number }).romOverrunBytes).toBeGreaterThan(0);
    expectFlashHolds(sim, bundle, 'ESP32');
    // The rate itself is not blamed: 2 Mbaud worked once the stub ran.
    const remembered = portRates.get(first.device);
    expect(remembered).toMatchObject({ worked: 2000000, failed: [] });
    expect(remembered.stubAtSpeedFailed).toEqual(expect.any(String));
    await portRates.flush();
    expect((await PortRates.open(dataDir)).get(first.device).stubAtSpeedFailed).toBe(remembered.stubAtSpeedFailed);

    // The next job on this port loads the stub first (esptool's order): no overrun, no reset to recover.
    const from = sim.output().length;
    const lostBefore = ((await sim.status()) as { romOverrunBytes: number }).romOverrunBytes;
    const second = await run(sim);
    expect(second.final.state, second.text).toBe('succeeded');
    expect(second.text).not.toMatch(/did not start when loaded/);
    const out = sim.output().slice(from);
    expect(out.indexOf('stub running'), out).toBeLessThan(out.indexOf('baud rate 115200 → 2000000'));
    expect(((await sim.status()) as { romOverrunBytes: number }).romOverrunBytes).toBe(lostBefore);
  }, 180_000);

  it('a stub build that sets the UART to 115200 when it starts: its greeting is missed, the job falls back to esptool\'s order and succeeds at 2 Mbaud', async () => {
    const sim = await board('24:6f:28:cc:00:19', { bridge: 'ch9102', faults: ['stub-fixed-baud'] });
    const { final, text, device } = await run(sim);
    expect({ state: final.state, error: final.error }, text).toEqual({ state: 'succeeded', error: undefined });
    expect(text).toMatch(/flasher stub did not start when loaded at 2000000 baud/);
    expect(final.facts?.baud).toBe('2000000');
    expect(sim.output()).toMatch(/fault stub-fixed-baud: the stub sets the UART to 115200 \(it was at 2000000\)/);
    expectFlashHolds(sim, bundle, 'ESP32');
    expect(portRates.get(device).stubAtSpeedFailed).toEqual(expect.any(String));
  }, 180_000);

  it('re-provisioning a board that runs the bundle skips identical parts and writes only the configuration partition', async () => {
    const sim = await board('24:6f:28:cc:00:02', { bridge: 'cp2102n' });
    const first = await run(sim);
    expect(first.final.state, first.text).toBe('succeeded');
    expect(first.final.facts?.baud).toBe('2000000');
    const mark = sim.output().length;
    const again = await run(sim);
    expect({ state: again.final.state, error: again.final.error }, again.text).toEqual({ state: 'succeeded', error: undefined });
    const data = buildForChip(bundle, 'ESP32').dataPartition;
    expect(writes(sim, mark)).toEqual([{ offset: data.offset, size: data.size }]);
    for (const name of ['bootloader.bin', 'partitions.bin', 'boot_app0.bin', 'app.bin']) expect(again.text).toContain(`[flash] ${name}: already on the board`);
    expect(again.final.steps.find((s) => s.name === 'flash')?.detail).toMatch(/^4 parts already on the board; tdscfg: written \(64 KiB\)/);
    expect(monitor.presence('24:6f:28:cc:00:02').status).toBe('online');
  }, 120_000);

  it('after a one-byte change in the app only the differing sectors are written, then the whole region is verified', async () => {
    const sim = await board('24:6f:28:cc:00:03', { bridge: 'cp2102n' });
    expect((await run(sim)).final.state).toBe('succeeded');
    const patched = patchImageByte(fixturePart('app.bin'), 0.4);
    const changed = await loadBundle(writeTestBundle(path.join(dir.path, 'one-byte'), ['ESP32'], { app: patched.image, version: '1.0.1-test' }));
    const mark = sim.output().length;
    const job = await run(sim, changed);
    expect({ state: job.final.state, error: job.final.error }, job.text).toEqual({ state: 'succeeded', error: undefined });
    // The changed byte's sector and the image's last sectors (checksum byte and appended SHA-256).
    const m = /\[flash\] app\.bin: (\d+) of (\d+) sectors differ/.exec(job.text);
    expect(m, job.text).not.toBeNull();
    expect(Number(m![1])).toBeLessThanOrEqual(3);
    expect(job.text).toMatch(/app\.bin: MD5 verified \([0-9a-f]{32}\) after writing \d+ of 182 sectors/);
    const appWrites = writes(sim, mark).filter((w) => w.offset >= 0x10000 && w.offset < 0x190000);
    expect(appWrites.length).toBeGreaterThan(0);
    expect(appWrites.reduce((n, w) => n + w.size, 0)).toBeLessThanOrEqual(3 * 4096);
    expect(appWrites.some((w) => w.offset <= 0x10000 + patched.offset && 0x10000 + patched.offset < w.offset + w.size)).toBe(true);
    expectFlashHolds(sim, changed, 'ESP32');
    await sim.waitForLog(/tds: mqtt connected/, 15_000);
  }, 120_000);

  it('falls back to a full write when the region differs after the sector writes (MD5)', async () => {
    const sim = await board('24:6f:28:cc:00:04', { bridge: 'cp2102n' });
    expect((await run(sim)).final.state).toBe('succeeded');
    const changed = await loadBundle(writeTestBundle(path.join(dir.path, 'fallback'), ['ESP32'], { app: patchImageByte(fixturePart('app.bin'), 0.6).image, version: '1.0.2-test' }));
    // The next completed write gets a flipped bit: the region's MD5 after the sector writes differs.
    await sim.sendControl('FAULT md5-mismatch=once');
    const mark = sim.output().length;
    const job = await run(sim, changed);
    expect({ state: job.final.state, error: job.final.error }, job.text).toEqual({ state: 'succeeded', error: undefined });
    expect(job.text).toMatch(/\[flash\] app\.bin: after the sector writes the region's MD5 is [0-9a-f]{32}, expected [0-9a-f]{32} .*writing it whole/);
    expect(writes(sim, mark)).toContainEqual({ offset: 0x10000, size: 742192 });
    expect(job.final.steps.find((s) => s.name === 'flash')?.detail).toMatch(/app\.bin: written \(725 KiB\) after a sector diff that did not match/);
    expectFlashHolds(sim, changed, 'ESP32');
  }, 120_000);

  it('a bundle with ESP32 and ESP32-S3 builds: each board gets the build for its chip; the S3 through USB-Serial/JTAG', async () => {
    const multi = await loadBundle(writeTestBundle(path.join(dir.path, 'multi'), ['ESP32', 'ESP32-S3']));
    const esp32 = await board('24:6f:28:cc:00:05', { bridge: 'ch9102' });
    const s3 = await board('24:6f:28:cc:00:06', { chip: 'esp32s3', bridge: 'usb-jtag' });
    const [a, b] = await Promise.all([run(esp32, multi), run(s3, multi)]);
    expect({ state: a.final.state, error: a.final.error }, a.text).toEqual({ state: 'succeeded', error: undefined });
    expect({ state: b.final.state, error: b.final.error }, b.text).toEqual({ state: 'succeeded', error: undefined });
    expect(b.device).toMatchObject({ vendorId: 0x303a, productId: 0x1001, resetMode: 'usb-jtag' });
    expect(b.final.facts?.chip).toMatch(/^ESP32-S3/);
    expectFlashHolds(esp32, multi, 'ESP32');
    expectFlashHolds(s3, multi, 'ESP32-S3');
    // The S3 entered download mode through its USB-Serial/JTAG reset, its app booted from 0x0's bootloader.
    expect(s3.output()).toMatch(/USB-Serial\/JTAG: chip reset requesting download mode/);
    expect(readFileSync(path.join(dir.path, 'multi/bootloader-s3.bin'))[12]).toBe(9);
    await s3.waitForLog(/tds: mqtt connected/, 15_000);
    expect(monitor.presence('24:6f:28:cc:00:06').status).toBe('online');
  }, 150_000);

  it('a chip without a build in the bundle is refused before anything is written (before the stub, even); with its build it is flashed', async () => {
    const multi = await loadBundle(writeTestBundle(path.join(dir.path, 'multi2'), ['ESP32', 'ESP32-S3']));
    const c3 = await board('24:6f:28:cc:00:07', { chip: 'esp32c3', bridge: 'usb-jtag' });
    const job = await run(c3, multi);
    expect(job.final.state).toBe('failed');
    expect(job.final.error).toMatchObject({ code: 'WRONG_CHIP', where: 'probe', message: expect.stringMatching(/ESP32-C3.*is for ESP32, ESP32-S3/) });
    expect(job.final.steps.find((s) => s.name === 'certificate')?.status).toBe('pending');
    expect(c3.output()).not.toMatch(/write of \d+ bytes|stub running/);
    expect(((await c3.status()) as { bytesFromHost: number }).bytesFromHost).toBeLessThan(2000);

    // With a bundle that has an ESP32-C3 build, the same board is flashed (bootloader at 0x0) and goes online.
    const withC3 = await loadBundle(writeTestBundle(path.join(dir.path, 'multi3'), ['ESP32', 'ESP32-S3', 'ESP32-C3']));
    const ok = await run(c3, withC3);
    expect({ state: ok.final.state, error: ok.final.error }, ok.text).toEqual({ state: 'succeeded', error: undefined });
    expect(ok.final.facts?.chip).toMatch(/^ESP32-C3/);
    expectFlashHolds(c3, withC3, 'ESP32-C3');
    await c3.waitForLog(/tds: mqtt connected/, 15_000);
  }, 90_000);

  it('an unplug during a sector-diff write fails the job with its place; the retry finishes the diff', async () => {
    const mac = '24:6f:28:cc:00:08';
    const sim = await board(mac, { bridge: 'cp2102n' });
    expect((await run(sim)).final.state).toBe('succeeded');
    // Change one byte in each of 40 sectors: a diff of ~160 KiB, long enough to pull the cable in.
    let app = fixturePart('app.bin');
    for (let i = 0; i < 40; i++) app = patchImageByte(app, 0.1 + i * 0.018).image;
    const changed = await loadBundle(writeTestBundle(path.join(dir.path, 'unplug'), ['ESP32'], { app, version: '1.0.3-test' }));
    const before = ((await sim.status()) as { bytesFromHost: number }).bytesFromHost;
    // Past the connect (stub ~7 KB) and into the diff's compressed data.
    await sim.sendControl(`FAULT unplug-at-byte=${before + 40_000}`);
    const failed = await run(sim, changed);
    expect(failed.final.state).toBe('failed');
    expect(failed.text).toMatch(/\[flash\] app\.bin: \d+ of 182 sectors differ/);
    expect(failed.final.error, failed.text).toMatchObject({ code: 'PORT_GONE', where: expect.stringMatching(/^flash: app\.bin at 0x10000, \d+ of 742192 bytes written$/) });

    await sim.sendControl('FAULT clear');
    await sim.sendControl('PLUG');
    for (let i = 0; i < 100 && !(await source.list()).some((d) => d.path === sim.hostPath); i++) await new Promise((r) => setTimeout(r, 20));
    const retry = await queue.wait(queue.retry(failed.final.id));
    const text = log.lines(retry.id).map((l) => l.text).join('\n');
    expect({ state: retry.state, error: retry.error }, text).toEqual({ state: 'succeeded', error: undefined });
    // The station still diffs against the image the board last received whole (the first job's).
    expect(text).toMatch(/app\.bin: MD5 verified \([0-9a-f]{32}\) after writing \d+ of 182 sectors/);
    expectFlashHolds(sim, changed, 'ESP32');
    await sim.waitForLog(/tds: mqtt connected/, 15_000);
  }, 180_000);
});
