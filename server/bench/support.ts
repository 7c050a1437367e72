/**
 * What the server benchmarks share: MACs and DER-built CSRs made quickly, the load loop (N
 * concurrent keep-alive clients, latency percentiles), the processes' CPU time and RSS read from
 * /proc, and the server itself (with a bench account and operator token) in a child process.
 */
import { spawn } from 'node:child_process';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { bitString, derToPem, explicit, oid, seq, set, unsignedInteger, utf8String } from '../src/ca/der.js';
import { createApiToken } from '../src/service/tokens.js';
import type { DatabaseConfig } from '../src/store/backend.js';
import { openStore } from '../src/store/open.js';

const OID_CN = '2.5.4.3';

/** A PKCS#10 request with CN = `mac` for an EC P-256 key, built directly in DER (fast). */
export function makeCsr(mac: string, key: KeyObject, spki: Buffer): string {
  const info = seq(unsignedInteger(Buffer.from([0])), seq(set(seq(oid(OID_CN), utf8String(mac)))), spki, explicit(0, Buffer.alloc(0)));
  const alg = seq(oid('1.2.840.10045.4.3.2'));
  return derToPem(seq(info, alg, bitString(sign('sha256', info, key))), 'CERTIFICATE REQUEST');
}

/** A locally administered unicast MAC, distinct per (prefix, i). */
export function macFor(prefix: number, i: number): string {
  const b = [0x02, prefix, (i >> 24) & 0xff, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

let deviceKeys: { key: KeyObject; spki: Buffer }[] | undefined;

/** `n` MACs with `prefix` and a CSR for each (EC P-256, signed by one of 16 device keys). */
export function deviceCsrs(prefix: number, n: number): { mac: string; csr: string }[] {
  deviceKeys ??= Array.from({ length: 16 }, () => {
    const k = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    return { key: k.privateKey, spki: k.publicKey.export({ type: 'spki', format: 'der' }) };
  });
  const keys = deviceKeys;
  return Array.from({ length: n }, (_, i) => {
    const mac = macFor(prefix, i);
    const k = keys[i % keys.length]!;
    return { mac, csr: makeCsr(mac, k.key, k.spki) };
  });
}

/** CPU time (user + sys) of a process in ms, from /proc (USER_HZ = 100). */
export function processCpuMs(pid: number): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return null;
  }
}

/** CPU of a process and all its children (PostgreSQL's backends are children of the postmaster). */
export function processTreeCpuMs(root: number): number {
  let total = processCpuMs(root) ?? 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const fields = readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1]!.split(' ');
      if (Number(fields[1]) === root) total += processCpuMs(Number(name)) ?? 0;
    } catch {
      /* gone */
    }
  }
  return total;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export function rssMb(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

export interface Result {
  name: string;
  count: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
  p90: number;
  max: number;
  rssPeakMb: number | null;
  /** CPU time (user+sys) per certificate: the server processes, the database's, and this load-generating process. */
  serverCpuMs: number | null;
  databaseCpuMs?: number | null;
  clientCpuMs: number | null;
}

/** The figures of a run from its latencies (ms); process figures left empty. */
export function summarise(name: string, count: number, seconds: number, latencies: number[]): Result {
  latencies.sort((a, b) => a - b);
  return {
    name,
    count,
    seconds,
    perSecond: count / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    p90: percentile(latencies, 90),
    max: latencies[latencies.length - 1] ?? NaN,
    rssPeakMb: null,
    serverCpuMs: null,
    clientCpuMs: null,
  };
}

/** `concurrency` clients run `request(0…count-1)`; figures for the server processes (and the database, by its postmaster). */
export async function load(name: string, concurrency: number, count: number, request: (i: number) => Promise<unknown>, serverPids: number[], databasePid?: number): Promise<Result> {
  const latencies: number[] = [];
  let next = 0;
  let peak = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, ...serverPids.map((p) => rssMb(p) ?? 0));
  }, 50);
  const cpu = (): number | null => {
    const v = serverPids.map(processCpuMs);
    return v.some((x) => x === null) ? null : v.reduce<number>((s, x) => s + x!, 0);
  };
  const serverCpu0 = cpu();
  const db0 = databasePid === undefined ? 0 : processTreeCpuMs(databasePid);
  const clientCpu0 = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const t = performance.now();
        await request(i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const serverCpu1 = cpu();
  const db1 = databasePid === undefined ? 0 : processTreeCpuMs(databasePid);
  const clientCpu = process.cpuUsage(clientCpu0);
  clearInterval(sampler);
  peak = Math.max(peak, ...serverPids.map((p) => rssMb(p) ?? 0));
  return {
    ...summarise(name, count, seconds, latencies),
    rssPeakMb: peak || null,
    serverCpuMs: serverCpu0 === null || serverCpu1 === null ? null : (serverCpu1 - serverCpu0) / count,
    databaseCpuMs: databasePid === undefined ? null : (db1 - db0) / count,
    clientCpuMs: (clientCpu.user + clientCpu.system) / 1000 / count,
  };
}

export interface BenchServer {
  apiUrl: string;
  pid: number;
  /** The bench account and an operator token for it. */
  accountId: number;
  token: string;
  caPem: string;
  stop(): Promise<void>;
}

/** A bench account and an operator token in the data folder's store (its SQLite file, or `database`). */
export async function benchAccount(dataDir: string, database?: DatabaseConfig): Promise<{ accountId: number; token: string; caPem: string }> {
  const store = await openStore(database ?? { kind: 'sqlite', file: path.join(dataDir, 'tds-server.db') });
  try {
    const account = await store.repo.createAccount('bench', { at: new Date().toISOString(), accountId: null, actor: 'bench', action: 'account.create', object: null, sourceIp: null, result: 'ok', detail: null });
    const { token } = await createApiToken(store.repo, { accountId: account.id, role: 'operator' }, 'bench');
    return { accountId: account.id, token, caPem: readFileSync(path.join(dataDir, 'ca.crt'), 'utf8') };
  } finally {
    await store.close();
  }
}

/**
 * `tds-server serve` from the compiled CLI on a free port in a child process (its own CPU, as in
 * production), with the bin's V8 flag. `env` unlocks the CA key (TDS_CA_PASSPHRASE, or
 * TDS_PKCS11_PIN with SOFTHSM2_CONF). TDS_BENCH_SERVER_ARGS adds Node options (e.g. "--cpu-prof
 * --cpu-prof-dir=/tmp/prof").
 */
export async function spawnBenchServer(cli: string, dataDir: string, env: Record<string, string>): Promise<{ apiUrl: string; pid: number; stop(): Promise<void> }> {
  const nodeArgs = ['--max-semi-space-size=4', ...(process.env.TDS_BENCH_SERVER_ARGS ?? '').split(' ').filter(Boolean)];
  const child = spawn(process.execPath, [...nodeArgs, cli, 'serve', '--data', dataDir, '--port', '0', '--json', '--quiet'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  };
  try {
    const listening = await new Promise<{ api_url: string; pid: number }>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /^(\{"event":"listening".*\})$/m.exec(out);
        if (m) resolve(JSON.parse(m[1]!) as { api_url: string; pid: number });
      });
      child.once('exit', (code) => reject(new Error(`server exited (${code})`)));
    });
    return { apiUrl: listening.api_url, pid: listening.pid, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** An account and operator token, then the server (spawnBenchServer). */
export async function startBenchServer(cli: string, dataDir: string, env: Record<string, string>): Promise<BenchServer> {
  const account = await benchAccount(dataDir);
  return { ...(await spawnBenchServer(cli, dataDir, env)), ...account };
}
