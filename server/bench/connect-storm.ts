/**
 * Connect storm: N devices (default 10,000), each with its own certificate, connected to a real
 * Mosquitto (the kit made by broker-kit, with persistence as Debian runs it); the broker is
 * restarted and every device reconnects at once. Prints:
 * - the time from the broker's restart until the server has fresh evidence from every device (its
 *   `last_seen` after the restart, `is_online` true) — "all online";
 * - how long the devices themselves took to be connected again (TLS + MQTT at the broker);
 * - the server's RSS (peak during the storm);
 * - messages lost: each device sends one telemetry reading (QoS 1), numbered, each time it
 *   reconnects; every reading the broker acknowledged must be stored (QoS 1 may store one twice);
 * - the CPU time Mosquitto, the device processes and the server spent on the storm (all share the
 *   machine's cores).
 *
 *   npm run build -w server && npx tsx server/bench/connect-storm.ts [--devices 10000] [--device-processes 4]
 *     [--store sqlite|postgres] [--instances 1]       (several instances need --store postgres)
 *
 * Target: all online within 30 s, none lost. Not a test: it needs minutes and most of the machine.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import { openSigning } from '../src/cli/common.js';
import { startMosquitto, type RunningMosquitto } from '../../test/support/mosquitto.js';
import { freePort } from '../../test/support/ports.js';
import { startPostgres, type PostgresCluster } from '../../test/support/postgres.js';
import { startProcess, type StartedProcess } from '../../test/support/processes.js';
import { tempDir } from '../../test/support/temp.js';
import { macFor, makeCsr, processCpuMs, rssMb } from './support.js';

const { values: args } = parseArgs({
  options: {
    devices: { type: 'string', default: '10000' },
    'device-processes': { type: 'string', default: '4' },
    store: { type: 'string', default: 'sqlite' },
    instances: { type: 'string', default: '1' },
  },
});
const N = Number(args.devices);
const PROCS = Number(args['device-processes']);
const INSTANCES = Number(args.instances);
const POSTGRES = args.store === 'postgres';
if (INSTANCES > 1 && !POSTGRES) throw new Error('several instances need --store postgres');
const ROOT = path.resolve(import.meta.dirname, '../..');
const CLI = path.join(ROOT, 'server/dist/cli/tds-server.js');
const PASSPHRASE = 'bench-passphrase-not-secret';
const env = { ...process.env, TDS_CA_PASSPHRASE: PASSPHRASE };
const cli = (dataDir: string, a: string[]): string => execFileSync(process.execPath, [CLI, ...a, '--data', dataDir, '--json'], { env, encoding: 'utf8' });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const isoSeconds = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Counts of the server's view, straight from its store. */
interface View {
  online(after: string): Promise<number>;
  readings(): Promise<number>;
  /** "<mac> <valor>" of the readings received since `after`. */
  storedSince(after: string): Promise<string[]>;
  close(): Promise<void>;
}

const STORED_SINCE = `SELECT g.mac || ' ' || CAST(t.valor AS INTEGER) AS k FROM telemetry t JOIN gateways g ON g.id = t.gateway_id WHERE t.received_at >= `;

function view(dataDir: string, url: string | undefined): View {
  if (url) {
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    const n = async (sql: string, v: unknown[] = []): Promise<number> => Number((await pool.query<{ n: string }>(sql, v)).rows[0]!.n);
    return {
      online: (after) => n('SELECT count(*) AS n FROM gateways WHERE is_online AND last_seen >= $1', [after]),
      readings: () => n('SELECT count(*) AS n FROM telemetry'),
      storedSince: async (after) => (await pool.query<{ k: string }>(`${STORED_SINCE}$1`, [after])).rows.map((r) => r.k),
      close: () => pool.end(),
    };
  }
  const db = new Database(path.join(dataDir, 'tds-server.db'), { readonly: true });
  const online = db.prepare('SELECT count(*) AS n FROM gateways WHERE is_online = 1 AND last_seen >= ?');
  const readings = db.prepare('SELECT count(*) AS n FROM telemetry');
  return {
    online: async (after) => (online.get(after) as { n: number }).n,
    readings: async () => (readings.get() as { n: number }).n,
    storedSince: async (after) => (db.prepare(`${STORED_SINCE}?`).all(after) as { k: string }[]).map((r) => r.k),
    close: async () => {
      db.close();
    },
  };
}

