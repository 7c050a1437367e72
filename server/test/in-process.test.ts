import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ApiClient,
  createDeviceCsr,
  createApiToken,
  initServerData,
  startServer,
  validateCrl,
  type RunningServer,
  type ServerEventMap,
} from '@tds/server';
import { tempDir } from '../../test/support/temp.js';
import { RepositoryRenewalBackend } from '../src/mqtt/renewal-backend.js';

/**
 * The programmatic server (what the desktop app runs in standalone mode) and its events, which
 * the broker layer uses to publish CRLs, reload the broker and follow renewals.
 */
const dir = tempDir('tds-inproc-');
const dataDir = path.join(dir.path, 'data');
let server: RunningServer;
let client: ApiClient;
const events: { name: keyof ServerEventMap; event: ServerEventMap[keyof ServerEventMap] }[] = [];

beforeAll(async () => {
  await initServerData({ dataDir, passphrase: 'in-process passphrase' });
  server = await startServer({ dataDir, passphrase: 'in-process passphrase', tls: 'off', port: 0, logger: { info() {}, warn() {}, error() {} } });
  for (const name of ['certificate.issued', 'certificate.revoked', 'crl.updated'] as const) {
    server.events.on(name, (event) => {
      events.push({ name, event });
    });
  }
  const account = await server.repo.createAccount('standalone', { at: '2026-01-01T00:00:00Z', accountId: null, actor: 'test', action: 'account.create', object: null, sourceIp: null, result: 'ok', detail: null });
  const { token } = await createApiToken(server.repo, { accountId: account.id, role: 'operator' }, 'test');
  client = new ApiClient({ baseUrl: server.url, token });
});
afterAll(async () => {
  client?.close();
  await server?.close();
  dir.remove();
});

