/**
 * Device swarm for server/bench/broker.ts, in its own process so the devices do not share the
 * server's event loop. Reads one JSON job from stdin, prints one JSON line per event on stdout:
 *   connect:   {"event":"connected","mac","t0","t1"}  (t0 = just before the TCP connect, wall clock)
 *   telemetry: {"event":"sent","sent","t0","t1"}
 * Stays connected until stdin closes.
 */
import mqtt, { type MqttClient } from 'mqtt';

interface Device {
  mac: string;
  certPem: string;
  keyPem: string;
}

interface Job {
  mode: 'connect' | 'telemetry';
  host: string;
  port: number;
  caPem: string;
  devices: Device[];
  /** connect: how many connects are in flight at once. */
  concurrency: number;
  /** telemetry: messages per device. */
  messages?: number;
}

const clients: MqttClient[] = [];

function connect(job: Job, d: Device): Promise<{ client: MqttClient; t0: number; t1: number }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const c = mqtt.connect({
      host: job.host,
      port: job.port,
      protocol: 'mqtts',
      ca: job.caPem,
      cert: d.certPem,
      key: d.keyPem,
      servername: 'localhost',
      clientId: d.mac,
      protocolVersion: 4,
      reconnectPeriod: 0,
      keepalive: 60,
      will: { topic: `tds_new/devices/${d.mac}/status`, payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    clients.push(c);
    c.once('connect', () => {
      c.publish(`tds_new/devices/${d.mac}/status`, 'online', { qos: 1, retain: true });
      resolve({ client: c, t0, t1: Date.now() });
    });
    c.once('error', reject);
  });
}

async function run(job: Job): Promise<void> {
  const out = (o: unknown): boolean => process.stdout.write(JSON.stringify(o) + '\n');
  if (job.mode === 'connect') {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < job.devices.length) {
        const d = job.devices[next++]!;
        const r = await connect(job, d);
        out({ event: 'connected', mac: d.mac, t0: r.t0, t1: r.t1 });
      }
    };
    await Promise.all(Array.from({ length: job.concurrency }, worker));
    out({ event: 'done' });
    return;
  }
  const conns = await Promise.all(job.devices.map((d) => connect(job, d)));
  const n = job.messages ?? 1000;
  const t0 = Date.now();
  let sent = 0;
  await Promise.all(
    conns.map(async ({ client }, i) => {
      const mac = job.devices[i]!.mac;
      for (let k = 0; k < n; k++) {
        const body = JSON.stringify({ timestamp: Date.now(), valor: k, unidade: 'kWh', gateway_mac: mac, slave_id: 1, register: k % 100 });
        // QoS 1: nothing is dropped on the way, so "stored" can be compared with "sent".
        await client.publishAsync(`tds_new/devices/${mac}/telemetry`, body, { qos: 1 });
        sent++;
      }
    }),
  );
  out({ event: 'sent', sent, t0, t1: Date.now() });
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (c: string) => {
  input += c;
  const nl = input.indexOf('\n');
  if (nl >= 0 && input.length > 0) {
    const line = input.slice(0, nl);
    input = input.slice(nl + 1);
    run(JSON.parse(line) as Job).catch((err: unknown) => {
      process.stdout.write(JSON.stringify({ event: 'error', message: (err as Error).message }) + '\n');
    });
  }
});
process.stdin.on('end', () => {
  for (const c of clients) c.end(true);
  setTimeout(() => process.exit(0), 200).unref();
});