async function main(): Promise<void> {
  const tmp = tempDir('tds-bench-storm-');
  const dataDir = path.join(tmp.path, 'data');
  const kitDir = path.join(tmp.path, 'kit');
  const pidFile = path.join(tmp.path, 'mosquitto.pid');
  const port = await freePort();
  let pgCluster: PostgresCluster | undefined;
  let mosquitto: RunningMosquitto | undefined;
  const servers: StartedProcess[] = [];
  const swarm: StartedProcess[] = [];
  try {
    let url: string | undefined;
    if (POSTGRES) {
      pgCluster = await startPostgres({ settings: { fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on' } });
      url = await pgCluster.createDatabase('storm');
    }
    cli(dataDir, ['init', '--mqtt-broker', '127.0.0.1', '--mqtt-port', String(port), ...(url ? ['--database', url] : [])]);

    // N device certificates through the issuance service (16 device keys, one CSR per MAC).
    const t0 = Date.now();
    const keys = Array.from({ length: 16 }, () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' }));
    const devices: { mac: string; certPem: string; key: number }[] = [];
    const ctx = await openSigning(dataDir, { passphrase: PASSPHRASE });
    try {
      const account = await ctx.repo.createAccount('storm', { at: isoSeconds(Date.now()), accountId: null, actor: 'bench', action: 'account.create', object: null, sourceIp: null, result: 'ok', detail: null });
      const actor = { accountId: account.id, role: 'operator' as const, label: 'bench', sourceIp: null };
      let next = 0;
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          while (next < N) {
            const i = next++;
            const mac = macFor(0x70, i * 2);
            const k = keys[i % keys.length]!;
            const out = await ctx.service.provisioning.provision(actor, { mac, codigo: 'STORM', nome: 'storm', notices: [], csrPem: makeCsr(mac, k.privateKey, k.publicKey.export({ type: 'spki', format: 'der' })) });
            devices.push({ mac, certPem: out.certificate.certificatePem, key: i % keys.length });
          }
        }),
      );
    } finally {
      await ctx.close();
    }
    console.log(`${N} device certificates issued in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    cli(dataDir, ['broker-kit', '--out', kitDir, '--host', 'localhost', '--alt-name', '127.0.0.1', '--port', String(port), '--install-dir', kitDir, '--publish-dir', kitDir, '--reload', `pidfile:${pidFile}`]);
    const persistenceDir = path.join(tmp.path, 'persistence');
    mkdirSync(persistenceDir, { recursive: true });
    mosquitto = await startMosquitto(kitDir, { port, pidFile, persistenceDir });
    for (let i = 0; i < INSTANCES; i++) {
      const name = INSTANCES === 1 ? 'main' : `i${i}`;
      const s = startProcess(`tds-server ${name}`, process.execPath, [CLI, 'serve', '--data', dataDir, '--port', '0', '--json', '--mqtt-url', `mqtts://127.0.0.1:${port}`, '--mqtt-identity', name], { env });
      await s.waitForOutput(/"event":"listening"/, 60_000);
      await s.waitForOutput(/\[mqtt\] connected to /, 60_000);
      servers.push(s);
    }
    const pids = servers.map((s) => s.pid);
    const v = view(dataDir, url);
    const caPem = readFileSync(path.join(dataDir, 'ca.crt'), 'utf8');
    const keyPems = keys.map((k) => k.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);

    // Everyone connects (not measured), then the server knows them all.
    const progress: { connected: number; reconnected: number; sent: number }[] = [];
    const reports: Record<string, number[]>[] = [];
    const per = Math.ceil(N / PROCS);
    for (let p = 0; p < PROCS; p++) {
      const d = startProcess(`devices ${p}`, process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'connect-storm-devices.ts')], { env: process.env, cwd: ROOT });
      progress.push({ connected: 0, reconnected: 0, sent: 0 });
      d.child.stdout!.on('data', (c: Buffer) => {
        for (const line of c.toString('utf8').split('\n')) {
          if (line.startsWith('{"event":"progress"')) Object.assign(progress[p]!, JSON.parse(line) as object);
          if (line.startsWith('{"event":"report"')) reports[p] = (JSON.parse(line) as { acked: Record<string, number[]> }).acked;
        }
      });
      d.child.stdin!.write(JSON.stringify({ host: '127.0.0.1', port, caPem, keys: keyPems, devices: devices.slice(p * per, (p + 1) * per), concurrency: 50 }) + '\n');
      swarm.push(d);
    }
    const sum = (k: 'connected' | 'reconnected' | 'sent'): number => progress.reduce((s, x) => s + x[k], 0);
    const t1 = Date.now();
    while (sum('connected') < N) {
      if (Date.now() - t1 > 600_000) throw new Error(`only ${sum('connected')} of ${N} devices connected`);
      await sleep(500);
    }
    console.log(`${N} devices connected in ${((Date.now() - t1) / 1000).toFixed(1)} s (${PROCS} device processes)`);
    while ((await v.online('1970-01-01T00:00:00Z')) < N) await sleep(500);
    const readingsBefore = await v.readings();
    const idleRss = pids.map((pid) => rssMb(pid) ?? 0);
    console.log(`server RSS with ${N} devices online: ${idleRss.map((r) => r.toFixed(0)).join(' + ')} MB`);

    // The storm: the broker goes away and comes back; every device reconnects at once.
    const cpuOf = (list: number[]): number => list.reduce((s, pid) => s + (processCpuMs(pid) ?? 0), 0);
    const swarmPids = swarm.map((d) => d.pid);
    await mosquitto.stop();
    const stoppedAt = Date.now();
    await sleep(1_500);
    mosquitto = await startMosquitto(kitDir, { port, pidFile, persistenceDir });
    const restartedAt = Date.now();
    const mosquittoPid = mosquitto.pid;
    const cpu0 = { broker: processCpuMs(mosquittoPid) ?? 0, devices: cpuOf(swarmPids), server: cpuOf(pids) };
    const after = isoSeconds(stoppedAt + 1_000);
    let peak = Math.max(...idleRss);
    const sampler = setInterval(() => {
      peak = Math.max(peak, ...pids.map((pid) => rssMb(pid) ?? 0));
    }, 100);
    let allConnected: number | undefined;
    let allOnline: number | undefined;
    const deadline = restartedAt + 180_000;
    while (Date.now() < deadline) {
      if (allConnected === undefined && sum('reconnected') >= N) allConnected = Date.now() - restartedAt;
      if (allOnline === undefined && (await v.online(after)) >= N) allOnline = Date.now() - restartedAt;
      if (allConnected !== undefined && allOnline !== undefined && sum('sent') >= N) break;
      await sleep(250);
    }
    const cpu = { broker: (processCpuMs(mosquittoPid) ?? 0) - cpu0.broker, devices: cpuOf(swarmPids) - cpu0.devices, server: cpuOf(pids) - cpu0.server };
    await sleep(3_000); // batches still being written
    clearInterval(sampler);
    const stored = (await v.readings()) - readingsBefore;
    const onlineNow = await v.online(after);
    for (const d of swarm) d.child.stdin!.write('report\n');
    while (reports.filter(Boolean).length < swarm.length) await sleep(100);
    const storedKeys = new Set(await v.storedSince(after));
    const ackedKeys = reports.flatMap((r) => Object.entries(r).flatMap(([mac, values]) => values.map((x) => `${mac} ${x}`)));
    const lost = ackedKeys.filter((k) => !storedKeys.has(k)).length;
    await v.close();

    console.log('');
    console.log(`| figure (${N} devices, ${args.store}, ${INSTANCES} instance${INSTANCES > 1 ? 's' : ''}) | value | target |`);
    console.log('|---|---:|---:|');
    console.log(`| broker restart → every device connected again | ${allConnected === undefined ? `not all (${sum('reconnected')})` : `${(allConnected / 1000).toFixed(1)} s`} | |`);
    console.log(`| broker restart → server shows all online (fresh last_seen) | ${allOnline === undefined ? `not all (${onlineNow})` : `${(allOnline / 1000).toFixed(1)} s`} | ≤ 30 s |`);
    console.log(`| server RSS: ${N} online / peak in the storm | ${idleRss.map((r) => r.toFixed(0)).join('+')} / ${peak.toFixed(0)} MB | |`);
    console.log(`| telemetry readings acknowledged by the broker / stored rows / lost | ${ackedKeys.length} / ${stored} / ${lost} | none lost |`);
    console.log(`| CPU time until all online: Mosquitto / device processes / server | ${(cpu.broker / 1000).toFixed(1)} / ${(cpu.devices / 1000).toFixed(1)} / ${(cpu.server / 1000).toFixed(1)} s | |`);
    console.log(`load average: ${loadavg().map((l) => l.toFixed(2)).join(' ')} on ${cpus().length} CPUs (shared with other processes)`);
  } finally {
    for (const d of swarm) {
      d.child.stdin?.end();
      await d.stop(5_000);
    }
    for (const s of servers) await s.stop();
    await mosquitto?.stop();
    await pgCluster?.stop();
    tmp.remove();
  }
}

await main();