describe('startServer() in process', () => {
  it('serves on loopback and announces issuance, revocation and the new CRL, in that order', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const { csrPem } = await createDeviceCsr({ mac: '02:de:00:00:00:01' });
    const r = await client.provision({ mac_address: '02:de:00:00:00:01', codigo: 'GW1', nome: 'standalone', conta_id: 1, csr_pem: csrPem });
    const issued = events.find((e) => e.name === 'certificate.issued')!.event as ServerEventMap['certificate.issued'];
    expect(issued).toMatchObject({ serialNumber: r.serial_number, kind: 'device', commonName: '02:de:00:00:00:01', gatewayId: r.gateway_id, status: 'active', replacesSerial: null });
    expect(issued.certificatePem).toBe(r.certificate_pem);

    const revoke = await client.revoke(r.gateway_id, 'keyCompromise');
    const names = events.map((e) => e.name);
    expect(names.slice(-2)).toEqual(['certificate.revoked', 'crl.updated']);
    const revoked = events.at(-2)!.event as ServerEventMap['certificate.revoked'];
    expect(revoked).toMatchObject({ serialNumber: r.serial_number, reason: 'keyCompromise', commonName: '02:de:00:00:00:01' });
    const crl = events.at(-1)!.event as ServerEventMap['crl.updated'];
    expect(crl.crlNumber).toBe(revoke.crl_number);
    expect(() => validateCrl(crl.pem, server.caPem)).not.toThrow();
    expect(await client.getCrlPem()).toBe(crl.pem);
  });

  it('renewal with a device-confirmed successor: pending → active, old one superseded', async () => {
    const r = await client.provision({ mac_address: '02:de:00:00:00:02', codigo: 'GW2', nome: 'renewal', conta_id: 1 });
    const { renewed } = await server.service.renewals.renewExpiring(20 * 365 * 86_400_000, 'test');
    const mine = renewed.find((x) => x.mac === '02:de:00:00:00:02')!;
    const pendingEvent = events.at(-1)!.event as ServerEventMap['certificate.issued'];
    expect(pendingEvent).toMatchObject({ status: 'pending', serialNumber: mine.newSerial, replacesSerial: r.serial_number });
    const before = events.length;
    const { activated, superseded } = await server.service.renewals.activatePending(mine.newSerial!, 'device:02:de:00:00:00:02');
    expect(activated.status).toBe('active');
    expect(superseded?.serialNumber).toBe(r.serial_number);
    expect(events.slice(before).map((e) => e.name)).toEqual(['certificate.revoked', 'crl.updated']);
    expect((events.at(-2)!.event as ServerEventMap['certificate.revoked']).reason).toBe('superseded');
    expect((await client.getGateway(r.gateway_id)).active_certificate?.serial_number).toBe(mine.newSerial);
  });

  it('renewal over MQTT uses the same pending path: a new key replaces the unconfirmed certificate (revoked, CRL re-signed), the same key gets the same one, the ack activates it', async () => {
    const mac = '02:de:00:00:00:03';
    const r = await client.provision({ mac_address: mac, codigo: 'GW3', nome: 'mqtt renewal', conta_id: 1 });
    const backend = new RepositoryRenewalBackend({ ca: server.ca, repo: server.repo, store: server.broker.store, issuance: server.service });
    const lost = await backend.issueRenewal(mac, 'r1', (await createDeviceCsr({ mac })).csrPem);
    expect(events.at(-1)).toMatchObject({ name: 'certificate.issued', event: { serialNumber: lost.serialNumber, status: 'pending', replacesSerial: r.serial_number } });
    const second = (await createDeviceCsr({ mac })).csrPem;
    const before = events.length;
    const fresh = await backend.issueRenewal(mac, 'r2', second);
    expect(events.slice(before).map((e) => e.name)).toEqual(['certificate.revoked', 'crl.updated', 'certificate.issued']);
    expect(events[before]!.event).toMatchObject({ serialNumber: lost.serialNumber, reason: 'superseded' });
    expect((await server.repo.listRevoked()).map((e) => e.serialNumber)).toContain(lost.serialNumber);
    expect(await backend.issueRenewal(mac, 'r2', second)).toMatchObject({ serialNumber: fresh.serialNumber, repeated: true });
    expect(await backend.confirmRenewal(mac, 'r2', fresh.serialNumber)).toBe('completed');
    const detail = await client.getGateway(r.gateway_id);
    expect(detail.certificados.map((c) => [c.serial_number, c.status])).toEqual([
      [fresh.serialNumber, 'active'],
      [lost.serialNumber, 'revoked'],
      [r.serial_number, 'revoked'],
    ]);
  });

  it('revoking an active certificate by serial also revokes its pending successor (a renewal cannot revive a revoked identity)', async () => {
    const r = await client.provision({ mac_address: '02:de:00:00:00:04', codigo: 'GW4', nome: 'cascade', conta_id: 1 });
    const pending = await client.renewPending(r.gateway_id);
    const before = events.length;
    await server.service.revocation.revokeBySerial(r.serial_number, 'keyCompromise', 'test');
    expect(events.slice(before).map((e) => [e.name, (e.event as { serialNumber?: string }).serialNumber])).toEqual([
      ['certificate.revoked', r.serial_number],
      ['certificate.revoked', pending.serial_number],
      ['crl.updated', undefined],
    ]);
    const err = await client.confirmRenewal(r.gateway_id, pending.serial_number).catch((e: unknown) => e);
    expect((err as { status: number }).status).toBe(409);
  });

  it('service identities are recorded and revocable like devices', async () => {
    const cert = await server.service.identities.issueServiceIdentity({ kind: 'station', name: 'bench-9' }, 'test');
    expect(cert.commonName).toBe('station-monitor-bench-9');
    expect((await server.repo.getCertificateBySerial(cert.serialNumber))?.kind).toBe('service');
    await server.service.revocation.revokeBySerial(cert.serialNumber, 'cessationOfOperation', 'test');
    expect((await server.repo.listRevoked()).map((e) => e.serialNumber)).toContain(cert.serialNumber);
    const broker = await server.service.identities.issueBrokerIdentity({ hostnames: ['localhost'], ips: ['127.0.0.1'] }, 'test');
    expect((await server.repo.getCertificateBySerial(broker.serialNumber))?.kind).toBe('broker');
  });

  it('refuses plain HTTP on a non-loopback address unless forced', async () => {
    await expect(startServer({ dataDir, passphrase: 'in-process passphrase', tls: 'off', host: '0.0.0.0' })).rejects.toThrow(/refusing to serve plain HTTP on 0\.0\.0\.0/);
  });
});
