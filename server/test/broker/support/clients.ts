/**
 * MQTT client helpers for broker tests: mqtt.js clients with certificate identities, a message
 * recorder that checks delivery (the only honest isolation check: Mosquitto grants every SUBSCRIBE),
 * and mosquitto_pub / mosquitto_sub as independent clients.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { startProcess, type StartedProcess } from '../../../../test/support/processes.js';
import { requireTool } from '../../../../test/support/tools.js';

export interface Endpoint {
  host: string;
  port: number;
  caPem: string;
}

export interface Identity {
  certPem: string;
  keyPem: string;
}

export interface ConnectOptions {
  clientId?: string;
  will?: IClientOptions['will'];
  keepalive?: number;
  timeoutMs?: number;
  reconnectPeriod?: number;
}

function options(ep: Endpoint, id: Identity, o: ConnectOptions): IClientOptions {
  return {
    host: ep.host,
    port: ep.port,
    protocol: 'mqtts',
    ca: ep.caPem,
    cert: id.certPem,
    key: id.keyPem,
    servername: 'localhost',
    protocolVersion: 4,
    clientId: o.clientId,
    clean: true,
    keepalive: o.keepalive ?? 30,
    reconnectPeriod: o.reconnectPeriod ?? 0,
    connectTimeout: o.timeoutMs ?? 5_000,
    will: o.will,
  };
}

/** Connects or rejects with the reason (TLS alert, close before CONNACK, CONNACK refusal). */
export function connect(ep: Endpoint, id: Identity, o: ConnectOptions = {}): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(options(ep, id, o));
    const timer = setTimeout(() => fail(new Error('no CONNACK within timeout')), (o.timeoutMs ?? 5_000) + 500);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      c.end(true);
      reject(err);
    };
    c.once('connect', () => {
      clearTimeout(timer);
      c.removeAllListeners('error');
      c.on('error', () => undefined);
      resolve(c);
    });
    c.once('error', fail);
    c.once('close', () => fail(new Error('connection closed before CONNACK')));
  });
}

/** Resolves with the failure message when the broker refuses the identity; rejects if it connects. */
export async function refused(ep: Endpoint, id: Identity, o: ConnectOptions = {}): Promise<string> {
  try {
    const c = await connect(ep, id, o);
    // A TLS 1.3 client learns of a rejected certificate only after its handshake: make sure the
    // session really works before calling it accepted.
    const ok = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(c.connected), 300);
      c.once('close', () => {
        clearTimeout(t);
        resolve(false);
      });
    });
    c.end(true);
    if (ok) throw new Error('broker accepted the connection');
    return 'closed right after CONNACK';
  } catch (err) {
    if ((err as Error).message === 'broker accepted the connection') throw err;
    // A broker that is not listening did not refuse anyone: that would make the test pass for nothing.
    if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') throw new Error(`nothing listens on ${ep.host}:${ep.port}: ${(err as Error).message}`);
    return (err as Error).message;
  }
}

export function end(c: MqttClient | undefined): Promise<void> {
  if (!c) return Promise.resolve();
  return new Promise((resolve) => c.end(true, {}, () => resolve()));
}

export interface Received {
  topic: string;
  payload: string;
  retain: boolean;
}

/** Records every message a client receives. */
export class Recorder {
  readonly messages: Received[] = [];
  private waiters = new Set<() => void>();

  constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      this.messages.push({ topic, payload: payload.toString('utf8'), retain: packet.retain });
      for (const w of this.waiters) w();
    });
  }

  /** Subscribes and returns the SUBACK codes (128 = refused; mqtt.js reports that as an error). */
  async subscribe(filter: string | string[]): Promise<number[]> {
    try {
      const granted = await this.client.subscribeAsync(filter, { qos: 1 });
      return granted.map((g) => g.qos);
    } catch (err) {
      const packet = (err as { packet?: { granted?: (number | { qos: number })[] } }).packet;
      if (!packet?.granted) throw err;
      return packet.granted.map((g) => (typeof g === 'number' ? g : g.qos));
    }
  }

  has(pred: (m: Received) => boolean): boolean {
    return this.messages.some(pred);
  }

  waitFor(pred: (m: Received) => boolean, timeoutMs = 5_000): Promise<Received> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const m = this.messages.find(pred);
        if (m) {
          clearTimeout(timer);
          this.waiters.delete(check);
          resolve(m);
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`expected message not received within ${timeoutMs} ms; got ${JSON.stringify(this.messages.slice(-5))}`));
      }, timeoutMs);
      if (!check()) this.waiters.add(check);
    });
  }
}

/** Writes PEM files for the mosquitto_* command-line clients. */
export function writeIdentityFiles(dir: string, name: string, ep: Endpoint, id: Identity): { ca: string; cert: string; key: string } {
  const files = { ca: path.join(dir, 'ca.crt'), cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  writeFileSync(files.ca, ep.caPem);
  writeFileSync(files.cert, id.certPem);
  writeFileSync(files.key, id.keyPem, { mode: 0o600 });
  return files;
}

function cliTls(ep: Endpoint, files: { ca: string; cert: string; key: string }): string[] {
  return ['-h', ep.host, '-p', String(ep.port), '--cafile', files.ca, '--cert', files.cert, '--key', files.key];
}

/** Runs mosquitto_pub once; resolves with its exit code and output. */
export async function mosquittoPub(
  ep: Endpoint,
  files: { ca: string; cert: string; key: string },
  args: string[],
): Promise<{ code: number | string; output: string }> {
  const bin = requireTool('mosquitto_pub', 'mosquitto-clients');
  const p = startProcess('mosquitto_pub', bin, [...cliTls(ep, files), ...args]);
  const code = await Promise.race([
    p.exited(),
    new Promise<string>((r) => setTimeout(() => r('timeout'), 10_000)),
  ]);
  if (code === 'timeout') await p.kill();
  return { code, output: p.output() };
}

/** Starts a long-running mosquitto_sub / mosquitto_pub; the caller stops it. */
export function mosquittoClient(
  tool: 'mosquitto_sub' | 'mosquitto_pub',
  ep: Endpoint,
  files: { ca: string; cert: string; key: string },
  args: string[],
): StartedProcess {
  const bin = requireTool(tool, 'mosquitto-clients');
  return startProcess(tool, bin, [...cliTls(ep, files), ...args]);
}
