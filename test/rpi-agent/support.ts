/**
 * Support for the Pi agent tests: a device identity made like on a Pi (openssl key + CSR, certificate
 * from the real server), a Modbus RTU slave (Debian's pymodbus) on a socat pseudo-terminal pair, the
 * agent itself as a process, and an MQTT recorder.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import type { ProvisionResponse } from '@tds/server/contract';
import type { Backend, MqttIdentityFiles } from '../support/backend.js';
import { startProcess, type StartedProcess } from '../support/processes.js';
import { requireTool } from '../support/tools.js';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const AGENT = path.join(ROOT, 'firmware/rpi/mqtt_client.py');
export const PYTHON = '/usr/bin/python3';

/** Key + CSR with openssl in `certsDir` (as on the Pi), certificate from the server's REST API. */
export async function provisionDevice(backend: Backend, certsDir: string, mac: string): Promise<ProvisionResponse> {
  const openssl = requireTool('openssl', 'openssl');
  mkdirSync(certsDir, { recursive: true, mode: 0o700 });
  const key = path.join(certsDir, 'client.key');
  execFileSync(openssl, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key], { stdio: 'pipe' });
  chmodSync(key, 0o600);
  const csr = execFileSync(openssl, ['req', '-new', '-sha256', '-key', key, '-subj', `/CN=${mac}`], { encoding: 'utf8' });
  const res = await backend.server.client('operator').provision({
    mac_address: mac,
    codigo: `GW-${mac.replace(/:/g, '')}`,
    nome: `agent test ${mac.replace(/:/g, '')}`,
    conta_id: backend.server.contaId,
    csr_pem: csr,
  });
  writeFileSync(path.join(certsDir, 'client.crt'), res.certificate_pem, { mode: 0o644 });
  writeFileSync(path.join(certsDir, 'ca.crt'), res.ca_pem, { mode: 0o644 });
  return res;
}

export function certSerial(file: string): string {
  return execFileSync('openssl', ['x509', '-noout', '-serial', '-in', file], { encoding: 'utf8' }).trim().replace(/^serial=/, '').toLowerCase();
}

export interface ModbusSlave {
  /** The pty end the agent opens. */
  port: string;
  socat: StartedProcess;
  slave: StartedProcess;
  stop(): Promise<void>;
}

/** socat pty pair; the pymodbus slave serves `register` of `slaveId` on one end, counting up per read. */
export async function startModbusSlave(dir: string, o: { slaveId: number; register: number; start: number }): Promise<ModbusSlave> {
  const socatBin = requireTool('socat', 'socat');
  const a = path.join(dir, 'ttyAgent');
  const b = path.join(dir, 'ttySlave');
  const socat = startProcess('socat', socatBin, ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`]);
  const deadline = Date.now() + 5_000;
  while (!(existsSync(a) && existsSync(b))) {
    if (Date.now() > deadline) throw new Error(`socat made no pty pair:\n${socat.output()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const slave = startProcess(
    'modbus-slave',
    PYTHON,
    [path.join(import.meta.dirname, 'modbus_slave.py'), '--port', b, '--slave', String(o.slaveId), '--register', String(o.register), '--start', String(o.start)],
    { env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } },
  );
  await slave.waitForOutput(/^READY$/m, 15_000);
  return {
    port: a,
    socat,
    slave,
    async stop() {
      await slave.stop();
      await socat.stop();
    },
  };
}

export function startAgent(configFile: string, env: Record<string, string> = {}): StartedProcess {
  return startProcess('gateway-agent', PYTHON, [AGENT, '--config', configFile], {
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', ...env },
  });
}

export interface Received {
  topic: string;
  payload: string;
  retain: boolean;
  at: number;
}

/** An mqtt.js client with a service identity that records what it receives. */
export class Recorder {
  readonly messages: Received[] = [];
  private readonly waiters = new Set<() => void>();

  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      this.messages.push({ topic, payload: payload.toString('utf8'), retain: packet.retain, at: Date.now() });
      for (const w of this.waiters) w();
    });
  }

  static async connect(backend: Backend, id: MqttIdentityFiles, filters: string[]): Promise<Recorder> {
    const client = mqtt.connect({
      protocol: 'mqtts',
      host: backend.broker.host,
      port: backend.broker.port,
      servername: backend.broker.servername,
      ca: id.caPem,
      cert: id.certPem,
      key: id.keyPem,
      clientId: id.clientId,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 300,
      connectTimeout: 5_000,
    });
    client.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('recorder: no CONNACK')), 8_000);
      client.once('connect', () => {
        clearTimeout(t);
        resolve();
      });
    });
    // Re-subscribe after a broker restart (clean session).
    client.on('connect', () => void client.subscribeAsync(filters, { qos: 1 }).catch(() => undefined));
    await client.subscribeAsync(filters, { qos: 1 });
    return new Recorder(client);
  }

  waitFor(pred: (m: Received) => boolean, timeoutMs = 10_000, what = 'a message'): Promise<Received> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const m = this.messages.find(pred);
        if (!m) return false;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(m);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}; got:\n${this.messages.slice(-15).map((m) => `${m.topic} ${m.payload.slice(0, 160)}`).join('\n')}`));
      }, timeoutMs);
      if (!check()) this.waiters.add(check);
    });
  }

  async publish(topic: string, payload: string, retain = false): Promise<void> {
    await this.client.publishAsync(topic, payload, { qos: 1, retain });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.client.end(true, {}, () => resolve()));
  }
}
