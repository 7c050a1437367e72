/**
 * Zero-touch benchmark (docs/zero-touch.md): 1,000 simulated devices bootstrap at once (open path,
 * each with its own key, its own TLS connection and a loopback address shared by at most two of
 * them) against one server (compiled CLI, HTTPS, its own process); an operator then claims them all
 * by code + MAC while the devices poll. Meanwhile an ordinary client provisions gateways one request
 * after another: its latency during the flood is compared with the same client on the quiet server.
 *
 *   npm run build -w server && npx tsx server/bench/bootstrap.ts [--devices N] [--claimers N] [--poll S] [--provisions N]
 *
 * The server runs with its shipped settings but two: open enrolment on (the flood is on that path) and
 * room for the devices' pending requests; `--poll S` and `--admission N` override the poll interval
 * and the admission limit (defaults: the server's own, 5 s and 200/s). The simulated devices honour
 * Retry-After on busy and rate-limited answers as the firmware and the Pi agent do.
 *
 * The devices run in this process, on the same machine as the server and the ordinary client: their
 * own TLS and signing work competes for the CPUs. `--control` measures that share alone: the devices
 * flood a second server while the ordinary client provisions on the first, which does no device work.
 *
 * Prints: bootstrap p50/p99 (first attempt → 201, including waits the server asked for), claims/s,
 * claim → certificate fetched p50/p99, and the ordinary client's provisioning p50/p99 quiet vs during
 * the flood (target: p99 within 1.2×), with the server's CPU and peak RSS.
 */
import { spawn } from 'node:child_process';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { ApiClient, ApiError } from '../src/client/index.js';
import { loadSettings, saveSettings } from '../src/config/data-dir.js';
import { initServerData } from '../src/config/init.js';
import type { BootstrapResponse } from '../src/contract/bootstrap.js';
import { macFor, makeCsr, percentile, processCpuMs, rssMb, startBenchServer, type BenchServer } from './support.js';

const args = process.argv.slice(2);
const opt = (name: string, def: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const DEVICES = opt('devices', 1_000);
const CLAIMERS = opt('claimers', 8);
/** 0: the server's default poll interval (what devices get from a server as shipped). */
const POLL_ARG = opt('poll', 0);
const PROVISIONS_QUIET = opt('provisions', 400);
const ADMISSION = opt('admission', 0);
/** A control run: the devices flood a second server, so the figures show what the flood costs the machine alone. */
const CONTROL = args.includes('--control');
const CLI = path.resolve(import.meta.dirname, '../dist/cli/tds-server.js');
const PASS = 'benchmark passphrase';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface SimDevice {
  mac: string;
  key: KeyObject;
  csr: string;
  api: ApiClient;
  request?: BootstrapResponse;
  skew: number;
  /** ms: first bootstrap attempt → 201 (with the waits the server asked for). */
  bootstrapMs?: number;
  refusedBusy: number;
  fetchedAt?: number;
}

const stats = (values: number[]): { p50: number; p99: number; max: number; n: number } => {
  const s = [...values].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99), max: s[s.length - 1] ?? NaN, n: s.length };
};
const fmt = (s: { p50: number; p99: number; max: number; n: number }): string => `p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms, max ${s.max.toFixed(1)} ms (n=${s.n})`;

/**
 * The ordinary client runs in its own process, so the devices' load generator cannot delay its
 * measurements (it still shares the machine's CPUs, as the server does). It provisions gateways one
 * after another (CSR path) and prints `{"at": epoch ms, "ms": latency}` per request until SIGTERM.
 */
async function ordinaryClientProcess(): Promise<void> {
  const [apiUrl, token, caFile, accountId, prefix] = args.slice(args.indexOf('--ordinary') + 1);
  const api = new ApiClient({ baseUrl: apiUrl!, token: token!, caPem: readFileSync(caFile!, 'utf8'), timeoutMs: 120_000 });
  const k = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = k.publicKey.export({ type: 'spki', format: 'der' });
  let running = true;
  process.on('SIGTERM', () => (running = false));
  for (let i = 0; running; i++) {
    const mac = macFor(Number(prefix), i);
    const csr = makeCsr(mac, k.privateKey, spki);
    const t = performance.now();
    await api.provision({ mac_address: mac, codigo: 'ORD', nome: 'ordinary client', conta_id: Number(accountId), csr_pem: csr });
    process.stdout.write(JSON.stringify({ at: Date.now(), ms: performance.now() - t }) + '\n');
  }
  api.close();
}

interface OrdinaryClient {
  samples: { at: number; ms: number }[];
  stop(): Promise<void>;
}

