/**
 * What the server benchmarks share: MACs and DER-built CSRs made quickly, percentiles, the server
 * process's CPU time and RSS read from /proc, and the server itself (with a bench account and
 * operator token) in a child process.
 */
import { spawn } from 'node:child_process';
import { sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { bitString, derToPem, explicit, oid, seq, set, unsignedInteger, utf8String } from '../src/ca/der.js';
import { createApiToken } from '../src/service/tokens.js';
import { SqliteRepository } from '../src/store/sqlite/repository.js';

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

/** CPU time (user + sys) of a process in ms, from /proc (USER_HZ = 100). */
export function processCpuMs(pid: number): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return null;
  }
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

export interface BenchServer {
  apiUrl: string;
  pid: number;
  /** The bench account and an operator token for it. */
  accountId: number;
  token: string;
  caPem: string;
  stop(): Promise<void>;
}

/**
 * An account and operator token, then `tds-server serve` from the compiled CLI on a free port in a
 * child process (its own CPU, as in production), with the bin's V8 flag. `env` unlocks the CA key
 * (TDS_CA_PASSPHRASE, or TDS_PKCS11_PIN with SOFTHSM2_CONF). TDS_BENCH_SERVER_ARGS adds Node options
 * (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
 */
export async function startBenchServer(cli: string, dataDir: string, env: Record<string, string>): Promise<BenchServer> {
  const repo = new SqliteRepository(path.join(dataDir, 'tds-server.db'));
  const account = await repo.createAccount('bench', { at: new Date().toISOString(), accountId: null, actor: 'bench', action: 'account.create', object: null, sourceIp: null, result: 'ok', detail: null });
  const { token } = await createApiToken(repo, { accountId: account.id, role: 'operator' }, 'bench');
  await repo.close();

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
    const caPem = readFileSync(path.join(dataDir, 'ca.crt'), 'utf8');
    return { apiUrl: listening.api_url, pid: listening.pid, accountId: account.id, token, caPem, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
