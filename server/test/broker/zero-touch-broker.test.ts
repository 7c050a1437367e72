/**
 * Zero-touch onboarding against a real Mosquitto running the server's broker kit: a birth certificate
 * (from the separate birth CA, EKU birth identity only) can never open an MQTT session — the kit does
 * not trust the birth CA — while the certificate the same device fetches after its claim connects and
 * the server sees it online. Both paths, devices scripted in the test (real keys and signatures).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { topics } from '../../src/contract/index.js';
import { startBackend, type Backend } from '../../../test/support/backend.js';
import { ScriptedDevice } from '../support/scripted-device.js';
import { connect, end, mosquittoPub, refused, writeIdentityFiles, type Endpoint } from './support/clients.js';
import { quiet, until } from './support/harness.js';
import { tempDir } from '../../../test/support/temp.js';

let b: Backend;
let ep: Endpoint;
const clients: MqttClient[] = [];
const devices: ScriptedDevice[] = [];
const work = tempDir('tds-zt-broker-');

async function device(mac: string): Promise<ScriptedDevice> {
  const d = await ScriptedDevice.create(mac, { apiUrl: b.server.apiUrl, caPem: b.server.caPem });
  devices.push(d);
  return d;
}

/** Polls like a device (honouring Retry-After) until the certificate comes. */
async function fetchCertificate(d: ScriptedDevice): Promise<{ certificate_pem: string; ca_pem: string; mqtt_port: number; gateway_id: number }> {
  for (let i = 0; i < 10; i++) {
    const r = await d.poll();
    if (r.status === 'issued') return r.body;
    if (r.status === 'gone') throw new Error(`request gone: ${r.error}`);
    await quiet(r.retryAfterSeconds * 1000);
  }
  throw new Error('no certificate');
}

async function online(d: ScriptedDevice, issued: { certificate_pem: string }): Promise<MqttClient> {
  const keyPem = d.key.export({ type: 'pkcs8', format: 'pem' }).toString();
  const c = await connect(ep, { certPem: issued.certificate_pem, keyPem }, { clientId: d.mac, will: { topic: topics.status(d.mac), payload: Buffer.from('offline'), qos: 1, retain: true } });
  clients.push(c);
  await c.publishAsync(topics.status(d.mac), 'online', { qos: 1, retain: true });
  return c;
}

beforeAll(async () => {
  b = await startBackend({ broker: 'mosquitto', server: { extraServeArgs: ['--open-enrolment'] } });
  ep = { host: b.broker.host, port: b.broker.port, caPem: b.broker.caPem };
});

afterAll(async () => {
  await Promise.all(clients.map((c) => end(c)));
  for (const d of devices) d.close();
  await b?.stop();
  work.remove();
});

describe('zero-touch onboarding and the broker (Mosquitto)', () => {
  it('a birth certificate presented to the broker is refused (mqtt.js and mosquitto_pub); the kit holds no birth CA', async () => {
    const mac = '02:d1:00:00:00:01';
    const birth = await ScriptedDevice.birthCsr(mac);
    const r = await b.server.client().issueBirthIdentity({ mac_address: mac, csr_pem: birth.csrPem });
    const identity = { certPem: r.birth_certificate_pem, keyPem: birth.key.export({ type: 'pkcs8', format: 'pem' }).toString() };
    const reason = await refused(ep, identity, { clientId: mac });
    expect(reason).not.toMatch(/ECONNREFUSED/);
    const files = writeIdentityFiles(work.path, 'birth', ep, identity);
    const pub = await mosquittoPub(ep, files, ['-t', topics.status(mac), '-m', 'online', '-i', mac]);
    expect(pub.code).not.toBe(0);
    expect(b.mosquitto!.output()).toMatch(/OpenSSL Error|certificate verify failed|unable to get local issuer certificate/i);
    expect(b.broker.caPem).not.toContain(r.birth_ca_pem.trim().split('\n')[1]!);
  });

  it('attested path: the bench-born device is refused with its birth certificate, then fetches its certificate after the label is scanned and is online', async () => {
    const mac = '02:d1:00:00:00:02';
    const birth = await ScriptedDevice.birthCsr(mac);
    const r = await b.server.client().issueBirthIdentity({ mac_address: mac, csr_pem: birth.csrPem });
    const d = await device(mac);
    d.birth = { certificatePem: r.birth_certificate_pem, key: birth.key };
    await d.bootstrapAttested();
    const claim = await b.server.client().claim({ qr: r.label_qr, conta_id: b.server.contaId, codigo: 'ZT-MQ1', nome: 'bench-born on Mosquitto' });
    const issued = await fetchCertificate(d);
    expect(issued.mqtt_port).toBe(b.broker.port);
    await online(d, issued);
    await until('online', async () => (await b.server.client().getGateway(claim.gateway_id)).is_online);
  });

  it('open path: code + MAC claimed, the device fetches its certificate and is online', async () => {
    const d = await device('02:d1:00:00:00:03');
    const r = await d.bootstrapOpen();
    const claim = await b.server.client().claim({ mac_address: d.mac, activation_code: r.activation_code!, conta_id: b.server.contaId, codigo: 'ZT-MQ2', nome: 'open enrolment on Mosquitto' });
    await online(d, await fetchCertificate(d));
    await until('online', async () => (await b.server.client().getGateway(claim.gateway_id)).is_online);
  });
});
