/**
 * The broker rules of docs/broker.md, proven on a real Mosquitto (Debian) running the generated kit
 * and, with the same table, on the embedded aedes broker. Certificates come from a throwaway test
 * CA here; the server-level tests (revoke API, presence, renewal) are in server-*.test.ts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { topics } from '../../src/contract/index.js';
import { tempDir } from '../../../test/support/temp.js';
import { connect, end, mosquittoClient, mosquittoPub, Recorder, refused, writeIdentityFiles } from './support/clients.js';
import {
  MAC_A,
  MAC_B,
  MAC_C,
  MAC_D,
  MONITOR2_CN,
  MONITOR_CN,
  SERVER_CN,
  makePki,
  quiet,
  startHarness,
  type Harness,
  type Pki,
} from './support/harness.js';

let pki: Pki;
beforeAll(async () => {
  pki = await makePki();
});

describe.each(['mosquitto', 'embedded'] as const)('broker rules on %s', (kind) => {
  let h: Harness;
  let files: ReturnType<typeof tempDir>;
  const clients: MqttClient[] = [];
  const track = (c: MqttClient): MqttClient => {
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    h = await startHarness(kind, pki);
    files = tempDir('tds-clients-');
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => end(c)));
    await h?.stop();
    files?.remove();
  });

  it('a device connects and publishes; the monitor and the server receive it', async () => {
    const monitor = new Recorder(track(await connect(h.ep, pki.monitor, { clientId: MONITOR_CN })));
    const server = new Recorder(track(await connect(h.ep, pki.server, { clientId: SERVER_CN })));
    await monitor.subscribe([topics.telemetry('+'), topics.status('+')]);
    await server.subscribe('tds_new/devices/#');
    const a = track(await connect(h.ep, pki.a, { clientId: MAC_A }));
    const payload = JSON.stringify({ timestamp: Date.now(), valor: 21.5, unidade: 'C', gateway_mac: MAC_A });
    await a.publishAsync(topics.telemetry(MAC_A), payload, { qos: 1 });
    await monitor.waitFor((m) => m.topic === topics.telemetry(MAC_A) && m.payload === payload);
    await server.waitFor((m) => m.topic === topics.telemetry(MAC_A) && m.payload === payload);
  });

  it('independent clients: mosquitto_pub and mosquitto_sub with the issued files', async () => {
    const mon = writeIdentityFiles(files.path, 'monitor', h.ep, pki.monitor);
    const dev = writeIdentityFiles(files.path, 'device-b', h.ep, pki.b);
    const sub = mosquittoClient('mosquitto_sub', h.ep, mon, ['-i', MONITOR2_CN, '-t', topics.status('+'), '-v', '-q', '1']);
    try {
      // mosquitto_sub prints nothing on subscribe; give it a moment, then publish until seen.
      await quiet(300);
      const pub = await mosquittoPub(h.ep, dev, ['-i', MAC_B, '-t', topics.status(MAC_B), '-m', 'online', '-q', '1']);
      expect(pub.code, pub.output).toBe(0);
      await sub.waitForOutput(new RegExp(`${topics.status(MAC_B)} online`), 5_000);
      // Another CA's certificate is refused at the TLS layer.
      const rogue = writeIdentityFiles(files.path, 'rogue', h.ep, pki.rogueA);
      const bad = await mosquittoPub(h.ep, rogue, ['-i', MAC_A, '-t', topics.status(MAC_A), '-m', 'online']);
      expect(bad.code).not.toBe(0);
    } finally {
      await sub.stop();
    }
  });

  it("refuses another CA's certificate and an expired certificate", async () => {
    expect(await refused(h.ep, pki.rogueA, { clientId: MAC_A })).toBeTruthy();
    expect(await refused(h.ep, pki.expired, { clientId: MAC_D })).toBeTruthy();
    // and still accepts a valid one (the refusals are not a broken broker)
    await end(await connect(h.ep, pki.b, { clientId: MAC_B }));
  });

  it("device A cannot receive B's telemetry, status or commands (delivery, not SUBACK)", async () => {
    const spy = new Recorder(track(await connect(h.ep, pki.a, { clientId: MAC_A })));
    const granted = await spy.subscribe([topics.telemetry(MAC_B), topics.status(MAC_B), topics.commands(MAC_B), 'tds_new/devices/#']);
    // Mosquitto's acl_file grants every SUBSCRIBE and filters on delivery; aedes refuses up front.
    expect(granted).toEqual(kind === 'mosquitto' ? [1, 1, 1, 1] : [128, 128, 128, 128]);
    const b = new Recorder(track(await connect(h.ep, pki.b, { clientId: MAC_B })));
    await b.subscribe(topics.commands(MAC_B));
    const monitor = new Recorder(track(await connect(h.ep, pki.monitor, { clientId: MONITOR_CN })));
    await monitor.subscribe([topics.telemetry(MAC_B), topics.status(MAC_B)]);
    const server = track(await connect(h.ep, pki.server, { clientId: SERVER_CN }));

    await b.client.publishAsync(topics.telemetry(MAC_B), 'b-telemetry', { qos: 1 });
    await b.client.publishAsync(topics.status(MAC_B), 'online', { qos: 1, retain: true });
    await server.publishAsync(topics.commands(MAC_B), JSON.stringify({ cmd: 'ping', id: 'p1' }), { qos: 1 });
    // The messages were delivered to those allowed to read them...
    await monitor.waitFor((m) => m.payload === 'b-telemetry');
    await monitor.waitFor((m) => m.topic === topics.status(MAC_B));
    await b.waitFor((m) => m.topic === topics.commands(MAC_B));
    await quiet(300);
    // ...and never to A.
    expect(spy.messages.filter((m) => m.topic.includes(MAC_B))).toEqual([]);
  });

  it("device A cannot publish to B's topics", async () => {
    const monitor = new Recorder(track(await connect(h.ep, pki.monitor, { clientId: MONITOR_CN })));
    const server = new Recorder(track(await connect(h.ep, pki.server, { clientId: SERVER_CN })));
    await monitor.subscribe([topics.telemetry(MAC_B), topics.status(MAC_B)]);
    await server.subscribe('tds_new/devices/#');
    for (const t of [topics.telemetry(MAC_B), topics.status(MAC_B), topics.logs(MAC_B), topics.certCsr(MAC_B), topics.certAck(MAC_B)]) {
      // aedes closes the connection of a client that publishes where it may not: one client per try.
      const a = track(await connect(h.ep, pki.a, { clientId: MAC_A }));
      a.publish(t, 'forged-by-a', { qos: 0 });
      await quiet(100);
      await end(a);
    }
    // A device cannot send commands to another device either.
    const b = new Recorder(track(await connect(h.ep, pki.b, { clientId: MAC_B })));
    await b.subscribe(topics.commands(MAC_B));
    const a = track(await connect(h.ep, pki.a, { clientId: MAC_A }));
    a.publish(topics.commands(MAC_B), 'forged-command', { qos: 0 });
    // Marker published by B afterwards proves the broker had time to route A's messages.
    await b.client.publishAsync(topics.telemetry(MAC_B), 'marker', { qos: 1 });
    await server.waitFor((m) => m.payload === 'marker');
    await quiet(200);
    expect(monitor.messages.filter((m) => m.payload.startsWith('forged'))).toEqual([]);
    expect(server.messages.filter((m) => m.payload.startsWith('forged'))).toEqual([]);
    expect(b.messages.filter((m) => m.payload.startsWith('forged'))).toEqual([]);
  });

  it("device A cannot take B's client id (B stays connected, no Last Will for B)", async () => {
    const monitor = new Recorder(track(await connect(h.ep, pki.monitor, { clientId: MONITOR_CN })));
    await monitor.subscribe(topics.status(MAC_B));
    const b = track(
      await connect(h.ep, pki.b, { clientId: MAC_B, will: { topic: topics.status(MAC_B), payload: Buffer.from('offline'), qos: 1, retain: true } }),
    );
    let bClosed = false;
    b.on('close', () => {
      bClosed = true;
    });
    await b.publishAsync(topics.status(MAC_B), 'online', { qos: 1, retain: true });
    const a = track(await connect(h.ep, pki.a, { clientId: MAC_B }));
    // A's session is A's own identity: it may publish its own topics, and B is untouched.
    await a.publishAsync(topics.status(MAC_A), 'online', { qos: 1, retain: true });
    await quiet(500);
    expect(bClosed).toBe(false);
    expect(b.connected).toBe(true);
    expect(monitor.messages.filter((m) => m.topic === topics.status(MAC_B) && m.payload === 'offline')).toEqual([]);
    await end(a);
    await end(b);
  });

  it('the monitor reads every status but cannot send commands; the server identity can', async () => {
    const a = track(await connect(h.ep, pki.a, { clientId: MAC_A }));
    const b = new Recorder(track(await connect(h.ep, pki.b, { clientId: MAC_B })));
    await b.subscribe(topics.commands(MAC_B));
    await a.publishAsync(topics.status(MAC_A), 'online', { qos: 1, retain: true });
    await b.client.publishAsync(topics.status(MAC_B), 'online', { qos: 1, retain: true });
    const monitor = new Recorder(track(await connect(h.ep, pki.monitor2, { clientId: MONITOR2_CN })));
    await monitor.subscribe(topics.status('+'));
    await monitor.waitFor((m) => m.topic === topics.status(MAC_A) && m.payload === 'online');
    await monitor.waitFor((m) => m.topic === topics.status(MAC_B) && m.payload === 'online');

    monitor.client.publish(topics.commands(MAC_B), 'from-monitor', { qos: 0 });
    const server = track(await connect(h.ep, pki.server, { clientId: SERVER_CN }));
    await server.publishAsync(topics.commands(MAC_B), JSON.stringify({ cmd: 'reboot', id: 'r1' }), { qos: 1 });
    await b.waitFor((m) => m.payload.includes('"r1"'));
    await quiet(200);
    expect(b.messages.some((m) => m.payload === 'from-monitor')).toBe(false);
  });

  it('a revoked device is refused within 5 s and a connected one is cut off', async () => {
    const monitor = new Recorder(track(await connect(h.ep, pki.monitor, { clientId: MONITOR_CN })));
    await monitor.subscribe(topics.telemetry(MAC_C));
    const c = track(await connect(h.ep, pki.c, { clientId: MAC_C }));
    await c.publishAsync(topics.telemetry(MAC_C), 'before', { qos: 1 });
    await monitor.waitFor((m) => m.payload === 'before');

    const t0 = Date.now();
    const reloadsBefore = h.reloads();
    h.state.revoked.set(pki.c.serial, MAC_C);
    await h.publisher.publish();
    await h.waitForReload(reloadsBefore);
    // The connection opened before the revocation no longer gets anything through (checked before
    // any new connection with C's client id could replace it).
    c.publish(topics.telemetry(MAC_C), 'after', { qos: 0 });
    await quiet(500);
    expect(monitor.messages.some((m) => m.payload === 'after')).toBe(false);
    // New connections with the revoked certificate are refused.
    expect(await refused(h.ep, pki.c, { clientId: MAC_C, timeoutMs: 1_000 })).toBeTruthy();
    expect(Date.now() - t0).toBeLessThan(5_000);
    // Other devices are unaffected.
    await end(await connect(h.ep, pki.a, { clientId: MAC_A }));
  });

  it.runIf(kind === 'mosquitto')("a kit with the seed's `pattern read #` leaks other devices' data (why it is not used)", async () => {
    const aclPath = path.join(h.kitDir!, 'acl.conf');
    const strict = readFileSync(aclPath, 'utf8');
    expect(strict).not.toMatch(/^pattern read #$/m);
    const leaks = async (): Promise<boolean> => {
      const spy = new Recorder(track(await connect(h.ep, pki.b, { clientId: MAC_B })));
      await spy.subscribe([topics.telemetry(MAC_A), topics.commands(MAC_A)]);
      const a = track(await connect(h.ep, pki.a, { clientId: MAC_A }));
      const server = track(await connect(h.ep, pki.server, { clientId: SERVER_CN }));
      await a.publishAsync(topics.telemetry(MAC_A), 'a-secret', { qos: 1 });
      await server.publishAsync(topics.commands(MAC_A), 'a-command', { qos: 1 });
      await quiet(400);
      const leaked = spy.messages.some((m) => m.payload === 'a-secret' || m.payload === 'a-command');
      await Promise.all([end(spy.client), end(a), end(server)]);
      return leaked;
    };
    expect(await leaks()).toBe(false);
    writeFileSync(aclPath, `pattern read $SYS/#\npattern read #\n${strict}`);
    await h.mosquitto!.reload();
    try {
      expect(await leaks()).toBe(true);
    } finally {
      writeFileSync(aclPath, strict);
      await h.mosquitto!.reload();
    }
    expect(await leaks()).toBe(false);
  });
});
