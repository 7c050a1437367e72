/**
 * Broker-side benchmark. Prints its figures; not a test.
 *   npx tsx server/bench/broker.ts [--broker mosquitto|embedded] [--devices 200] [--concurrency 10] [--silences 40]
 *
 * Set-up: `tds-server init` + `broker-kit` (compiled CLI), Debian's Mosquitto running the kit (or the
 * embedded broker), the server in this process (startServer) with its MQTT client, devices in a
 * separate process (bench/broker-devices.ts).
 * 1. connect → online: per device, from just before its TCP connect to the server's presence
 *    tracker reporting it online (device publishes retained `online` on connect). p50/p95/max.
 * 2. revoke → refusal: revoke a connected device through the issuance core (what the API calls),
 *    then retry a new connection with its certificate every 20 ms until refused. p50/max.
 * 2b. revoke → live session silenced: a device connected (in this process) when its certificate is
 *    revoked; time from the revoke call to the broker closing that session (after which nothing it
 *    sends or is sent reaches anyone), and how long the revoke call itself took (it answers only
 *    once the session is cut). p50/p95/max.
 * 3. telemetry ingest: devices publish seed telemetry (QoS 1) as fast as they can; rate = rows
 *    stored in SQLite / time from the first publish to the last row stored.
 */
import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { startServer, type RunningServer } from '../src/api/start.js';
import type { Actor } from '../src/service/issuance.js';
import { startMosquitto, type RunningMosquitto } from '../../test/support/mosquitto.js';
import { freePort } from '../../test/support/ports.js';
import { startProcess } from '../../test/support/processes.js';
import { tempDir } from '../../test/support/temp.js';
import { silentLogger } from '../src/util/logger.js';

const { values: args } = parseArgs({
  options: {
    broker: { type: 'string', default: 'mosquitto' },
    devices: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '10' },
    revokes: { type: 'string', default: '10' },
    silences: { type: 'string', default: '40' },
    'telemetry-devices': { type: 'string', default: '20' },
    messages: { type: 'string', default: '2500' },
  },
});
const kind = args.broker === 'embedded' ? 'embedded' : 'mosquitto';
const N = Number(args.devices);
const ROOT = path.resolve(import.meta.dirname, '../..');
const CLI = path.join(ROOT, 'server/dist/cli/tds-server.js');
const PASSPHRASE = 'bench-passphrase-not-secret';

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const cli = (dataDir: string, a: string[]): string =>
  execFileSync(process.execPath, [CLI, ...a, '--data', dataDir, '--json'], { env: { ...process.env, TDS_CA_PASSPHRASE: PASSPHRASE }, encoding: 'utf8' });

function mac(i: number): string {
  const h = (0x020000000000 + i).toString(16).padStart(12, '0');
  return h.match(/../g)!.join(':');
}

async function refusedOnce(server: RunningServer, port: number, certPem: string, keyPem: string, clientId: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = mqtt.connect({ host: '127.0.0.1', port, protocol: 'mqtts', ca: server.caPem, cert: certPem, key: keyPem, servername: 'localhost', clientId, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 2_000 });
    const done = (refused: boolean): void => {
      c.end(true);
      resolve(refused);
    };
    c.once('connect', () => setTimeout(() => done(!c.connected), 50));
    c.once('error', () => done(true));
    c.once('close', () => done(true));
  });
}

