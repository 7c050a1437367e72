/**
 * Renewals that reach the device, end to end: the real server (compiled CLI), Debian's Mosquitto
 * with the broker kit, and the Pi agent (firmware/rpi) as the device. The device is offline when
 * the sweep runs (`tds-server renew-expiring`, the systemd timer's oneshot command); when it comes
 * online the server's presence consumer asks it (cert_renew), the agent makes a key and a CSR, gets
 * cert_update, reconnects with the new certificate and acks; only then is the old certificate
 * revoked — checked with `openssl verify -crl_check` against the CRL the server publishes.
 * Then `renew/` with `deliver` reaches the device at once, because it is online.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '@tds/server';
import { topics } from '@tds/server/contract';
import { OpenSsl } from '../../server/test/support/openssl.js';
import { startBackend, type Backend } from '../support/backend.js';
import type { StartedProcess } from '../support/processes.js';
import { tempDir } from '../support/temp.js';
import { requireTool } from '../support/tools.js';
import { certSerial, provisionDevice, Recorder, startAgent, type Received } from './support.js';

const MAC = 'dc:a6:32:7e:00:42';
const norm = (s: string): string => s.replace(/:/g, '').toLowerCase().replace(/^0+/, '');

let backend: Backend;
let work: { path: string; remove(): void };
let certsDir: string;
let configFile: string;
let observer: Recorder;
let agent: StartedProcess | undefined;
let gatewayId: number;
let firstPem: string;
let ossl: OpenSsl;

const isStatus = (value: string, after = 0) => (m: Received) => m.topic === topics.status(MAC) && m.payload === value && !m.retain && m.at >= after;

async function activeSerial(): Promise<string | undefined> {
  return (await backend.server.client('operator').getGateway(gatewayId)).active_certificate?.serial_number;
}

async function waitForActive(serial: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (norm((await activeSerial()) ?? '') !== norm(serial)) {
    if (Date.now() > deadline) throw new Error(`certificate ${serial} did not become active; agent output:\n${agent?.output().slice(-3000) ?? ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  requireTool('mosquitto', 'mosquitto');
  work = tempDir('tds-delivery-e2e-');
  ossl = new OpenSsl(work.path);
  certsDir = path.join(work.path, 'certs');
  backend = await startBackend({ broker: 'mosquitto', serverIdentity: true });
  const res = await provisionDevice(backend, certsDir, MAC);
  gatewayId = res.gateway_id;
  firstPem = res.certificate_pem;
  configFile = path.join(work.path, 'config.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      mqtt: { host: backend.broker.host, port: backend.broker.port, keepalive: 5, reconnect_min_s: 1, reconnect_max_s: 2 },
      paths: { certs_dir: certsDir, state_dir: path.join(work.path, 'state') },
      firmware_version: 'delivery-test-1',
      renewal: { renew_before_days: 0 },
    }),
  );
  observer = await Recorder.connect(backend, backend.serverIdentity!, ['tds_new/devices/#']);
}, 120_000);

afterAll(async () => {
  await agent?.stop();
  await observer?.close();
  await backend?.stop();
  work?.remove();
});

describe('renewal delivery to the Pi agent over Mosquitto', () => {
  it('offline device → sweep → it comes online → cert_renew, CSR, cert_update, reconnect, ack → old certificate revoked', async () => {
    // The sweep while the device is offline: a waiting renewal, the old certificate untouched.
    const sweep = await backend.server.cli(['renew-expiring', '--within', '3660d', '--json']);
    const out = JSON.parse(sweep.stdout) as { renewed: { mac_address: string; new_serial: string }[] };
    expect(out.renewed.map((r) => r.mac_address)).toEqual([MAC]);
    const waiting = (await backend.server.client('operator').getGateway(gatewayId)).renewal_delivery;
    expect(waiting).toMatchObject({ pending_serial_number: out.renewed[0]!.new_serial, attempts: 0 });
    expect(norm((await activeSerial())!)).toBe(norm(certSerial(path.join(certsDir, 'client.crt'))));
    // Nothing was sent: the device is not there.
    expect(observer.messages.filter((m) => m.topic === topics.commands(MAC))).toEqual([]);

    // The device comes online: the server asks it at once.
    const since = Date.now();
    agent = startAgent(configFile);
    await observer.waitFor(isStatus('online', since), 20_000, 'status online');
    const ask = await observer.waitFor((m) => m.topic === topics.commands(MAC) && m.payload.includes('"cert_renew"') && m.at >= since, 15_000, 'cert_renew from the server');
    const commandId = (JSON.parse(ask.payload) as { id: string }).id;
    expect(commandId).toMatch(/^renew-[0-9a-f]{16}-1$/);
    const csr = await observer.waitFor((m) => m.topic === topics.certCsr(MAC) && m.at >= since, 15_000, 'CSR from the device');
    expect(JSON.parse(csr.payload)).toMatchObject({ id: commandId });
    await observer.waitFor((m) => m.topic === topics.commands(MAC) && m.payload.includes('"cert_update"') && m.at >= since, 15_000, 'cert_update');
    const ack = await observer.waitFor((m) => m.topic === topics.certAck(MAC) && m.at >= since, 30_000, 'ack with the new serial');
    const newSerial = (JSON.parse(ack.payload) as { serial_number: string }).serial_number;
    expect(norm(certSerial(path.join(certsDir, 'client.crt')))).toBe(norm(newSerial));
    await waitForActive(newSerial);
    // Revoking the old certificate closes the CN's live sessions on Mosquitto (docs/broker.md), the one
    // on the new certificate too: the device reconnects with it. Its 'online' comes after the ack (the
    // reconnect that sent the ack may share its millisecond, so order, not time, tells them apart).
    const ackIndex = observer.messages.indexOf(ack);
    await observer.waitFor((m) => isStatus('online')(m) && observer.messages.indexOf(m) > ackIndex, 15_000, 'online again after the cut');

    // Only after the ack: the old certificate is revoked (superseded); the device key is new.
    const client = backend.server.client('operator');
    const detail = await client.getGateway(gatewayId);
    expect(detail.renewal_delivery).toBeNull();
    const first = detail.certificados.find((c) => norm(c.serial_number) === norm(new X509Certificate(firstPem).serialNumber));
    expect(first).toMatchObject({ status: 'revoked', revoke_reason: expect.stringMatching(/^superseded/) as string });
    // The sweep's same-key certificate was replaced by the one for the device's new key.
    expect(detail.certificados.find((c) => c.serial_number === out.renewed[0]!.new_serial)?.status).toBe('revoked');
    const crl = await client.getCrlPem();
    const caPem = backend.server.caPem;
    const old = await ossl.verify(caPem, firstPem, crl);
    expect(old.ok).toBe(false);
    expect(old.output).toMatch(/revoked/i);
    const current = await ossl.verify(caPem, readFileSync(path.join(certsDir, 'client.crt'), 'utf8'), crl);
    expect(current.ok, current.output).toBe(true);
    // One delivery attempt, audited.
    const admin = backend.server.client('admin');
    const deliveries = await admin.listAudit({ action: 'certificate.renew_deliver', gateway_id: gatewayId });
    expect(deliveries.count).toBe(1);
    expect(deliveries.results[0]).toMatchObject({ result: 'ok', actor: 'server' });
    // The presence history has the device's transition to online.
    // (The presence consumer writes in the order the broker delivers; a loaded machine may lag it.)
    await expect.poll(async () => (await client.presenceHistory(gatewayId)).transitions.some((t) => t.status === 'online'), { timeout: 10_000 }).toBe(true);
    expect((await client.presenceHistory(gatewayId)).online_seconds).toBeGreaterThan(0);
    client.close();
    admin.close();
  });

  it("the admin console sees the broker this server feeds and the last CRL publication to it", async () => {
    const made = JSON.parse((await backend.server.cli(['token', 'create', '--account', String(backend.server.contaId), '--role', 'admin', '--server-admin', '--json'])).stdout) as { token: string };
    const root = new ApiClient({ baseUrl: backend.server.apiUrl, caPem: backend.server.caPem, token: made.token });
    const broker = await root.brokerState();
    expect(broker.mosquitto).toMatchObject({ configured: true, port: backend.broker.port, session_control: true, last_publication: { result: 'ok', reloaded: true, error: null } });
    expect(broker.mqtt_client).toEqual({ enabled: true, connected: true });
    const crl = await root.crlState();
    expect(crl.publications?.mosquitto).toMatchObject({ result: 'ok', crl_number: crl.crl_number });
    root.close();
  });

  it('renew/ with deliver reaches an online device at once; the device renews and acks', async () => {
    const client = backend.server.client('operator');
    const before = (await activeSerial())!;
    const since = Date.now();
    const r = await client.renewAndDeliver(gatewayId);
    expect(r.delivery.status).toBe('asked');
    expect(r.replaces_serial_number).toBe(before);
    await observer.waitFor((m) => m.topic === topics.commands(MAC) && m.payload.includes(r.delivery.command_id!) && m.at >= since, 10_000, 'cert_renew');
    const ack = await observer.waitFor((m) => m.topic === topics.certAck(MAC) && m.at >= since, 30_000, 'second ack');
    await waitForActive((JSON.parse(ack.payload) as { serial_number: string }).serial_number);
    const detail = await client.getGateway(gatewayId);
    expect(detail.certificados.find((c) => c.serial_number === before)?.status).toBe('revoked');
    client.close();
  });
});
