/**
 * Device swarm for server/bench/connect-storm.ts, in its own process (several of them share the
 * swarm). Reads one JSON job from stdin. Each device connects with its own certificate (client id =
 * MAC, Last Will `offline`), publishes a retained `online`; when the broker goes away it reconnects on
 * its own (every 500 ms, as mqtt.js does) and then publishes `online` again and one telemetry
 * reading (QoS 1) numbered by its reconnect. Prints one JSON line a second:
 *   {"event":"progress","connected":n,"reconnected":n,"sent":n}
 * and, for a line "report" on stdin, the readings the broker acknowledged per device:
 *   {"event":"report","acked":{"<mac>":[1,2…]}}
 * It stays until stdin closes.
 */
import mqtt, { type MqttClient } from 'mqtt';

interface Job {
  host: string;
  port: number;
  caPem: string;
  keys: string[];
  devices: { mac: string; certPem: string; key: number }[];
  /** Initial connects in flight at once. */
  concurrency: number;
}

const clients: MqttClient[] = [];
let connected = 0;
let reconnected = 0;
let sent = 0;
const acked = new Map<string, number[]>();

function start(job: Job, d: Job['devices'][number]): Promise<void> {
  return new Promise((resolve) => {
    let first = true;
    let reconnects = 0;
    const c = mqtt.connect({
      host: job.host,
      port: job.port,
      protocol: 'mqtts',
      ca: job.caPem,
      cert: d.certPem,
      key: job.keys[d.key]!,
      servername: 'localhost',
      clientId: d.mac,
      protocolVersion: 4,
      reconnectPeriod: 500,
      connectTimeout: 30_000,
      keepalive: 120,
      will: { topic: `tds_new/devices/${d.mac}/status`, payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    clients.push(c);
    c.on('error', () => undefined);
    c.on('close', () => {
      if (!first) connected--;
    });
    c.on('connect', () => {
      connected++;
      c.publish(`tds_new/devices/${d.mac}/status`, 'online', { qos: 1, retain: true });
      if (first) {
        first = false;
        resolve();
        return;
      }
      reconnected++;
      reconnects++;
      const reading = JSON.stringify({ timestamp: Date.now(), valor: reconnects, unidade: 'n', gateway_mac: d.mac });
      const valor = reconnects;
      c.publish(`tds_new/devices/${d.mac}/telemetry`, reading, { qos: 1 }, (err) => {
        if (err) return;
        sent++;
        acked.set(d.mac, [...(acked.get(d.mac) ?? []), valor]);
      });
    });
  });
}

async function run(job: Job): Promise<void> {
  let next = 0;
  const progress = setInterval(() => process.stdout.write(JSON.stringify({ event: 'progress', connected, reconnected, sent }) + '\n'), 1_000);
  process.stdin.once('end', () => {
    clearInterval(progress);
    for (const c of clients) c.end(true);
    process.exit(0);
  });
  await Promise.all(
    Array.from({ length: job.concurrency }, async () => {
      while (next < job.devices.length) await start(job, job.devices[next++]!);
    }),
  );
}

// The job is the first line on stdin; the end of stdin ends the swarm.
let input = '';
const onData = (chunk: Buffer): void => {
  input += chunk.toString('utf8');
  const nl = input.indexOf('\n');
  if (nl < 0) return;
  process.stdin.off('data', onData);
  void run(JSON.parse(input.slice(0, nl)) as Job);
  let commands = input.slice(nl + 1);
  process.stdin.on('data', (c: Buffer) => {
    commands += c.toString('utf8');
    for (let i = commands.indexOf('\n'); i >= 0; i = commands.indexOf('\n')) {
      if (commands.slice(0, i).trim() === 'report') process.stdout.write(JSON.stringify({ event: 'report', acked: Object.fromEntries(acked) }) + '\n');
      commands = commands.slice(i + 1);
    }
  });
};
process.stdin.on('data', onData);
