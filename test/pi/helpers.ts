/**
 * Helpers for the Pi job tests: a TCP relay in front of sshd whose connections can be cut at a chosen
 * moment (a Wi-Fi drop in the field), and the agent that the `none` service manager started on the
 * "Pi", stopped by the PID in its PID file.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ApiClientIssuer } from '../../src/main/certs/api-client-issuer.js';

export interface TcpRelay {
  port: number;
  /** Destroys every open connection (both sides) and refuses new ones. */
  cut(): void;
  /** Accepts and relays new connections again. */
  resume(): void;
  /** New connections go to this port from now on (another "Pi" at the same address: a re-imaged one). */
  retarget(port: number): void;
  close(): Promise<void>;
}

/** `listenPort`: listen there (e.g. a port the station already tries, for a Pi that "boots" now); default a free one. */
export function startTcpRelay(targetPort: number, targetHost = '127.0.0.1', listenPort = 0): Promise<TcpRelay> {
  const sockets = new Set<net.Socket>();
  let refusing = false;
  const server = net.createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, targetHost);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      resolve({
        port,
        cut() {
          refusing = true;
          for (const s of sockets) s.destroy();
        },
        resume() {
          refusing = false;
        },
        retarget(port: number) {
          targetPort = port;
        },
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}

/** PID of the agent the installer started with `--service-manager none`, if it is running. */
export function agentPid(prefix: string): number | undefined {
  const file = path.join(prefix, 'run/gateway-iot/agent.pid');
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmdline.includes(path.join(prefix, 'opt/gateway-iot/mqtt_client.py'))) return undefined;
    if (readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2] === 'Z') return undefined;
  } catch {
    return undefined;
  }
  return pid;
}

/** SIGTERM (the agent publishes offline), then SIGKILL; resolves when it is gone. */
export async function stopAgent(prefix: string, graceMs = 8_000): Promise<void> {
  const pid = agentPid(prefix);
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (agentPid(prefix) === pid && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (agentPid(prefix) === pid) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/**
 * `openssl verify -crl_check` of a certificate against the CA and a CRL (the server's current one):
 * what Mosquitto decides when the device connects.
 */
export function crlVerdict(certPem: string, caPem: string, crlPem: string): 'valid' | 'revoked' {
  const dir = mkdtempSync(path.join(tmpdir(), 'tds-crl-'));
  try {
    const f = (name: string, text: string): string => {
      const file = path.join(dir, name);
      writeFileSync(file, text);
      return file;
    };
    const r = spawnSync('openssl', ['verify', '-crl_check', '-CAfile', f('ca.pem', caPem), '-CRLfile', f('crl.pem', crlPem), f('cert.pem', certPem)], { encoding: 'utf8' });
    const out = `${r.stdout}${r.stderr}`;
    if (r.status === 0 && /: OK/.test(out)) return 'valid';
    if (/certificate revoked/.test(out)) return 'revoked';
    throw new Error(`openssl verify: ${out}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Serial numbers (upper-case hex, no leading zeros) listed in a CRL, read by `openssl crl`. */
export function crlSerials(crlPem: string): string[] {
  const r = spawnSync('openssl', ['crl', '-noout', '-text'], { input: crlPem, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl crl: ${r.stderr}`);
  return [...r.stdout.matchAll(/Serial Number:\s*([0-9A-Fa-f]+)/g)].map((m) => normSerial(m[1]!));
}

export function normSerial(s: string): string {
  return s.replace(/:/g, '').replace(/^0+/, '').toUpperCase();
}

/** The station's real issuer, with a look at the world at the moment a job confirms a pending certificate. */
export class WatchedIssuer extends ApiClientIssuer {
  onConfirm: ((gatewayId: number, serial: string) => Promise<void>) | undefined;
  readonly confirmed: string[] = [];
  readonly cancelled: string[] = [];

  override async confirmRenewal(gatewayId: number, serialNumber: string, signal?: AbortSignal): Promise<void> {
    await this.onConfirm?.(gatewayId, serialNumber);
    await super.confirmRenewal(gatewayId, serialNumber, signal);
    this.confirmed.push(serialNumber);
  }

  override async cancelRenewal(gatewayId: number, serialNumber: string, signal?: AbortSignal): Promise<void> {
    await super.cancelRenewal(gatewayId, serialNumber, signal);
    this.cancelled.push(serialNumber);
  }
}
