/**
 * Two server instances on one PostgreSQL with a real Mosquitto (the kit made by broker-kit):
 * instance B runs on the broker host (it publishes CRL and ACL into the kit folder, reloads
 * Mosquitto, cuts live sessions through the dynamic-security plugin) and both consume the device
 * topics through a shared subscription.
 * - Telemetry from connected devices is stored once, though two consumers read it.
 * - A revocation made through A — the instance without the broker folder — reaches the broker
 *   through B: a new connection with the certificate is refused within 5 s, the live session is
 *   closed, and the gateway is offline.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { topics, type ProvisionResponse } from '../../src/contract/index.js';
import { startBackend, type Backend } from '../../../test/support/backend.js';
import { startInstance, type ServerInstance } from '../../../test/support/instances.js';
import { startPostgres, type PostgresCluster } from '../../../test/support/postgres.js';
import { connect, end, refused, type Endpoint, type Identity } from './support/clients.js';
import { quiet } from './support/harness.js';

let pg: PostgresCluster;
let b: Backend;
let a: ServerInstance;
let ep: Endpoint;

beforeAll(async () => {
  pg = await startPostgres();
  b = await startBackend({ server: { database: await pg.createDatabase('broker') } });
  ep = { host: b.broker.host, port: b.broker.port, caPem: b.broker.caPem };
  // A's own MQTT identity (two clients of one CN would push each other off), in the ACL before A starts.
  await b.server.cli(['identity', 'create', 'server', '--name', 'a']);
  a = await startInstance(b.server, { name: 'a', omit: ['broker.json'], extraServeArgs: ['--mqtt-url', `mqtts://127.0.0.1:${b.broker.port}`, '--mqtt-identity', 'a'] });
  await a.process.waitForOutput(/\[mqtt\] connected to /, 20_000);
});
afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await pg?.stop();
});

const identity = (r: ProvisionResponse): Identity => ({ certPem: r.certificate_pem, keyPem: r.private_key_pem! });
const waitFor = async (what: string, check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<number> => {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await quiet(25);
  }
  return Date.now() - start;
};

async function device(r: ProvisionResponse): Promise<MqttClient> {
  const c = await connect(ep, identity(r), { clientId: r.mac_address, will: { topic: topics.status(r.mac_address!), payload: Buffer.from('offline'), qos: 1, retain: true } });
  await c.publishAsync(topics.status(r.mac_address!), 'online', { qos: 1, retain: true });
  return c;
}

describe('two instances, one Mosquitto', () => {
  it('both consume through a shared subscription: every telemetry message is stored once', async () => {
    const api = a.client();
    const gws = [await api.provision({ mac_address: 'a4:cf:13:00:00:02', codigo: 'T1', nome: 't1', conta_id: b.server.contaId }), await api.provision({ mac_address: 'a4:cf:13:00:00:04', codigo: 'T2', nome: 't2', conta_id: b.server.contaId })];
    const devices = await Promise.all(gws.map(device));
    try {
      await waitFor('both gateways online', async () => (await b.server.client().listGateways({ is_online: true })).results.filter((g) => g.codigo.startsWith('T')).length === 2);
      const N = 60;
      for (let i = 0; i < N; i++) {
        for (const [k, d] of devices.entries()) {
          const mac = gws[k]!.mac_address!;
          await d.publishAsync(topics.telemetry(mac), JSON.stringify({ timestamp: Date.now(), valor: i, unidade: 'V', gateway_mac: mac }), { qos: 1 });
        }
      }
      const count = async (id: number): Promise<number> => (await api.telemetry(id, { limit: 1000 })).results.length;
      await waitFor('all readings stored', async () => (await count(gws[0]!.gateway_id)) >= N && (await count(gws[1]!.gateway_id)) >= N);
      await quiet(1_000); // a second consumer's copies would arrive now
      for (const g of gws) {
        const rows = (await api.telemetry(g.gateway_id, { limit: 1000 })).results;
        expect(rows.map((r) => r.valor).sort((x, y) => x - y)).toEqual(Array.from({ length: N }, (_, i) => i));
      }
    } finally {
      await Promise.all(devices.map(end));
      api.close();
    }
  });

  it('revoked through A, enforced by the broker through B: refused within 5 s, the live session closed, offline', async () => {
    const api = a.client();
    const r = await api.provision({ mac_address: 'a4:cf:13:00:00:06', codigo: 'RV', nome: 'revoke me', conta_id: b.server.contaId });
    const keep = await api.provision({ mac_address: 'a4:cf:13:00:00:08', codigo: 'KEEP', nome: 'stays', conta_id: b.server.contaId });
    const live = await device(r);
    const other = await device(keep);
    let closedAt = 0;
    live.on('close', () => (closedAt ||= Date.now()));
    try {
      await waitFor('online', async () => (await b.server.client().getGateway(r.gateway_id)).is_online);
      const t0 = Date.now();
      await api.revoke(r.gateway_id, 'keyCompromise');
      // The live session first: a test connection with the same certificate (same client id) would
      // push it off by itself while the broker still accepted the certificate.
      await waitFor('the live session closed', () => closedAt > 0, 5_000);
      expect(closedAt - t0).toBeLessThan(5_000);
      expect(await refused(ep, identity(r))).toBeTruthy();
      expect(Date.now() - t0).toBeLessThan(5_000);
      await waitFor('offline', async () => !(await a.client().getGateway(r.gateway_id)).is_online, 5_000);
      // B did it (A has no broker folder): its log shows the cut-off of this MAC's sessions.
      const cut = new RegExp(`live sessions of [^\\n]*${r.mac_address}[^\\n]* disconnected`);
      await waitFor("B's log of the cut-off", () => cut.test(b.server.process.output()), 5_000);
      expect(a.process.output()).not.toMatch(cut);
      // The other device is untouched.
      expect(other.connected).toBe(true);
      await other.publishAsync(topics.telemetry(keep.mac_address!), JSON.stringify({ timestamp: Date.now(), valor: 4242, unidade: 'V', gateway_mac: keep.mac_address }), { qos: 1 });
      await waitFor('the other device stored', async () => (await api.telemetry(keep.gateway_id, { limit: 10 })).results.some((x) => x.valor === 4242));
    } finally {
      await end(live);
      await end(other);
      api.close();
    }
  });
});
