/**
 * Issuance on each store, in one run: SQLite with one server instance, PostgreSQL with one, and
 * PostgreSQL with two instances sharing the load (requests alternate between them, as a
 * round-robin load balancer would). The real server (compiled CLI, HTTPS on loopback) under 64
 * concurrent keep-alive clients, CSR path (EC P-256). PostgreSQL 15 from Debian is started by the
 * benchmark with its durable defaults (fsync, synchronous_commit on; `--pg-fast` turns both off to
 * show what the disk costs). Prints certs/s, p50/p99, server RSS, and the CPU time per certificate
 * of the server processes, of PostgreSQL and of the load generator — on a 2-core machine all of
 * them share the same two cores.
 *
 *   npm run build -w server && npx tsx server/bench/issuance-stores.ts [--count N] [--concurrency 64] [--pg-fast] [--only sqlite|pg1|pg2]
 *
 * Target (2-core machine): two instances on PostgreSQL ≥ 3,000 certificates/s with p99 ≤ 100 ms.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { ApiClient } from '../src/client/index.js';
import { initServerData } from '../src/config/init.js';
import { startPostgres, type PostgresCluster } from '../../test/support/postgres.js';
import { benchAccount, deviceCsrs, load, spawnBenchServer, type Result } from './support.js';

const args = process.argv.slice(2);
const opt = (name: string, def: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const CONCURRENCY = opt('concurrency', 64);
const COUNT = opt('count', 10_000);
const WARMUP = 1_000;
const PG_FAST = args.includes('--pg-fast');
const ONLY = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const CLI = path.resolve(import.meta.dirname, '../dist/cli/tds-server.js');
const PASS = 'benchmark passphrase';

interface Installation {
  dataDir: string;
  token: string;
  accountId: number;
  caPem: string;
}

async function install(dir: string, postgresUrl?: string): Promise<Installation> {
  const dataDir = path.join(dir, 'data');
  await initServerData({ dataDir, passphrase: PASS, ...(postgresUrl ? { postgresUrl } : {}) });
  return { dataDir, ...(await benchAccount(dataDir, postgresUrl ? { kind: 'postgres', url: postgresUrl } : undefined)) };
}

async function scenario(name: string, inst: Installation, instances: number, prefix: number, databasePid?: number): Promise<Result> {
  const servers: Awaited<ReturnType<typeof spawnBenchServer>>[] = [];
  try {
    for (let i = 0; i < instances; i++) servers.push(await spawnBenchServer(CLI, inst.dataDir, { TDS_CA_PASSPHRASE: PASS }));
    const clients = servers.map((s) => new ApiClient({ baseUrl: s.apiUrl, token: inst.token, caPem: inst.caPem, timeoutMs: 120_000 }));
    const run = (list: { mac: string; csr: string }[]) => (i: number) =>
      clients[i % clients.length]!.provision({ mac_address: list[i]!.mac, codigo: 'BENCH', nome: 'bench', conta_id: inst.accountId, csr_pem: list[i]!.csr });
    const pids = servers.map((s) => s.pid);
    await load('warm-up', CONCURRENCY, WARMUP, run(deviceCsrs(prefix, WARMUP)), pids, databasePid);
    const r = await load(name, CONCURRENCY, COUNT, run(deviceCsrs(prefix + 1, COUNT)), pids, databasePid);
    for (const c of clients) c.close();
    return r;
  } finally {
    for (const s of servers) await s.stop();
  }
}

/** The statements PostgreSQL spent its time on during the PostgreSQL scenarios (pg_stat_statements). */
async function statementTimes(cluster: PostgresCluster): Promise<void> {
  await cluster.query(cluster.adminUrl, 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  const rows = await cluster.query<{ calls: number; ms: number; query: string }>(
    cluster.adminUrl,
    `SELECT calls, total_exec_time AS ms, regexp_replace(query, '\\s+', ' ', 'g') AS query FROM pg_stat_statements
     WHERE calls >= 1000 ORDER BY total_exec_time DESC LIMIT 6`,
  );
  console.log('');
  console.log('PostgreSQL execution time by statement (both PostgreSQL scenarios):');
  for (const r of rows) console.log(`  ${(r.ms / r.calls).toFixed(3)} ms × ${r.calls}  ${r.query.slice(0, 110)}`);
}

async function main(): Promise<void> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build -w server" first`);
  const dir = mkdtempSync(path.join(tmpdir(), 'tds-bench-stores-'));
  let pg: PostgresCluster | undefined;
  try {
    pg = await startPostgres({
      settings: {
        shared_buffers: '128MB',
        // Where PostgreSQL's time goes, per statement (printed at the end).
        shared_preload_libraries: 'pg_stat_statements',
        ...(PG_FAST ? {} : { fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on' }),
      },
    });
    console.log(`${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), Node ${process.version}, ${CONCURRENCY} concurrent clients, ${COUNT} certificates per scenario`);
    console.log(`PostgreSQL 15 on 127.0.0.1: ${PG_FAST ? 'fsync and synchronous_commit OFF (--pg-fast)' : 'fsync and synchronous_commit on (durable defaults)'}`);
    const results: Result[] = [];
    // --only sqlite|pg1|pg2 runs one scenario (e.g. to profile it).
    if (!ONLY || ONLY === 'sqlite') results.push(await scenario('SQLite, 1 instance', await install(path.join(dir, 'sqlite')), 1, 0x40));
    if (!ONLY || ONLY === 'pg1') results.push(await scenario('PostgreSQL, 1 instance', await install(path.join(dir, 'pg1'), await pg.createDatabase('bench1')), 1, 0x50, pg.pid));
    if (!ONLY || ONLY === 'pg2') results.push(await scenario('PostgreSQL, 2 instances', await install(path.join(dir, 'pg2'), await pg.createDatabase('bench2')), 2, 0x60, pg.pid));
    if (!ONLY || ONLY !== 'sqlite') await statementTimes(pg);

    console.log('');
    const ms = (v: number | null | undefined): string => (v === null || v === undefined ? '–' : v.toFixed(2));
    console.log('| store | certs/s | p50 ms | p99 ms | server RSS peak MB (each) | server CPU ms/cert (all instances) | PostgreSQL CPU ms/cert | load generator CPU ms/cert |');
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of results) {
      console.log(
        `| ${r.name} | ${r.perSecond.toFixed(0)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.rssPeakMb === null ? '–' : r.rssPeakMb.toFixed(0)} | ${ms(r.serverCpuMs)} | ${ms(r.databaseCpuMs)} | ${ms(r.clientCpuMs)} |`,
      );
    }
    console.log(`load average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')} (other processes share these ${cpus().length} CPUs)`);
    const two = results.find((r) => r.name === 'PostgreSQL, 2 instances');
    if (!two) return;
    const cpuPerCert = (two.serverCpuMs ?? 0) + (two.databaseCpuMs ?? 0) + (two.clientCpuMs ?? 0);
    console.log(`PostgreSQL, 2 instances: ${cpuPerCert.toFixed(2)} ms of CPU per certificate in all processes → at most ~${Math.round((cpus().length * 1000) / cpuPerCert)}/s on ${cpus().length} fully free CPUs`);
    console.log(`target (2 instances on PostgreSQL ≥ 3000/s, p99 ≤ 100 ms): ${two.perSecond >= 3000 ? 'met' : 'MISSED'} / ${two.p99 <= 100 ? 'met' : 'MISSED'}`);
  } finally {
    await pg?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