function ordinaryClient(apiUrl: string, token: string, caFile: string, accountId: number, prefix: number): OrdinaryClient {
  const samples: { at: number; ms: number }[] = [];
  const child = spawn(process.execPath, ['--import', 'tsx', import.meta.filename, '--ordinary', apiUrl, token, caFile, String(accountId), String(prefix)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let buffer = '';
  child.stdout!.on('data', (c: Buffer) => {
    buffer += c.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop()!;
    for (const l of lines) if (l) samples.push(JSON.parse(l) as { at: number; ms: number });
  });
  return {
    samples,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
    },
  };
}

async function bootstrapDevice(d: SimDevice): Promise<void> {
  const t = performance.now();
  for (;;) {
    try {
      d.request = await d.api.bootstrap({ mac_address: d.mac, csr_pem: d.csr, model: 'bench device' });
      d.bootstrapMs = performance.now() - t;
      d.skew = d.request.server_time - Math.floor(Date.now() / 1000);
      return;
    } catch (err) {
      const code = err instanceof ApiError ? (err.details as { code?: string } | undefined)?.code : undefined;
      if (code !== 'busy' && code !== 'rate_limited') throw err;
      d.refusedBusy++;
      // As the firmware and the Pi agent do: wait what Retry-After says (devices are not in step: ≤ 0.5 s apart).
      await sleep((err instanceof ApiError ? (err.retryAfterSeconds ?? 1) : 1) * 1000 + Math.random() * 500);
    }
  }
}

/** Polls as a device does (signed, honouring Retry-After) until it has its certificate. */
async function pollUntilIssued(d: SimDevice, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    const ts = Math.floor(Date.now() / 1000) + d.skew;
    let r: Awaited<ReturnType<ApiClient['pollBootstrap']>>;
    try {
      r = await d.api.pollBootstrap(d.request!.bootstrap_id, ts, (m) => sign('sha256', Buffer.from(m), d.key).toString('base64'));
    } catch (err) {
      // A busy server answers 429 busy with Retry-After, which the devices honour.
      if (!(err instanceof ApiError) || (err.details as { code?: string } | undefined)?.code !== 'busy') throw err;
      await sleep((err.retryAfterSeconds ?? 1) * 1000);
      continue;
    }
    if (r.status === 'issued') {
      d.fetchedAt = performance.now();
      return;
    }
    if (r.status === 'gone') throw new Error(`${d.mac}: ${r.error}`);
    await sleep(Math.max(1, r.retryAfterSeconds) * 1000);
  }
  throw new Error(`${d.mac}: no certificate before the deadline`);
}

