/**
 * The bench at the limit of the wire (run: npx tsx bench/esp32-wire-limit.ts [--app double|real]
 * [--boards 16] [--runs 3]).
 *
 * Simulated boards throttled to the wire rate of their bridge (8N1: baud / 10 bytes a second;
 * USB-Serial/JTAG at an assumed 100 KB/s; the stub's MD5 at an assumed 4 MB/s), the real issuance
 * server, Mosquitto with the server's kit and the station's monitor identity: a "full job" is probe →
 * certificate → NVS → flash → reboot → boot log → the device seen online on the broker. One run,
 * one fixture (test/fixtures/bundle-arduino; `--app double` = its real app twice, 1.48 MB, as in
 * bench/esp32-flash.ts; `--app real` = the 742 KB app as it is). Prints:
 *  1. zlib level 9 vs a zopfli-class deflate (same zlib wrapper) on the app: size, CPU time, and
 *     what it means for a job including the compression;
 *  2. a new board: the full job behind a 2,000,000-baud bridge vs today's 921,600 job;
 *  3. re-provisioning a board that runs the bundle (full job);
 *  4. the app changed by one sector (full job, sector diff) — 2 to 4 as the median of --runs, with
 *     each step's time from the station log;
 *  5. 16 boards in parallel behind mixed bridges: makespan vs the slowest board alone.
 * Needs the built server (npm run build -w server), socat and mosquitto.
 */
import { cpSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { deflateSync, inflateSync } from 'node:zlib';
import { zlibAsync } from '@gfx/zopfli';
import { ApiClientIssuer } from '../src/main/certs/api-client-issuer.js';
import { loadBundle, type FirmwareBundle } from '../src/main/esp32/bundle.js';
import { ImageHistory, lastBundleFromLog } from '../src/main/esp32/image-history.js';
import { PortRates } from '../src/main/esp32/port-rates.js';
import { esp32ProvisionJob, type Esp32JobSettings } from '../src/main/esp32/provision-job.js';
import { JobQueue } from '../src/main/jobs/index.js';
import { StationLog } from '../src/main/log/index.js';
import { BrokerMonitor } from '../src/main/monitor/index.js';
import { patchImageByte } from '../test/sim/esp32/esp-image.js';
import { startEsp32Sim, type Esp32Sim } from '../test/sim/esp32/launch.js';
import { fixturePart, writeTestBundle } from '../test/sim/esp32/multi-chip-bundle.js';
import { SimDeviceSource } from '../test/sim/esp32/sim-device-source.js';
import { startBackend } from '../test/support/backend.js';
import { tempDir } from '../test/support/temp.js';

const { values } = parseArgs({ options: { app: { type: 'string', default: 'double' }, boards: { type: 'string', default: '16' }, runs: { type: 'string', default: '3' } } });
const BOARDS = Number(values.boards);
/** Sections 2–4 are run this many times on fresh boards; the median is printed. */
const RUNS = Number(values.runs);
const realApp = fixturePart('app.bin');
const app = values.app === 'real' ? realApp : new Uint8Array(Buffer.concat([realApp, realApp]));

const s = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function compression(): Promise<void> {
  console.log(`== 1. Compression of the app (${app.length} bytes), zlib wrapper for the stub's inflater ==`);
  let t = performance.now();
  const z9 = deflateSync(app, { level: 9 });
  const z9ms = performance.now() - t;
  t = performance.now();
  const zo = await zlibAsync(app, { numiterations: 1 });
  const zoms = performance.now() - t;
  if (!inflateSync(zo).equals(Buffer.from(app))) throw new Error('zopfli output does not inflate to the image');
  const saved = z9.length - zo.length;
  console.log(`zlib level 9 : ${z9.length} bytes in ${z9ms.toFixed(0)} ms`);
  console.log(`zopfli (1 it): ${zo.length} bytes in ${zoms.toFixed(0)} ms (${((saved / z9.length) * 100).toFixed(2)} % smaller; more iterations gain < 0.2 % more at 2-4× the time)`);
  let faster = false;
  for (const baud of [921_600, 2_000_000]) {
    const wireMs = (saved * 1000) / (baud / 10);
    const net = zoms - z9ms - wireMs;
    faster ||= net < 0;
    console.log(
      `  at ${baud} baud: ${wireMs.toFixed(0)} ms less on the wire per board; a job that includes its compression is ${Math.abs(net).toFixed(0)} ms ${net < 0 ? 'faster' : 'slower'} ` +
        `(the extra CPU is paid back after ${Math.ceil((zoms - z9ms) / wireMs)} boards flashed one after another)`,
    );
  }
  console.log(`decision: ${faster ? 'zopfli' : 'zlib level 9'} (kept only if a job including its compression gets faster); either way compressed once per bundle part and cached\n`);
}

async function main(): Promise<void> {
  await compression();
  const work = tempDir('tds-bench-wire-');
  const backend = await startBackend({ broker: 'mosquitto', monitorName: 'bench-wire' });
  const monitor = await BrokerMonitor.connect({ host: backend.broker.host, port: backend.broker.port, ca: backend.monitor.caPem, cert: backend.monitor.certPem, key: backend.monitor.keyPem });
  const issuer = new ApiClientIssuer(backend.server.client('operator'));
  const source = new SimDeviceSource();
  const sims: Esp32Sim[] = [];
  const queue = new JobQueue({ concurrency: 64 });
  const dataDir = path.join(work.path, 'data');
  const log = StationLog.open(path.join(dataDir, 'station-log.sqlite'), { stationId: 'bench' });
  log.attach(queue);
  const portRates = await PortRates.open(dataDir);
  const imageHistory = ImageHistory.inDataDir(dataDir, lastBundleFromLog(log));
  try {
    const bundleDir = path.join(work.path, 'bundle');
    cpSync(path.resolve(import.meta.dirname, '../test/fixtures/bundle-arduino'), bundleDir, { recursive: true });
    writeFileSync(path.join(bundleDir, 'app.bin'), app);
    const bundle = await loadBundle(path.join(bundleDir, 'manifest.json'));
    const oneSector = await loadBundle(writeTestBundle(path.join(work.path, 'one-sector'), ['ESP32'], { app: patchImageByte(app, 0.4).image, version: '1.0.1' }));
    const multi = await loadBundle(writeTestBundle(path.join(work.path, 'multi'), ['ESP32', 'ESP32-S3'], { app }));
    const settings: Esp32JobSettings = {
      accountId: backend.server.contaId,
      codeTemplate: 'GW-{mac12}',
      nameTemplate: 'Bench {MAC12}',
      broker: { host: backend.broker.host, port: backend.broker.port },
      wifi: { ssid: 'bench', password: 'bench-pass' },
      resetMode: 'auto',
      onlineTimeoutMs: 30_000,
      keyType: 'ec',
      keyMode: 'station',
      operator: 'bench',
      stationId: 'bench',
      reprovision: 'replace',
      bootLogMs: 500,
    };
    let n = 0;
    const boardOn = async (bridge: string, chip: 'esp32' | 'esp32s3' = 'esp32'): Promise<Esp32Sim> => {
      n += 1;
      const sim = await startEsp32Sim({ mac: `24:6f:28:be:${(n >> 8).toString(16).padStart(2, '0')}:${(n & 0xff).toString(16).padStart(2, '0')}`, throttle: true, bridge, chip });
      sims.push(sim);
      await source.add(sim);
      return sim;
    };
    const job = async (sims: readonly Esp32Sim[], b: FirmwareBundle): Promise<number> => {
      const devices = await source.list();
      const t0 = performance.now();
      const ids = sims.map((sim) => {
        const device = devices.find((d) => d.path === sim.hostPath)!;
        return queue.submit(esp32ProvisionJob({ device, openLink: () => source.link(device), bundle: b, issuer, monitor, settings, portRates, imageHistory }));
      });
      const finals = await Promise.all(ids.map((id) => queue.wait(id)));
      const ms = performance.now() - t0;
      for (const f of finals) {
        if (f.state !== 'succeeded') throw new Error(`job on ${f.target} ${f.state}: ${f.error?.code} ${f.error?.message} (${f.error?.where})`);
      }
      return ms;
    };

    /** Step durations of a board's newest job, from the station log. */
    const steps = async (sim: Esp32Sim): Promise<string> => {
      const last = log.query({ mac: (await sim.status()).mac as string, limit: 1 })[0]!;
      return log.steps(last.id).map((st) => `${st.name} ${((st.durationMs ?? 0) / 1000).toFixed(2)}`).join(', ');
    };
    console.log(`== 2.–4. Full jobs (probe … online), app ${app.length} bytes, median of ${RUNS} runs on fresh boards; [step times of the last run] ==`);
    // Warm-up: the bundle's compressed parts are cached by the first job (as on a station that has
    // flashed one board of the batch); every figure below is taken with the cache warm.
    await job([await boardOn('cp2102')], bundle);
    const r = { t921: [] as number[], t2m: [] as number[], again: [] as number[], diff: [] as number[] };
    const detail: Record<string, string> = {};
    for (let i = 0; i < RUNS; i++) {
      const slow = await boardOn('cp2102');
      r.t921.push(await job([slow], bundle));
      detail.t921 = await steps(slow);
      const fast = await boardOn('cp2102n');
      r.t2m.push(await job([fast], bundle));
      detail.t2m = await steps(fast);
      r.again.push(await job([fast], bundle));
      detail.again = await steps(fast);
      r.diff.push(await job([fast], oneSector));
      const lastJob = log.query({ mac: (await fast.status()).mac as string, limit: 1 })[0]!;
      detail.diff = `${await steps(fast)}; flash: ${log.steps(lastJob.id).find((st) => st.name === 'flash')?.detail}`;
    }
    const [t921, t2m] = [median(r.t921), median(r.t2m)];
    console.log(`new board, today's job (CP2102, 921600 baud): ${s(t921)}  [${detail.t921}]`);
    console.log(`new board, CP2102N at 2000000 baud:           ${s(t2m)} = ${(t2m / t921).toFixed(3)} × (target ≤ 0.55)  [${detail.t2m}]`);
    console.log(`re-provision, same bundle (CP2102N):          ${s(median(r.again))} (target ≤ 2.0 s)  [${detail.again}]`);
    console.log(`app changed by one sector (CP2102N):          ${s(median(r.diff))} (target ≤ 2.5 s)  [${detail.diff}]`);
    console.log(`  runs: 921600 ${r.t921.map(s).join(' / ')}; 2 M ${r.t2m.map(s).join(' / ')}; re-provision ${r.again.map(s).join(' / ')}; one sector ${r.diff.map(s).join(' / ')}\n`);

    console.log(`== 5. ${BOARDS} boards in parallel, mixed bridges (new boards, ESP32 + ESP32-S3 bundle) ==`);
    const mix: Array<[string, 'esp32' | 'esp32s3']> = [
      ['cp2102', 'esp32'],
      ['cp2102n', 'esp32'],
      ['ch9102', 'esp32'],
      ['ft232r', 'esp32'],
      ['ch340', 'esp32'],
      ['usb-jtag', 'esp32s3'],
    ];
    const alone: Record<string, number> = {};
    for (const [bridge, chip] of mix) alone[bridge] = await job([await boardOn(bridge, chip)], multi);
    const slowest = Math.max(...Object.values(alone));
    console.log(`alone: ${Object.entries(alone).map(([b, ms]) => `${b} ${s(ms)}`).join(', ')}`);
    const many: Esp32Sim[] = [];
    for (let i = 0; i < BOARDS; i++) many.push(await boardOn(...mix[i % mix.length]!));
    const makespan = await job(many, multi);
    console.log(`${BOARDS} boards: makespan ${s(makespan)} = ${(makespan / slowest).toFixed(3)} × the slowest board alone (target ≤ 1.3)`);
  } finally {
    await queue.shutdown();
    source.close();
    await Promise.all(sims.map((x) => x.stop()));
    log.close();
    issuer.close();
    await monitor.close();
    await backend.stop();
    work.remove();
  }
}

await main();
