/**
 * The Pi gateway agent (firmware/rpi, Debian's python3-paho-mqtt / pymodbus / pyserial) against the
 * real back end: the issuance server, Debian's Mosquitto running the server's broker kit, and the
 * server's MQTT client (renewal). Modbus RTU readings come from a pymodbus slave on a socat pty pair.
 *
 * TDS_PAHO_PATH=<dir with a paho package> runs the same tests with another paho-mqtt (e.g. 2.x).
 */
import { copyFileSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '@tds/server/contract';
import { startBackend, type Backend } from '../support/backend.js';
import type { StartedProcess } from '../support/processes.js';
import { tempDir } from '../support/temp.js';
import { requireTool } from '../support/tools.js';
import { startTcpRelay, type TcpRelay } from '../pi/helpers.js';
import { certSerial, provisionDevice, Recorder, startAgent, startModbusSlave, type ModbusSlave, type Received } from './support.js';

const MAC = 'dc:a6:32:7e:00:01';
const REGISTER = 100;
const pahoEnv: Record<string, string> = process.env.TDS_PAHO_PATH ? { PYTHONPATH: process.env.TDS_PAHO_PATH } : {};

let backend: Backend;
let work: { path: string; remove(): void };
let certsDir: string;
let stateDir: string;
let configFile: string;
let rebootMarker: string;
let modbus: ModbusSlave;
let server: Recorder;
let agent: StartedProcess | undefined;
let gatewayId: number;
/** The agent reaches the broker through this relay, so the test can take the broker away from it. */
let relay: TcpRelay;

const isStatus = (value: string, after = 0) => (m: Received) => m.topic === topics.status(MAC) && m.payload === value && !m.retain && m.at >= after;
const telemetry = (after = 0): Array<Record<string, unknown> & { valor: number }> =>
  server.messages.filter((m) => m.topic === topics.telemetry(MAC) && m.at >= after).map((m) => JSON.parse(m.payload) as Record<string, unknown> & { valor: number });

async function runAgent(): Promise<StartedProcess> {
  const since = Date.now();
  agent = startAgent(configFile, pahoEnv);
  await server.waitFor(isStatus('online', since), 20_000, 'status online');
  return agent;
}

beforeAll(async () => {
  requireTool('mosquitto', 'mosquitto');
  work = tempDir('tds-agent-');
  certsDir = path.join(work.path, 'certs');
  stateDir = path.join(work.path, 'state');
  rebootMarker = path.join(work.path, 'rebooted');
  backend = await startBackend({ broker: 'mosquitto', serverIdentity: true });
  const res = await provisionDevice(backend, certsDir, MAC);
  gatewayId = res.gateway_id;
  modbus = await startModbusSlave(work.path, { slaveId: 7, register: REGISTER, start: 200 });
  relay = await startTcpRelay(backend.broker.port, backend.broker.host);
  configFile = path.join(work.path, 'config.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      mqtt: { host: backend.broker.host, port: relay.port, keepalive: 5, reconnect_min_s: 1, reconnect_max_s: 2 },
      paths: { certs_dir: certsDir, state_dir: stateDir },
      firmware_version: 'agent-test-1',
      modbus: { port: modbus.port, baudrate: 9600, timeout_s: 0.5, slaves: [{ slave: 7, register: REGISTER, scale: 0.1, unit: '°C', interval: 0.4 }] },
      commands: { reboot: ['sh', '-c', `echo reboot-requested > ${rebootMarker}`] },
      renewal: { renew_before_days: 0 },
    }),
  );
  server = await Recorder.connect(backend, backend.serverIdentity!, ['tds_new/devices/#']);
});

afterAll(async () => {
  await agent?.stop();
  await server?.close();
  await modbus?.stop();
  await relay?.close();
  await backend?.stop();
  work?.remove();
});

