/**
 * Issuance benchmark: the real server (compiled CLI, HTTPS on loopback) under 64 concurrent
 * keep-alive clients, for the CSR path (EC P-256), the server-keygen path (EC P-256 and RSA-2048),
 * and, in the same run, the seed's approach (node-forge RSA-2048 keygen + sign, in process).
 * Prints certificates/s, p50/p99 latency and the server's RSS (peak, sampled every 50 ms).
 *
 *   npm run build -w server && npx tsx server/bench/issuance.ts [--csr N] [--ec N] [--rsa N] [--forge N]
 *
 * Targets (issue 2, 2-core machine): ≥ 1,000 CSR issuances/s, p99 ≤ 100 ms, RSS ≤ 150 MB, ≥ 50× the seed.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import forge from 'node-forge';
import { ApiClient } from '../src/client/index.js';
import { initServerData } from '../src/config/init.js';
import { createApiToken } from '../src/service/tokens.js';
import { SqliteRepository } from '../src/store/sqlite/repository.js';
import { deviceCsrs, load as loadWith, macFor, rssMb, summarise, type Result } from './issuance-load.js';

const args = process.argv.slice(2);
const opt = (name: string, def: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const CONCURRENCY = opt('concurrency', 64);
const COUNTS = { csr: opt('csr', 10_000), ec: opt('ec', 5_000), rsa: opt('rsa', 200), forge: opt('forge', 20) };
const WARMUP = 1_000;
const load = (name: string, _client: ApiClient, count: number, request: (i: number) => Promise<unknown>, serverPid: number): Promise<Result> =>
  loadWith(name, CONCURRENCY, count, request, [serverPid]);
const CLI = path.resolve(import.meta.dirname, '../dist/cli/tds-server.js');
const PASS = 'benchmark passphrase';

function seedApproach(count: number): Result {
  // What the seed's service does per device: a fresh RSA-2048 key and a forge-signed certificate.
  const caKeys = forge.pki.rsa.generateKeyPair(2048);
  const caCert = forge.pki.createCertificate();
  caCert.publicKey = caKeys.publicKey;
  caCert.serialNumber = '01';
  caCert.validity.notBefore = new Date();
  caCert.validity.notAfter = new Date(Date.now() + 20 * 365 * 86_400_000);
  const caName = [{ shortName: 'CN', value: 'Seed CA' }];
  caCert.setSubject(caName);
  caCert.setIssuer(caName);
  caCert.setExtensions([{ name: 'basicConstraints', cA: true }]);
  caCert.sign(caKeys.privateKey, forge.md.sha256.create());
  const latencies: number[] = [];
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    const keys = forge.pki.rsa.generateKeyPair(2048);
    const cert = forge.pki.createCertificate();
    cert.publicKey = keys.publicKey;
    cert.serialNumber = (i + 2).toString(16).padStart(2, '0');
    cert.validity.notBefore = new Date();
    cert.validity.notAfter = new Date(Date.now() + 10 * 365 * 86_400_000);
    const mac = macFor(0xf0, i);
    cert.setSubject([
      { shortName: 'C', value: 'BR' },
      { shortName: 'ST', value: 'SP' },
      { shortName: 'L', value: 'Sao Paulo' },
      { shortName: 'O', value: 'TDS IoT' },
      { shortName: 'CN', value: mac },
    ]);
    cert.setIssuer(caName);
    cert.setExtensions([
      { name: 'subjectAltName', altNames: [{ type: 2, value: `${mac.replace(/:/g, '')}.devices.tds.com.br` }] },
      { name: 'keyUsage', critical: true, digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', critical: true, clientAuth: true },
    ]);
    cert.sign(caKeys.privateKey, forge.md.sha256.create());
    forge.pki.certificateToPem(cert);
    forge.pki.privateKeyToPem(keys.privateKey);
    latencies.push(performance.now() - t);
  }
  return summarise('seed approach: node-forge RSA-2048 keygen + sign (in process, 1 thread)', count, (performance.now() - started) / 1000, latencies);
}

async function main(): Promise<void> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build -w server" first`);
  const dir = mkdtempSync(path.join(tmpdir(), 'tds-bench-'));
  const dataDir = path.join(dir, 'data');
  let child: ReturnType<typeof spawn> | undefined;
  try {
    await initServerData({ dataDir, passphrase: PASS });
    const repo = new SqliteRepository(path.join(dataDir, 'tds-server.db'));
    const account = await repo.createAccount('bench', { at: new Date().toISOString(), accountId: null, actor: 'bench', action: 'account.create', object: null, sourceIp: null, result: 'ok', detail: null });
    const { token } = await createApiToken(repo, { accountId: account.id, role: 'operator' }, 'bench');
    await repo.close();

    // e.g. TDS_BENCH_SERVER_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the server.
    // The installed `tds-server` bin runs with --max-semi-space-size=4 (its shebang); so does this.
    const nodeArgs = ['--max-semi-space-size=4', ...(process.env.TDS_BENCH_SERVER_ARGS ?? '').split(' ').filter(Boolean)];
    child = spawn(process.execPath, [...nodeArgs, CLI, 'serve', '--data', dataDir, '--port', '0', '--json', '--quiet'], {
      env: { ...process.env, TDS_CA_PASSPHRASE: PASS },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const listening = await new Promise<{ api_url: string; pid: number }>((resolve, reject) => {
      let out = '';
      child!.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /^(\{"event":"listening".*\})$/m.exec(out);
        if (m) resolve(JSON.parse(m[1]!) as { api_url: string; pid: number });
      });
      child!.once('exit', (code) => reject(new Error(`server exited (${code})`)));
    });
    const caPem = readFileSync(path.join(dataDir, 'ca.crt'), 'utf8');
    const client = new ApiClient({ baseUrl: listening.api_url, token, caPem, timeoutMs: 120_000 });
    const pid = listening.pid;
    console.log(`server pid ${pid}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), Node ${process.version}, ${CONCURRENCY} concurrent clients`);
    console.log(`idle server RSS: ${rssMb(pid)?.toFixed(1)} MB`);

    const csrs = deviceCsrs;

    const provisionCsr = (list: { mac: string; csr: string }[]) => (i: number) =>
      client.provision({ mac_address: list[i]!.mac, codigo: 'BENCH', nome: 'bench', conta_id: account.id, csr_pem: list[i]!.csr });
    const provisionKeygen = (prefix: number, keyType: 'ec' | 'rsa') => (i: number) =>
      client.provision({ mac_address: macFor(prefix, i), codigo: 'BENCH', nome: 'bench', conta_id: account.id, key_type: keyType });

    const results: Result[] = [];
    await load('warm-up', client, WARMUP, provisionCsr(csrs(0x0f, WARMUP)), pid);
    results.push(await load('CSR path, EC P-256 (device keeps its key)', client, COUNTS.csr, provisionCsr(csrs(0x10, COUNTS.csr)), pid));
    results.push(await load('server keygen, EC P-256', client, COUNTS.ec, provisionKeygen(0x20, 'ec'), pid));
    results.push(await load('server keygen, RSA-2048', client, COUNTS.rsa, provisionKeygen(0x30, 'rsa'), pid));
    client.close();
    results.push(seedApproach(COUNTS.forge));

    console.log('');
    const ms = (v: number | null): string => (v === null ? '–' : v.toFixed(2));
    console.log('| scenario | certificates | certs/s | p50 ms | p99 ms | server RSS peak MB | server CPU ms/cert | client CPU ms/cert |');
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of results) {
      console.log(
        `| ${r.name} | ${r.count} | ${r.perSecond.toFixed(1)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.rssPeakMb === null ? '–' : r.rssPeakMb.toFixed(1)} | ${ms(r.serverCpuMs)} | ${ms(r.clientCpuMs)} |`,
      );
    }
    console.log(`load average during the run: ${loadavg().map((l) => l.toFixed(2)).join(' ')} (other processes share these ${cpus().length} CPUs)`);
    const csr = results[0]!;
    const seed = results[results.length - 1]!;
    console.log('');
    console.log(`CSR path latency: p50 ${csr.p50.toFixed(1)} ms, p90 ${csr.p90.toFixed(1)} ms, p99 ${csr.p99.toFixed(1)} ms, max ${csr.max.toFixed(1)} ms`);
    console.log(`CSR path vs seed approach: ${(csr.perSecond / seed.perSecond).toFixed(0)}x`);
    console.log(`targets: CSR ≥ 1000/s: ${csr.perSecond >= 1000 ? 'met' : 'MISSED'}; p99 ≤ 100 ms: ${csr.p99 <= 100 ? 'met' : 'MISSED'}; RSS ≤ 150 MB: ${Math.max(...results.map((r) => r.rssPeakMb ?? 0)) <= 150 ? 'met' : 'MISSED'}; ≥ 50x seed: ${csr.perSecond / seed.perSecond >= 50 ? 'met' : 'MISSED'}`);
  } finally {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child!.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
