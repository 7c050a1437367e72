/**
 * Helpers for the Pi job tests: a TCP relay in front of sshd whose connections can be cut at a chosen
 * moment (a Wi-Fi drop in the field), and the agent that the `none` service manager started on the
 * "Pi", stopped by the PID in its PID file.
 */
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export interface TcpRelay {
  port: number;
  /** Destroys every open connection (both sides) and refuses new ones. */
  cut(): void;
  /** Accepts and relays new connections again. */
  resume(): void;
  close(): Promise<void>;
}

export function startTcpRelay(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpRelay> {
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
    server.listen(0, '127.0.0.1', () => {
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
