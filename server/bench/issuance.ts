/**
 * Issuance benchmark: the real server (compiled CLI, HTTPS on loopback) under 64 concurrent
 * keep-alive clients, for the CSR path (EC P-256), the server-keygen path (EC P-256 and RSA-2048),
 * the CSR path again with the CA key in a SoftHSM2 token (PKCS#11), and, in the same run, the seed's
 * approach (node-forge RSA-2048 keygen + sign, in process).
 * Prints certificates/s, p50/p99 latency and the server's RSS (peak, sampled every 50 ms).
 *
 *   npm run build -w server && npx tsx server/bench/issuance.ts [--csr N] [--ec N] [--rsa N] [--hsm N] [--forge N]
 *
 * `--hsm 0` skips the token run (it needs Debian's softhsm2).
 *
 * Targets (2-core machine): ≥ 1,000 CSR issuances/s, p99 ≤ 100 ms, RSS ≤ 150 MB, ≥ 50× the seed.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import forge from 'node-forge';
import { ApiClient } from '../src/client/index.js';
import { initServerData } from '../src/config/init.js';
import { parsePkcs11Uri } from '../src/ca/pkcs11/uri.js';
import { benchToken } from './softhsm.js';
import { deviceCsrs, load as loadWith, macFor, rssMb, startBenchServer, summarise, type BenchServer, type Result } from './support.js';

const args = process.argv.slice(2);
const opt = (name: string, def: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const CONCURRENCY = opt('concurrency', 64);
const COUNTS = { csr: opt('csr', 10_000), ec: opt('ec', 5_000), rsa: opt('rsa', 200), hsm: opt('hsm', 10_000), forge: opt('forge', 20) };
const WARMUP = 1_000;
const CLI = path.resolve(import.meta.dirname, '../dist/cli/tds-server.js');
const PASS = 'benchmark passphrase';
const TOKEN_PIN = '24681357';

const load = (name: string, _client: ApiClient, count: number, request: (i: number) => Promise<unknown>, serverPid: number): Promise<Result> =>
  loadWith(name, CONCURRENCY, count, request, [serverPid]);

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

const csrs = deviceCsrs;

/** The CSR path on the CA whose key is in a SoftHSM2 token (a data folder of its own). */
async function tokenRun(dir: string, count: number): Promise<Result> {
  const dataDir = path.join(dir, 'data-hsm');
  const { env, modulePath } = benchToken(dir, 'tds-bench', TOKEN_PIN);
  const previousConf = process.env.SOFTHSM2_CONF;
  process.env.SOFTHSM2_CONF = env.SOFTHSM2_CONF; // init loads the module in this process
  try {
    await initServerData({ dataDir, pkcs11: { modulePath, uri: parsePkcs11Uri('pkcs11:token=tds-bench;object=ca-key'), pin: TOKEN_PIN } });
  } finally {
    if (previousConf === undefined) delete process.env.SOFTHSM2_CONF;
    else process.env.SOFTHSM2_CONF = previousConf;
  }
  const server = await startBenchServer(CLI, dataDir, { ...env, TDS_PKCS11_PIN: TOKEN_PIN });
  try {
    const client = new ApiClient({ baseUrl: server.apiUrl, token: server.token, caPem: server.caPem, timeoutMs: 120_000 });
    const provisionCsr = (list: { mac: string; csr: string }[]) => (i: number) =>
      client.provision({ mac_address: list[i]!.mac, codigo: 'BENCH', nome: 'bench', conta_id: server.accountId, csr_pem: list[i]!.csr });
    await load('warm-up (token)', client, WARMUP, provisionCsr(csrs(0x4f, WARMUP)), server.pid);
    const r = await load('CSR path, EC P-256, CA key in SoftHSM2 (PKCS#11)', client, count, provisionCsr(csrs(0x40, count)), server.pid);
    client.close();
    return r;
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build -w server" first`);
  const dir = mkdtempSync(path.join(tmpdir(), 'tds-bench-'));
  const dataDir = path.join(dir, 'data');
  let server: BenchServer | undefined;
  try {
    await initServerData({ dataDir, passphrase: PASS });
    server = await startBenchServer(CLI, dataDir, { TDS_CA_PASSPHRASE: PASS });
    const { pid, accountId } = server;
    const client = new ApiClient({ baseUrl: server.apiUrl, token: server.token, caPem: server.caPem, timeoutMs: 120_000 });
    console.log(`server pid ${pid}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), Node ${process.version}, ${CONCURRENCY} concurrent clients`);
    console.log(`idle server RSS: ${rssMb(pid)?.toFixed(1)} MB`);

    const provisionCsr = (list: { mac: string; csr: string }[]) => (i: number) =>
      client.provision({ mac_address: list[i]!.mac, codigo: 'BENCH', nome: 'bench', conta_id: accountId, csr_pem: list[i]!.csr });
    const provisionKeygen = (prefix: number, keyType: 'ec' | 'rsa') => (i: number) =>
      client.provision({ mac_address: macFor(prefix, i), codigo: 'BENCH', nome: 'bench', conta_id: accountId, key_type: keyType });

    const results: Result[] = [];
    await load('warm-up', client, WARMUP, provisionCsr(csrs(0x0f, WARMUP)), pid);
    results.push(await load('CSR path, EC P-256, CA key sealed in a file (device keeps its key)', client, COUNTS.csr, provisionCsr(csrs(0x10, COUNTS.csr)), pid));
    results.push(await load('server keygen, EC P-256', client, COUNTS.ec, provisionKeygen(0x20, 'ec'), pid));
    results.push(await load('server keygen, RSA-2048', client, COUNTS.rsa, provisionKeygen(0x30, 'rsa'), pid));
    client.close();
    await server.stop();
    // Beside the file-key figure: the same CSR path with the CA key in a token.
    const token = COUNTS.hsm > 0 ? await tokenRun(dir, COUNTS.hsm) : undefined;
    if (token) results.splice(1, 0, token);
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
    if (token) console.log(`CA key in SoftHSM2: ${token.perSecond.toFixed(0)}/s, ${((100 * token.perSecond) / csr.perSecond).toFixed(0)}% of the file-key rate; p99 ${token.p99.toFixed(1)} ms; its server's RSS peak ${token.rssPeakMb?.toFixed(0) ?? '?'} MB (SoftHSM2 loaded in the process)`);
    console.log(`CSR path vs seed approach: ${(csr.perSecond / seed.perSecond).toFixed(0)}x`);
    console.log(`targets: CSR ≥ 1000/s: ${csr.perSecond >= 1000 ? 'met' : 'MISSED'}; p99 ≤ 100 ms: ${csr.p99 <= 100 ? 'met' : 'MISSED'}; RSS ≤ 150 MB (file key, the default): ${Math.max(...results.filter((r) => r !== token).map((r) => r.rssPeakMb ?? 0)) <= 150 ? 'met' : 'MISSED'}; ≥ 50x seed: ${csr.perSecond / seed.perSecond >= 50 ? 'met' : 'MISSED'}`);
  } finally {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