async function main(): Promise<void> {
  const tmp = tempDir('tds-bench-broker-');
  const dataDir = path.join(tmp.path, 'data');
  const kitDir = path.join(tmp.path, 'kit');
  const pidFile = path.join(tmp.path, 'mosquitto.pid');
  const port = await freePort();
  let mosquitto: RunningMosquitto | undefined;
  let server: RunningServer | undefined;
  const swarm: ReturnType<typeof startProcess>[] = [];
  try {
    cli(dataDir, ['init']);
    const account = JSON.parse(cli(dataDir, ['account', 'create', '--name', 'bench'])) as { id: number };
    if (kind === 'mosquitto') {
      cli(dataDir, ['broker-kit', '--out', kitDir, '--host', 'localhost', '--alt-name', '127.0.0.1', '--port', String(port), '--install-dir', kitDir, '--publish-dir', kitDir, '--reload', `pidfile:${pidFile}`]);
      mosquitto = await startMosquitto(kitDir, { port, pidFile });
    }
    server = await startServer({
      dataDir,
      passphrase: PASSPHRASE,
      tls: 'off',
      logger: silentLogger,
      broker:
        kind === 'embedded'
          ? { embedded: { port }, presenceTimeoutMs: 600_000 }
          : { mqtt: { host: '127.0.0.1', port, identity: 'main', servername: 'localhost' }, presenceTimeoutMs: 600_000 },
    });
    const s = server;
    const mqttSvc = s.broker.mqtt!;
    await new Promise<void>((resolve) => (mqttSvc.client.connected ? resolve() : mqttSvc.client.once('connected', () => resolve())));
    const actor: Actor = { accountId: account.id, role: 'operator', label: 'bench', sourceIp: null };

    const R = Number(args.revokes);
    const S = Number(args.silences);
    const total = N + R + S + Number(args['telemetry-devices']);
    const t0p = Date.now();
    const devices: { mac: string; certPem: string; keyPem: string; gatewayId: number }[] = [];
    for (let i = 1; i <= total; i++) {
      const m = mac(i);
      const o = await s.service.provisioning.provision(actor, { mac: m, codigo: `B${i}`, nome: `bench ${i}` });
      devices.push({ mac: m, certPem: o.certificate.certificatePem, keyPem: o.privateKeyPem!, gatewayId: o.gateway.id });
    }
    console.log(`broker: ${kind} (mqtts://127.0.0.1:${port}); provisioned ${total} devices in ${Date.now() - t0p} ms`);

    const seenOnline = new Map<string, number>();
    mqttSvc.presence.on('change', (u) => {
      if (u.isOnline && !seenOnline.has(u.mac)) seenOnline.set(u.mac, Date.now());
    });
    const startSwarm = (job: object): ReturnType<typeof startProcess> => {
      const p = startProcess('devices', process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'broker-devices.ts')], { cwd: ROOT });
      p.child.stdin!.write(JSON.stringify({ host: '127.0.0.1', port, caPem: s.caPem, ...job }) + '\n');
      swarm.push(p);
      return p;
    };

    // 1. connect → online
    const connectSet = devices.slice(0, N);
    const sw1 = startSwarm({ mode: 'connect', devices: connectSet, concurrency: Number(args.concurrency) });
    await sw1.waitForOutput(/"event":"done"/, 120_000);
    const deadline = Date.now() + 10_000;
    while (seenOnline.size < N && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const t0s = new Map<string, number>();
    const connectMs: number[] = [];
    for (const line of sw1.output().split('\n')) {
      if (!line.startsWith('{"event":"connected"')) continue;
      const e = JSON.parse(line) as { mac: string; t0: number; t1: number };
      t0s.set(e.mac, e.t0);
      connectMs.push(e.t1 - e.t0);
    }
    const lat = connectSet.filter((d) => seenOnline.has(d.mac) && t0s.has(d.mac)).map((d) => seenOnline.get(d.mac)! - t0s.get(d.mac)!);
    console.log(
      `connect → server sees online (${lat.length}/${N} devices, ${args.concurrency} connecting at a time): ` +
        `p50 ${pct(lat, 50)} ms, p95 ${pct(lat, 95)} ms, max ${pct(lat, 100)} ms (TLS+MQTT connect alone: p50 ${pct(connectMs, 50)} ms, p95 ${pct(connectMs, 95)} ms)`,
    );

    // 2. revoke → refusal
    const revokeSet = devices.slice(N, N + Number(args.revokes));
    const sw2 = startSwarm({ mode: 'connect', devices: revokeSet, concurrency: 5 });
    await sw2.waitForOutput(/"event":"done"/, 60_000);
    const revokeMs: number[] = [];
    for (const d of revokeSet) {
      const t0 = Date.now();
      await s.service.revocation.revoke({ ...actor, role: 'admin' }, d.gatewayId, 'keyCompromise');
      while (!(await refusedOnce(s, port, d.certPem, d.keyPem, `${d.mac}`))) {
        if (Date.now() - t0 > 10_000) throw new Error(`${d.mac} still accepted 10 s after revocation`);
        await new Promise((r) => setTimeout(r, 20));
      }
      revokeMs.push(Date.now() - t0);
    }
    console.log(`revoke call → new connection refused (${revokeMs.length} revocations): p50 ${pct(revokeMs, 50)} ms, max ${pct(revokeMs, 100)} ms`);

    // 2b. revoke → live session silenced
    const silenceSet = devices.slice(N + R, N + R + S);
    const silencedMs: number[] = [];
    const callMs: number[] = [];
    for (const d of silenceSet) {
      const c = mqtt.connect({ host: '127.0.0.1', port, protocol: 'mqtts', ca: s.caPem, cert: d.certPem, key: d.keyPem, servername: 'localhost', clientId: d.mac, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5_000 });
      await new Promise<void>((resolve, reject) => {
        c.once('connect', () => resolve());
        c.once('error', reject);
      });
      const closed = new Promise<number>((resolve) => c.once('close', () => resolve(Date.now())));
      const t0 = Date.now();
      await s.service.revocation.revoke({ ...actor, role: 'admin' }, d.gatewayId, 'keyCompromise');
      callMs.push(Date.now() - t0);
      const t1 = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 10_000))]);
      if (t1 < 0) throw new Error(`${d.mac}: live session still open 10 s after revocation`);
      silencedMs.push(t1 - t0);
      c.end(true);
    }
    console.log(
      `revoke call → live session silenced (${silencedMs.length} revocations): p50 ${pct(silencedMs, 50)} ms, p95 ${pct(silencedMs, 95)} ms, max ${pct(silencedMs, 100)} ms ` +
        `(revoke call returns after p50 ${pct(callMs, 50)} ms, p95 ${pct(callMs, 95)} ms)`,
    );

    // 3. telemetry ingest
    const telSet = devices.slice(N + R + S);
    const messages = Number(args.messages);
    const expected = telSet.length * messages;
    const storedBefore = mqttSvc.telemetry.stored;
    const sw3 = startSwarm({ mode: 'telemetry', devices: telSet, messages, concurrency: telSet.length });
    const m = await sw3.waitForOutput(/\{"event":"sent".*\}/, 300_000);
    const sent = JSON.parse(m[0]) as { sent: number; t0: number; t1: number };
    const tEnd = Date.now() + 30_000;
    let lastChange = Date.now();
    let last = -1;
    while (mqttSvc.telemetry.stored - storedBefore < expected && Date.now() < tEnd) {
      await mqttSvc.telemetry.drain();
      if (mqttSvc.telemetry.stored !== last) {
        last = mqttSvc.telemetry.stored;
        lastChange = Date.now();
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    const stored = mqttSvc.telemetry.stored - storedBefore;
    const secs = (lastChange - sent.t0) / 1000;
    console.log(
      `telemetry ingest: ${stored}/${sent.sent} messages stored in ${secs.toFixed(2)} s = ${Math.round(stored / secs)} msg/s stored ` +
        `(${telSet.length} devices × ${messages}, QoS 1; publishers finished in ${((sent.t1 - sent.t0) / 1000).toFixed(2)} s)`,
    );
    console.log(`server process RSS ${(process.memoryUsage().rss / 1048576).toFixed(0)} MB (server + bench driver)`);
  } finally {
    for (const p of swarm) {
      p.child.stdin?.end();
      await p.stop(2_000);
    }
    await server?.close();
    await mosquitto?.stop();
    tmp.remove();
  }
}

await main();
