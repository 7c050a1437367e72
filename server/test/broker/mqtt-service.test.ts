/**
 * The server's MQTT client (MqttService) against real brokers — Mosquitto running the kit and the
 * embedded broker, same table: presence from status + Last Will + freshness timeout, telemetry
 * stored in batches, and recovery after a broker restart. Devices are independent processes
 * (mosquitto_pub) where the test needs to kill or freeze them, mqtt.js clients otherwise.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { topics } from '../../src/contract/index.js';
import type { PresenceUpdate } from '../../src/mqtt/presence.js';
import { MqttService } from '../../src/mqtt/service.js';
import type { TelemetryRow } from '../../src/mqtt/telemetry.js';
import { tempDir } from '../../../test/support/temp.js';
import { end, mosquittoClient, writeIdentityFiles } from './support/clients.js';
import { MAC_A, MAC_B, SERVER_CN, makePki, quiet, startHarness, type BrokerKind, type Harness, type Pki } from './support/harness.js';

const FRESHNESS_MS = 3_000;

let pki: Pki;
beforeAll(async () => {
  pki = await makePki();
});

describe.each(['mosquitto', 'embedded'] as const)('server MQTT client on %s', (kind: BrokerKind) => {
  let h: Harness;
  let svc: MqttService;
  let files: ReturnType<typeof tempDir>;
  const stored: TelemetryRow[] = [];
  const changes: (PresenceUpdate & { at: number })[] = [];

  const startService = (): MqttService => {
    const s = new MqttService({
      connection: {
        host: h.ep.host,
        port: h.ep.port,
        servername: 'localhost',
        caPem: pki.ca.certPem,
        certPem: pki.server.certPem,
        keyPem: pki.server.keyPem,
        clientId: SERVER_CN,
        backoff: { initialMs: 100, maxMs: 1_000 },
      },
      presence: { freshnessMs: FRESHNESS_MS },
      telemetry: {
        retentionDays: 30,
        flushEveryMs: 20,
        sink: {
          insertTelemetry: (rows) => stored.push(...rows),
          deleteTelemetryBefore: () => 0,
        },
      },
    });
    s.presence.on('change', (u) => changes.push({ ...u, at: Date.now() }));
    s.start();
    return s;
  };

  const waitPresence = async (mac: string, online: boolean, after: number, timeoutMs = 8_000): Promise<number> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const c = changes.find((x) => x.mac === mac && x.isOnline === online && x.at >= after);
      if (c) return c.at;
      if (Date.now() > deadline) throw new Error(`${mac} did not become ${online ? 'online' : 'offline'}; changes: ${JSON.stringify(changes.slice(-6))}`);
      await quiet(20);
    }
  };

  beforeAll(async () => {
    h = await startHarness(kind, pki);
    files = tempDir('tds-svc-');
    svc = startService();
    await new Promise<void>((resolve) => svc.client.once('connected', () => resolve()));
  });
  afterAll(async () => {
    await svc?.stop();
    await h?.stop();
    files?.remove();
  });

  const deviceProcess = (mac: string, identity: typeof pki.a, keepalive: number) => {
    const f = writeIdentityFiles(files.path, mac.replace(/:/g, ''), h.ep, identity);
    // mosquitto_pub -l: one long-lived connection; every stdin line is published (retained) to status.
    return mosquittoClient('mosquitto_pub', h.ep, f, [
      '-i', mac, '-t', topics.status(mac), '-r', '-q', '1', '-l', '-k', String(keepalive),
      '--will-topic', topics.status(mac), '--will-payload', 'offline', '--will-qos', '1', '--will-retain',
    ]);
  };

  it('connect → online; killed device process → offline through the Last Will (well before the freshness timeout)', async () => {
    const t0 = Date.now();
    const dev = deviceProcess(MAC_A, pki.a, 30);
    try {
      dev.child.stdin!.write('online\n');
      await waitPresence(MAC_A, true, t0);
      // keep evidence fresh so only the Last Will can explain an offline
      for (let i = 0; i < 3; i++) {
        dev.child.stdin!.write('online\n');
        await quiet(300);
      }
      const killedAt = Date.now();
      await dev.kill();
      const offAt = await waitPresence(MAC_A, false, killedAt);
      expect(offAt - killedAt).toBeLessThan(FRESHNESS_MS - 1_000);
    } finally {
      await dev.stop();
    }
  });

  it('graceful disconnect (publish offline, then leave) → offline', async () => {
    const t0 = Date.now();
    const dev = deviceProcess(MAC_B, pki.b, 30);
    try {
      dev.child.stdin!.write('online\n');
      await waitPresence(MAC_B, true, t0);
      const leaveAt = Date.now();
      dev.child.stdin!.end('offline\n');
      expect(await dev.exited()).toBe(0);
      const offAt = await waitPresence(MAC_B, false, leaveAt);
      expect(offAt - leaveAt).toBeLessThan(FRESHNESS_MS - 1_000);
    } finally {
      await dev.stop();
    }
  });

  it('frozen device (SIGSTOP, long keepalive) → offline after the freshness timeout', async () => {
    const t0 = Date.now();
    const dev = deviceProcess(MAC_A, pki.a, 120);
    try {
      dev.child.stdin!.write('online\n');
      await waitPresence(MAC_A, true, t0);
      const frozenAt = Date.now();
      process.kill(dev.pid, 'SIGSTOP');
      const offAt = await waitPresence(MAC_A, false, frozenAt);
      // The broker would need 1.5 × 120 s to notice; the freshness timeout decided.
      expect(offAt - frozenAt).toBeGreaterThanOrEqual(FRESHNESS_MS - 500);
      expect(offAt - frozenAt).toBeLessThan(FRESHNESS_MS + 2_500);
    } finally {
      process.kill(dev.pid, 'SIGCONT');
      await dev.stop();
    }
  });

  it('stores telemetry, keeps firmware_version, ignores readings that claim another gateway', async () => {
    const dev = await mqtt.connectAsync({
      host: h.ep.host, port: h.ep.port, protocol: 'mqtts', ca: pki.ca.certPem, cert: pki.a.certPem, key: pki.a.keyPem,
      servername: 'localhost', clientId: MAC_A, protocolVersion: 4, reconnectPeriod: 0,
    });
    try {
      const before = stored.length;
      for (let i = 0; i < 20; i++) {
        await dev.publishAsync(topics.telemetry(MAC_A), JSON.stringify({ timestamp: Date.now(), valor: i, unidade: 'V', gateway_mac: MAC_A, firmware_version: '1.4.2', slave_id: 1, register: 7 }), { qos: 1 });
      }
      await dev.publishAsync(topics.telemetry(MAC_A), JSON.stringify({ timestamp: Date.now(), valor: 99, unidade: 'V', gateway_mac: MAC_B }), { qos: 1 });
      const deadline = Date.now() + 5_000;
      while (stored.length < before + 20 && Date.now() < deadline) await quiet(20);
      await quiet(100);
      const mine = stored.slice(before);
      expect(mine.map((r) => r.valor)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      expect(mine.every((r) => r.mac === MAC_A && r.slaveId === 1 && r.register === 7)).toBe(true);
      expect(svc.presence.snapshot(MAC_A)).toMatchObject({ isOnline: true, firmwareVersion: '1.4.2' });
      expect(svc.telemetry.rejected).toBeGreaterThanOrEqual(1);
    } finally {
      await end(dev);
    }
  });

  it('broker restart → the server reconnects with backoff and the state is rebuilt', async () => {
    // A device with its own reconnect loop that announces itself on every connect.
    const dev: MqttClient = mqtt.connect({
      host: h.ep.host, port: h.ep.port, protocol: 'mqtts', ca: pki.ca.certPem, cert: pki.b.certPem, key: pki.b.keyPem,
      servername: 'localhost', clientId: MAC_B, protocolVersion: 4, reconnectPeriod: 300, keepalive: 5,
      will: { topic: topics.status(MAC_B), payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    dev.on('error', () => undefined);
    dev.on('connect', () => dev.publish(topics.status(MAC_B), 'online', { qos: 1, retain: true }));
    const heartbeat = setInterval(() => {
      if (dev.connected) dev.publish(topics.status(MAC_B), 'online', { qos: 1, retain: true });
    }, 500);
    try {
      const t0 = Date.now();
      await waitPresence(MAC_B, true, t0);
      const port = h.ep.port;
      const downAt = Date.now();
      await h.stop();
      // Mosquitto sends the wills when it stops; otherwise nothing proves B alive and the freshness
      // timeout takes it offline.
      await waitPresence(MAC_B, false, downAt, FRESHNESS_MS + 3_000);
      for (let i = 0; svc.client.connected && i < 100; i++) await quiet(30);
      expect(svc.client.connected).toBe(false);
      h = await startHarness(kind, pki, { port });
      const upAt = Date.now();
      await new Promise<void>((resolve) => (svc.client.connected ? resolve() : svc.client.once('connected', () => resolve())));
      await waitPresence(MAC_B, true, upAt, 10_000);
    } finally {
      clearInterval(heartbeat);
      await end(dev);
    }
  });
});