describe('Pi agent on Mosquitto with the broker kit', () => {
  it('connects with the identity of its certificate CN and publishes Modbus readings in the seed payload', async () => {
    await runAgent();
    const since = Date.now();
    await server.waitFor((m) => m.topic === topics.telemetry(MAC) && m.at >= since, 10_000, 'telemetry');
    const t = telemetry(since)[0]!;
    expect(Object.keys(t).sort()).toEqual(['firmware_version', 'gateway_mac', 'register', 'slave_id', 'timestamp', 'unidade', 'valor']);
    expect(t).toMatchObject({ gateway_mac: MAC, unidade: '°C', slave_id: 7, register: REGISTER, firmware_version: 'agent-test-1' });
    expect(Date.parse(t.timestamp as string)).toBeGreaterThan(since - 5_000);
    // The slave counts 200, 201, ... per read; scale 0.1.
    const raw = Math.round(t.valor * 10);
    expect(raw).toBeGreaterThanOrEqual(200);
    expect(modbus.slave.output()).toContain(`READ ${raw}`);
    // Retained status: a new subscriber learns "online" at once.
    const late = await Recorder.connect(backend, backend.monitor, [topics.status(MAC)]);
    try {
      const m = await late.waitFor((x) => x.topic === topics.status(MAC), 5_000, 'retained status');
      expect(m).toMatchObject({ payload: 'online', retain: true });
    } finally {
      await late.close();
    }
  });

  it('answers ping, runs the configured reboot command, and ignores a retained command', async () => {
    const since = Date.now();
    await server.publish(topics.commands(MAC), JSON.stringify({ cmd: 'ping', id: 'ping-1' }));
    const pong = await server.waitFor((m) => m.topic === topics.logs(MAC) && m.payload.includes('"ping-1"'), 5_000, 'pong');
    // Same `logs` shape as the ESP32 firmware: {event, id, ...}.
    expect(JSON.parse(pong.payload)).toMatchObject({ event: 'pong', id: 'ping-1', firmware_version: 'agent-test-1', cert_serial: certSerial(path.join(certsDir, 'client.crt')).toUpperCase() });
    await server.publish(topics.commands(MAC), JSON.stringify({ cmd: 'reboot', id: 'reboot-1' }));
    const rebooting = await server.waitFor((m) => m.topic === topics.logs(MAC) && m.payload.includes('"reboot-1"'), 5_000, 'reboot ack');
    expect(JSON.parse(rebooting.payload)).toMatchObject({ event: 'rebooting', id: 'reboot-1' });
    for (let i = 0; i < 50 && !existsSync(rebootMarker); i++) await new Promise((r) => setTimeout(r, 100));
    expect(readFileSync(rebootMarker, 'utf8').trim()).toBe('reboot-requested');
    // A retained command is delivered live once (MQTT clears the flag for existing subscribers), but
    // must not run again when the agent subscribes anew: a retained reboot would loop forever.
    await server.publish(topics.commands(MAC), JSON.stringify({ cmd: 'ping', id: 'retained-1' }), true);
    await server.waitFor((m) => m.topic === topics.logs(MAC) && m.payload.includes('"retained-1"'), 5_000, 'live result of the retained ping');
    await agent!.stop();
    const restarted = Date.now();
    await runAgent();
    await server.publish(topics.commands(MAC), JSON.stringify({ cmd: 'ping', id: 'after-restart' }));
    await server.waitFor((m) => m.topic === topics.logs(MAC) && m.payload.includes('"after-restart"'), 5_000, 'pong after the restart');
    await server.publish(topics.commands(MAC), '', true); // clear the retained message
    expect(server.messages.some((m) => m.topic === topics.logs(MAC) && m.payload.includes('"retained-1"') && m.at >= restarted)).toBe(false);
    expect(since).toBeLessThan(restarted);
    expect(agent!.output()).toMatch(/ignoring a retained command/);
  });

  it('publishes offline before a clean stop (SIGTERM) and the broker publishes its Last Will on a kill', async () => {
    let since = Date.now();
    await agent!.stop();
    await server.waitFor(isStatus('offline', since), 5_000, 'offline after SIGTERM');
    expect(agent!.output()).toMatch(/stopping: publishing offline/);
    await runAgent();
    since = Date.now();
    await agent!.kill(); // SIGKILL: no chance to say goodbye
    const will = await server.waitFor(isStatus('offline', since), 10_000, 'Last Will');
    expect(will.at - since).toBeLessThan(8_000);
    await runAgent();
  });

  it('keeps readings on disk while the broker is unreachable and delivers them in order when it is back', async () => {
    const before = telemetry().length;
    await server.waitFor(() => telemetry().length >= before + 2, 10_000, 'telemetry before the outage');
    const readsBefore = (modbus.slave.output().match(/READ \d+/g) ?? []).length;
    const downAt = Date.now();
    relay.cut(); // the Pi loses the broker (network or broker down); the recorder stays connected
    await new Promise((r) => setTimeout(r, 3_000)); // ~7 readings at 0.4 s
    const readsDuringOutage = (modbus.slave.output().match(/READ \d+/g) ?? []).length - readsBefore;
    expect(telemetry(downAt + 500).length).toBe(0);
    relay.resume();
    const upAt = Date.now();
    await server.waitFor((m) => m.topic === topics.telemetry(MAC) && m.at >= upAt && Date.parse((JSON.parse(m.payload) as { timestamp: string }).timestamp) > upAt, 20_000, 'fresh telemetry after the outage');
    const buffered = telemetry(upAt).filter((t) => {
      const ts = Date.parse(t.timestamp as string);
      return ts > downAt && ts < upAt;
    });
    expect(readsDuringOutage).toBeGreaterThanOrEqual(5);
    expect(buffered.length, `${JSON.stringify(telemetry(downAt - 2000).map((t) => [t.timestamp, t.valor]))}\n${agent!.output().slice(-2500)}`).toBeGreaterThanOrEqual(readsDuringOutage - 1);
    // Every reading the slave served arrived, in the order it was read: the raw counter has no gaps.
    // QoS 1 is at least once: a message in flight at the cut may come again (paho resends it), but a
    // repeat is always of a value already seen, and every new value is the next one.
    const raws = telemetry()
      .filter((t) => Date.parse(t.timestamp as string) >= downAt - 1_000)
      .map((t) => Math.round(t.valor * 10));
    const seen = new Set<number>([raws[0]!]);
    let max = raws[0]!;
    for (const v of raws.slice(1)) {
      if (v <= max) expect(seen.has(v), raws.join(',')).toBe(true);
      else expect(v, raws.join(',')).toBe(max + 1);
      seen.add(v);
      max = Math.max(max, v);
    }
    expect(agent!.output()).toMatch(/cannot connect to|disconnected from the broker/);
  });

  it('renews its certificate end to end: key and CSR on the device, cert_update, reconnect, ack, old certificate revoked', async () => {
    const oldSerial = certSerial(path.join(certsDir, 'client.crt'));
    const oldKey = readFileSync(path.join(certsDir, 'client.key'), 'utf8');
    copyFileSync(path.join(certsDir, 'client.crt'), path.join(work.path, 'old.crt'));
    writeFileSync(path.join(work.path, 'old.key'), oldKey, { mode: 0o600 });
    const since = Date.now();
    const client = backend.server.client('operator');
    const requested = (await client.renew(gatewayId, { ask_device: true })) as unknown as { status: string; command_id: string };
    expect(requested.status).toBe('requested');
    const csr = await server.waitFor((m) => m.topic === topics.certCsr(MAC) && m.at >= since, 10_000, 'CSR from the device');
    expect(JSON.parse(csr.payload)).toMatchObject({ id: requested.command_id });
    const ack = await server.waitFor((m) => m.topic === topics.certAck(MAC) && m.at >= since, 20_000, 'ack with the new serial');
    const newSerial = (JSON.parse(ack.payload) as { serial_number: string }).serial_number.replace(/:/g, '').toLowerCase();
    expect(newSerial).not.toBe(oldSerial);
    expect(certSerial(path.join(certsDir, 'client.crt')).replace(/^0+/, '')).toBe(newSerial.replace(/^0+/, ''));
    expect(readFileSync(path.join(certsDir, 'client.key'), 'utf8')).not.toBe(oldKey);
    expect(statSync(path.join(certsDir, 'client.key')).mode & 0o777).toBe(0o600);
    expect(existsSync(path.join(certsDir, 'client.key.prev'))).toBe(false);
    // The server made the new certificate active and revoked the old one (superseded).
    let detail = await client.getGateway(gatewayId);
    for (let i = 0; i < 40 && detail.active_certificate?.serial_number.replace(/:/g, '').toLowerCase() !== newSerial; i++) {
      await new Promise((r) => setTimeout(r, 250));
      detail = await client.getGateway(gatewayId);
    }
    expect(detail.active_certificate?.serial_number.replace(/:/g, '').toLowerCase()).toBe(newSerial);
    const old = detail.certificados.find((c) => c.serial_number.replace(/:/g, '').toLowerCase() === oldSerial);
    expect(old?.is_revoked).toBe(true);
    // Still online with the new certificate: telemetry keeps flowing after the ack.
    await server.waitFor((m) => m.topic === topics.telemetry(MAC) && m.at > ack.at, 10_000, 'telemetry after renewal');
    expect(agent!.output()).toMatch(/cert_update_installed .*new certificate \S+ in use/);
    expect(server.messages.some((m) => m.topic === topics.logs(MAC) && m.payload.includes('"cert_update_installed"'))).toBe(true);
  });
});
