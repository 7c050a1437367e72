/**
 * ESP32 flashing benchmark (run: npx tsx bench/esp32-flash.ts [--boards 8]).
 *
 * The simulator delivers bytes at the real wire rate of the current baud (8N1: 10 bits a byte), so
 * 921600 baud = 92,160 B/s each way. Measured:
 *  1. one ~1.5 MB firmware (the real 742 KB Arduino app of test/fixtures twice over, so it
 *     compresses like real firmware): bytes on the wire and time vs. "compressed bytes ÷ 92,160 B/s";
 *  2. the full station job (probe → certificate from the real server → NVS → flash the whole
 *     bundle with that app → reboot → boot log) for 1 board, then N boards in parallel: makespan;
 *  3. station memory per job (heap + external + array buffers while N jobs run), and each
 *     simulator process's resident memory.
 * Needs the built server (npm run build -w server) and socat. The broker is not involved (the
 * online step is skipped): it measures the station, not the device's Wi-Fi/TLS start-up.
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { deflateSync } from 'node:zlib';
import type { SerialLink } from '../src/main/devices/serial-link.js';
import { ApiClientIssuer } from '../src/main/certs/api-client-issuer.js';
import { loadBundle } from '../src/main/esp32/bundle.js';
import { EspSession } from '../src/main/esp32/esp-session.js';
import { esp32ProvisionJob } from '../src/main/esp32/provision-job.js';
import { JobQueue } from '../src/main/jobs/index.js';
import { startEsp32Sim, type Esp32Sim } from '../test/sim/esp32/launch.js';
import { SimDeviceSource } from '../test/sim/esp32/sim-device-source.js';
import { startTestServer } from '../test/support/server.js';
import { tempDir } from '../test/support/temp.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const FIXTURE = path.join(ROOT, 'test/fixtures/bundle-arduino');
const WIRE_BPS = 921600 / 10;

const { values } = parseArgs({ options: { boards: { type: 'string', default: '8' } } });
const N = Number(values.boards);

/** Counts the bytes a link carries each way. */
class CountingLink implements SerialLink {
  sent = 0;
  received = 0;
  constructor(private readonly inner: SerialLink) {
    inner.onData((c) => (this.received += c.length));
  }
  get path(): string {
    return this.inner.path;
  }
  get isOpen(): boolean {
    return this.inner.isOpen;
  }
  open = (o: { baudRate: number }) => this.inner.open(o);
  write = (d: Uint8Array) => {
    this.sent += d.length;
    return this.inner.write(d);
  };
  onData = (l: (c: Uint8Array) => void) => this.inner.onData(l);
  onClose = (l: (e?: Error) => void) => this.inner.onClose(l);
  setSignals = (s: { dtr: boolean; rts: boolean }) => this.inner.setSignals(s);
  setBaudRate = (b: number) => this.inner.setBaudRate(b);
  close = () => this.inner.close();
}

function mb(n: number): string {
  return `${(n / 1024 / 1024).toFixed(2)} MB`;
}