async function main(): Promise<void> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build -w server" first`);
  const dir = mkdtempSync(path.join(tmpdir(), 'tds-bench-zt-'));
  const dataDir = path.join(dir, 'data');
  let server: BenchServer | undefined;
  let control: BenchServer | undefined;
  const devices: SimDevice[] = [];
  try {
    await initServerData({ dataDir, passphrase: PASS });
    const settings = await loadSettings(dataDir);
    settings.bootstrap = {
      ...settings.bootstrap,
      openEnrolment: true,
      ...(POLL_ARG > 0 ? { pollSeconds: POLL_ARG } : {}),
      maxPendingTotal: Math.max(settings.bootstrap.maxPendingTotal, DEVICES * 2),
      ...(ADMISSION > 0 ? { admissionPerSecond: ADMISSION } : {}),
    };
    await saveSettings(dataDir, settings);
    const POLL_SECONDS = settings.bootstrap.pollSeconds;

    server = await startBenchServer(CLI, dataDir, { TDS_CA_PASSPHRASE: PASS });
    if (CONTROL) {
      const controlDir = path.join(dir, 'control');
      await initServerData({ dataDir: controlDir, passphrase: PASS });
      await saveSettings(controlDir, { ...(await loadSettings(controlDir)), bootstrap: settings.bootstrap });
      control = await startBenchServer(CLI, controlDir, { TDS_CA_PASSPHRASE: PASS });
    }
    // Where the devices (and the claims) go: the measured server, or the control server.
    const target = control ?? server;
    const { pid, token, accountId } = server;
    const caFile = path.join(dataDir, 'ca.crt');
    const operator = new ApiClient({ baseUrl: target.apiUrl, token: target.token, caPem: target.caPem, timeoutMs: 120_000 });
    console.log(`server pid ${pid}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), Node ${process.version}`);
    console.log(`settings: poll every ${POLL_SECONDS} s, ${settings.bootstrap.perAddressPerMinute} bootstrap requests/min per address, ${settings.bootstrap.admissionPerSecond}/s server-wide`);

    // Devices: own key, own CSR, own connection, 2 per loopback address.
    for (let i = 0; i < DEVICES; i++) {
      const k = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      const mac = macFor(0x5a, i);
      const localAddress = `127.0.${10 + Math.floor(i / 500)}.${1 + (Math.floor(i / 2) % 250)}`;
      devices.push({ mac, key: k.privateKey, csr: makeCsr(mac, k.privateKey, k.publicKey.export({ type: 'spki', format: 'der' })), api: new ApiClient({ baseUrl: target.apiUrl, caPem: target.caPem, localAddress, timeoutMs: 120_000 }), skew: 0, refusedBusy: 0 });
    }

    // 1. Quiet: the ordinary client alone (after a warm-up).
    const quiet = ordinaryClient(server.apiUrl, token, caFile, accountId, 0x61);
    while (quiet.samples.length < 100 + PROVISIONS_QUIET) await sleep(50);
    await quiet.stop();
    const quietStats = stats(quiet.samples.slice(100).map((x) => x.ms));

    // 2. The flood: every device bootstraps at once; the ordinary client keeps provisioning.
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid) ?? 0)), 50);
    const cpu0 = processCpuMs(pid);
    const during = ordinaryClient(server.apiUrl, token, caFile, accountId, 0x62);
    while (during.samples.length < 100) await sleep(50);
    const floodStart = performance.now();
    const floodFrom = Date.now();
    await Promise.all(devices.map((d) => bootstrapDevice(d)));
    const floodSeconds = (performance.now() - floodStart) / 1000;
    const floodTo = Date.now();
    const cpuFlood = processCpuMs(pid);

    // 3. Claims (code + MAC, as an installer types them) while every device polls.
    const deadline = Date.now() + 600_000;
    const polling = Promise.all(devices.map((d) => pollUntilIssued(d, deadline)));
    const claimedAt = new Map<string, number>();
    let next = 0;
    const claimStart = performance.now();
    await Promise.all(
      Array.from({ length: CLAIMERS }, async () => {
        while (next < devices.length) {
          const d = devices[next++]!;
          await operator.claim({ mac_address: d.mac, activation_code: d.request!.activation_code!, conta_id: target.accountId, codigo: 'ZT', nome: `bench ${d.mac}` });
          claimedAt.set(d.mac, performance.now());
        }
      }),
    );
    const claimSeconds = (performance.now() - claimStart) / 1000;
    await polling;
    await during.stop();
    const cpu1 = processCpuMs(pid);
    clearInterval(sampler);

    const bootstrapStats = stats(devices.map((d) => d.bootstrapMs!));
    const fetchStats = stats(devices.map((d) => d.fetchedAt! - claimedAt.get(d.mac)!));
    // A request counts for the flood when it overlapped it.
    const duringFlood = stats(during.samples.filter((x) => x.at >= floodFrom && x.at - x.ms <= floodTo).map((x) => x.ms));
    const duringAll = stats(during.samples.filter((x) => x.at >= floodFrom).map((x) => x.ms));
    const busy = devices.reduce((n, d) => n + d.refusedBusy, 0);
    console.log('');
    console.log(`| figure | value |`);
    console.log(`|---|---|`);
    console.log(`| devices bootstrapping at once | ${DEVICES} (all answered 201 after ${floodSeconds.toFixed(1)} s; ${busy} answers "busy"/"rate_limited" with Retry-After on the way) |`);
    console.log(`| bootstrap, first attempt → 201 | ${fmt(bootstrapStats)} |`);
    console.log(`| claims (code + MAC, ${CLAIMERS} at a time) | ${(DEVICES / claimSeconds).toFixed(1)} claims/s |`);
    console.log(`| claim → certificate fetched (devices poll every ${POLL_SECONDS} s) | ${fmt(fetchStats)} |`);
    console.log(`| ordinary provisioning, quiet server | ${fmt(quietStats)} |`);
    console.log(`| ordinary provisioning, during the bootstrap flood | ${fmt(duringFlood)} |`);
    console.log(`| ordinary provisioning, during flood + claims + polls | ${fmt(duringAll)} |`);
    console.log(`| server CPU during the bootstrap flood | ${cpu0 === null || cpuFlood === null ? '–' : `${((cpuFlood - cpu0) / 1000).toFixed(2)} s over ${floodSeconds.toFixed(1)} s (${((cpuFlood - cpu0) / DEVICES).toFixed(2)} ms per device: TLS handshake + bootstrap)`} |`);
    console.log(`| server CPU for the whole zero-touch run | ${cpu0 === null || cpu1 === null ? '–' : `${((cpu1 - cpu0) / 1000).toFixed(1)} s (${((cpu1 - cpu0) / DEVICES).toFixed(2)} ms per device incl. the ordinary client's requests)`} |`);
    console.log(`| server RSS peak | ${peak.toFixed(1)} MB |`);
    console.log('');
    const ratio = duringFlood.p99 / quietStats.p99;
    if (CONTROL) console.log(`CONTROL RUN: the devices flooded a second server; the measured server did no device work, so this ratio is what the flood's CPU on this machine costs the ordinary client (server CPU and RSS above are the measured server's)`);
    console.log(`provisioning p99 during the flood / quiet: ${ratio.toFixed(2)}x (target ≤ 1.2x: ${ratio <= 1.2 ? 'met' : 'MISSED'}); with claims and polls: ${(duringAll.p99 / quietStats.p99).toFixed(2)}x`);
    console.log(`load average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')} (other processes share these ${cpus().length} CPUs)`);
    operator.close();
  } finally {
    for (const d of devices) d.api.close();
    await server?.stop();
    await control?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (args.includes('--ordinary')) await ordinaryClientProcess();
else await main();