async function main(): Promise<void> {
  const work = tempDir('tds-bench-esp32-');
  const sims: Esp32Sim[] = [];
  const source = new SimDeviceSource();
  const server = await startTestServer({ mqttBroker: '127.0.0.1', mqttPort: 8883 });
  try {
    // A ~1.5 MB app made of the real app image twice (fits app0 = 0x180000).
    const realApp = readFileSync(path.join(FIXTURE, 'app.bin'));
    const app = Buffer.concat([realApp, realApp]);
    const bundleDir = path.join(work.path, 'bundle');
    cpSync(FIXTURE, bundleDir, { recursive: true });
    writeFileSync(path.join(bundleDir, 'app.bin'), app);
    const bundle = await loadBundle(path.join(bundleDir, 'manifest.json'));
    const compressed = deflateSync(app, { level: 9 }).length;

    const start = async (i: number): Promise<Esp32Sim> => {
      const mac = `24:6f:28:be:00:${(i + 1).toString(16).padStart(2, '0')}`;
      const sim = await startEsp32Sim({ mac, throttle: true });
      sims.push(sim);
      await source.add(sim);
      return sim;
    };

    // ---- 1. one 1.5 MB image, wire bytes and time vs. the bound (both flash engines)
    const sim0 = await start(0);
    const dev0 = (await source.list()).find((d) => d.path === sim0.hostPath)!;
    console.log('== ESP32 flashing at 921600 baud (simulator throttled to the wire rate, 8N1) ==');
    console.log(`firmware: ${app.length} bytes (${mb(app.length)}); Node zlib level 9: ${compressed} bytes (${((compressed / app.length) * 100).toFixed(1)} %)`);
    for (const engine of ['station', 'esptool'] as const) {
      const counting = new CountingLink(source.link(dev0));
      const lines: string[] = [];
      const session = await EspSession.connect(counting, {
        baud: 921600,
        resetMode: 'auto',
        flashEngine: engine,
        signal: new AbortController().signal,
        log: (t) => lines.push(t),
      });
      const sentBefore = counting.sent;
      const receivedBefore = counting.received;
      const t0 = performance.now();
      await session.flash([{ name: 'app', address: 0x10000, data: app }]);
      const secs = (performance.now() - t0) / 1000;
      const wire = counting.sent - sentBefore;
      const back = counting.received - receivedBefore;
      // Leave a new (erased) board behind: the next write and the jobs below must write everything.
      await session.esploader.eraseFlash();
      await session.close();
      // What this engine actually compressed the image to (each logs it).
      const m = lines.map((l) => /(?:compressed to|Compressed \d+ bytes to) (\d+)/.exec(l)).find((x) => x);
      const sentCompressed = m ? Number(m[1]) : compressed;
      const bound = sentCompressed / WIRE_BPS;
      console.log(
        `engine ${engine.padEnd(7)}: compressed ${sentCompressed} bytes, bound ${bound.toFixed(2)} s; took ${secs.toFixed(2)} s incl. MD5 verify = ` +
          `${(secs / bound).toFixed(3)} × bound (target ≤ 1.15); wire host→board ${wire} bytes (+${((wire / sentCompressed - 1) * 100).toFixed(2)} %: ` +
          `SLIP escapes + packet headers), board→host ${back}`,
      );
    }

    // ---- 2. full jobs: 1 board, then N in parallel
    const issuer = new ApiClientIssuer(server.client('operator'));
    const settings = {
      accountId: server.contaId,
      codeTemplate: 'GW-{mac12}',
      nameTemplate: 'Bench {mac12}',
      broker: { host: '127.0.0.1', port: 8883 },
      wifi: { ssid: 'bench', password: 'bench-pass' },
      maxBaud: 921600,
      resetMode: 'auto' as const,
      onlineTimeoutMs: 10_000,
      keyType: 'ec' as const,
      keyMode: 'station' as const,
      operator: 'bench',
      stationId: 'bench',
      reprovision: 'revoke' as const,
      bootLogMs: 500,
    };
    // N + 1 new boards: one for the single job, N for the parallel run (a board that already runs the
    // bundle would only get its data partition written).
    for (let i = 1; i <= N; i++) await start(i);
    const devices = (await source.list()).sort((a, b) => sims.findIndex((x) => x.hostPath === a.path) - sims.findIndex((x) => x.hostPath === b.path));
    const runJobs = async (boards: typeof devices): Promise<{ ms: number; states: string[]; perJobBytes: number }> => {
      const count = boards.length;
      const queue = new JobQueue({ concurrency: count });
      const base = memory();
      let peak = base;
      const sampler = setInterval(() => (peak = Math.max(peak, memory())), 50);
      const t = performance.now();
      for (const device of boards) {
        queue.submit(esp32ProvisionJob({ device, openLink: () => source.link(device), bundle, issuer, settings }));
      }
      const jobs = await queue.idle();
      clearInterval(sampler);
      const failed = jobs.filter((j) => j.state !== 'succeeded');
      for (const j of failed) console.log(`  job on ${j.target} ${j.state}: ${j.error?.code} ${j.error?.message} (${j.error?.where})`);
      return { ms: performance.now() - t, states: jobs.map((j) => j.state), perJobBytes: (peak - base) / count };
    };
    const one = await runJobs(devices.slice(N, N + 1));
    const many = await runJobs(devices.slice(0, N));
    console.log(`\n== Full job (probe, certificate, NVS, flash bundle with the 1.5 MB app + tdscfg, reboot, boot log) ==`);
    console.log(`1 board: ${(one.ms / 1000).toFixed(2)} s`);
    console.log(`${N} boards in parallel: makespan ${(many.ms / 1000).toFixed(2)} s = ${(many.ms / one.ms).toFixed(3)} × one board (target ≤ 1.3); ${many.states.filter((s) => s === 'succeeded').length}/${N} succeeded`);
    console.log(`station memory per job (peak heap+external+arrayBuffers over baseline ÷ jobs): ${mb(many.perJobBytes)}`);
    const rss = sims.map((s) => simRss(s.pid)).filter((n): n is number => n !== undefined);
    if (rss.length) console.log(`simulator process RSS (each board, after its job): ${mb(Math.min(...rss))} … ${mb(Math.max(...rss))}`);
    issuer.close();
  } finally {
    source.close();
    await Promise.all(sims.map((s) => s.stop()));
    await server.stop();
    work.remove();
  }
}

/** Resident memory of a simulator process (Linux /proc), bytes. */
function simRss(pid: number): number | undefined {
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

function memory(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.external + m.arrayBuffers;
}

await main();
