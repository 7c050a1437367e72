import { X509Certificate } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, createApiToken, initServerData, startServer, type RunningServer } from '@tds/server';
import { tempDir } from '../../test/support/temp.js';

/**
 * The delivery bookkeeping of renewals (service/renewal-delivery.ts) on an in-process server whose
 * clock the test moves; the MQTT transport is replaced by a recording sender (the end-to-end path
 * with Mosquitto and the Pi agent is test/rpi-agent/renewal-delivery.test.ts). Proves: what the
 * sweep makes waits for the device; repeated and concurrent triggers ask once; a resend only after
 * the resend interval; the waiting certificate is cancelled when it would expire before the next
 * sweep or when its predecessor expired; the old certificate stays active until then.
 */
const dir = tempDir('tds-delivery-');
const dataDir = path.join(dir.path, 'data');
let now = Date.parse('2030-01-01T00:00:00Z');
let server: RunningServer;
let client: ApiClient;
let accountId: number;
const sent: { mac: string; commandId: string }[] = [];
const DAY = 86_400_000;

function row(sql: string, ...params: unknown[]): Record<string, unknown> | undefined {
  const db = new Database(path.join(dataDir, 'tds-server.db'), { readonly: true });
  try {
    return db.prepare(sql).get(...params) as Record<string, unknown> | undefined;
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  await initServerData({ dataDir, passphrase: 'delivery test passphrase' });
  server = await startServer({
    dataDir,
    passphrase: 'delivery test passphrase',
    tls: 'off',
    port: 0,
    deviceValidityDays: 100,
    clock: () => new Date(now),
    // The test runs the sweep itself, on its own clock.
    schedule: { renewalEvery: 'off', crlEvery: 'off' },
    logger: { info() {}, warn() {}, error() {} },
  });
  const account = await server.repo.createAccount('delivery', { at: '2030-01-01T00:00:00Z', accountId: null, actor: 'test', action: 'account.create', object: null, sourceIp: null, result: 'ok', detail: null });
  accountId = account.id;
  const { token } = await createApiToken(server.repo, { accountId, role: 'operator' }, 'test');
  client = new ApiClient({ baseUrl: server.url, token });
  server.service.deliveries.attachSender(async (mac, commandId) => {
    sent.push({ mac, commandId });
  });
});
afterAll(async () => {
  client?.close();
  await server?.close();
  dir.remove();
});

describe('renewal delivery', () => {
  it('the sweep makes a waiting renewal; the device is asked once however often it comes online, again only after the resend interval', async () => {
    const gw = await client.provision({ mac_address: '02:de:00:00:00:01', codigo: 'D1', nome: 'one', conta_id: accountId });
    const renewed = await server.service.jobs.renewal('test', 30 * DAY, DAY);
    // Made 2030-01-01 with 100 days: not within 30 days yet.
    expect(renewed.renewed).toEqual([]);
    now += 80 * DAY;
    const r = await server.service.jobs.renewal('test', 30 * DAY, DAY);
    expect(r.renewed.map((x) => x.mac)).toEqual(['02:de:00:00:00:01']);
    const detail = await client.getGateway(gw.gateway_id);
    expect(detail.active_certificate?.serial_number).toBe(gw.serial_number);
    expect(detail.renewal_delivery).toMatchObject({ replaces_serial_number: gw.serial_number, pending_serial_number: r.renewed[0]!.newSerial, attempts: 0 });
    expect(detail.certificados.find((c) => c.serial_number === r.renewed[0]!.newSerial)?.status).toBe('pending');

    // Offline: nothing sent by the sweep's pass over online devices.
    expect(sent).toEqual([]);
    // Online, three triggers at once (presence flaps, the periodic pass): one cert_renew.
    const attempts = await Promise.all([server.service.deliveries.onOnline('02:de:00:00:00:01'), server.service.deliveries.onOnline('02:de:00:00:00:01'), server.service.deliveries.onOnline('02:de:00:00:00:01')]);
    expect(attempts.flat().filter((a) => a.sent)).toHaveLength(1);
    expect(sent).toEqual([{ mac: '02:de:00:00:00:01', commandId: `renew-${gw.serial_number.slice(0, 16).toLowerCase()}-1` }]);
    const id = (n: number): string => `renew-${gw.serial_number.slice(0, 16).toLowerCase()}-${n}`;
    now += 10_000;
    expect(await server.service.deliveries.onOnline('02:de:00:00:00:01')).toEqual([]);
    // Not answered (no CSR came back): asking again is harmless — when it reconnects after 30 s ...
    now += 60_000;
    expect((await server.service.deliveries.onOnline('02:de:00:00:00:01')).map((a) => a.commandId)).toEqual([id(2)]);
    expect((await client.getGateway(gw.gateway_id)).renewal_delivery?.attempts).toBe(2);
    // ... and the device answers with a CSR for a new key (here through the REST pending renewal):
    // now it is asked again only after the hour, since a second key would replace its certificate.
    await client.renewPending(gw.gateway_id, { key_type: 'ec' });
    now += 10 * 60_000;
    expect(await server.service.deliveries.onOnline('02:de:00:00:00:01')).toEqual([]);
    now += 55 * 60_000;
    expect((await server.service.deliveries.onOnline('02:de:00:00:00:01')).map((a) => a.commandId)).toEqual([id(3)]);
    expect((await client.getGateway(gw.gateway_id)).renewal_delivery?.attempts).toBe(3);
    // Every attempt is audited.
    expect(row("SELECT count(*) n FROM audit_events WHERE action = 'certificate.renew_deliver' AND object = ?", `gateway:${gw.gateway_id}`)).toEqual({ n: 3 });
    // The old certificate is still the active one: nothing was acked.
    expect((await client.getGateway(gw.gateway_id)).active_certificate?.serial_number).toBe(gw.serial_number);
  });

  it('the device acks (activation): the renewal is closed and the old certificate revoked', async () => {
    const waiting = await server.service.deliveries.open({ mac: '02:de:00:00:00:01' });
    expect(waiting).toHaveLength(1);
    await server.service.renewals.activatePending(waiting[0]!.pendingSerial, 'device:02:de:00:00:00:01');
    expect(await server.service.deliveries.open({ mac: '02:de:00:00:00:01' })).toEqual([]);
    const old = await server.repo.getCertificateBySerial(waiting[0]!.predecessorSerial);
    expect(old).toMatchObject({ status: 'revoked', revokeReason: 'superseded' });
    sent.length = 0;
    expect(await server.service.deliveries.onOnline('02:de:00:00:00:01')).toEqual([]);
    expect(sent).toEqual([]);
  });

  it('cancels a waiting renewal whose predecessor expired (the device cannot connect to take it), and one that would expire before the next sweep', async () => {
    const a = await client.provision({ mac_address: '02:de:00:00:00:02', codigo: 'D2', nome: 'two', conta_id: accountId });
    now += 90 * DAY;
    const swept = await server.service.jobs.renewal('test', 30 * DAY, DAY);
    const pendingA = swept.renewed.find((x) => x.mac === '02:de:00:00:00:02')!.newSerial!;
    // The device stays offline until its certificate expires: the waiting one is withdrawn.
    now += 11 * DAY;
    const later = await server.service.jobs.renewal('test', 30 * DAY, DAY);
    expect(later.cancelled).toBeGreaterThanOrEqual(1);
    expect(await server.repo.getCertificateBySerial(pendingA)).toMatchObject({ status: 'revoked', revokeReason: 'cessationOfOperation', revokeNote: 'renewal not delivered in time' });
    const crl = await client.getCrlPem();
    expect(crl).toContain('X509 CRL');
    expect(row('SELECT count(*) n FROM renewal_deliveries r JOIN certificates c ON c.id = r.predecessor_id WHERE c.serial_number = ?', a.serial_number)).toEqual({ n: 0 });
    expect(row("SELECT count(*) n FROM audit_events WHERE action = 'certificate.renew_cancel' AND object = ? AND detail LIKE '%expired%'", `certificate:${pendingA}`)).toEqual({ n: 1 });

    // A waiting certificate that expires before the next sweep (sweep every 200 days, lifetime 100).
    const b = await client.provision({ mac_address: '02:de:00:00:00:03', codigo: 'D3', nome: 'three', conta_id: accountId });
    const r = await server.service.jobs.renewal('test', 150 * DAY, 200 * DAY);
    const renewedB = r.renewed.find((x) => x.mac === '02:de:00:00:00:03');
    expect(renewedB).toBeDefined();
    expect(await server.repo.getCertificateBySerial(renewedB!.newSerial!)).toMatchObject({ status: 'revoked', revokeNote: 'renewal not delivered in time' });
    expect((await client.getGateway(b.gateway_id)).active_certificate?.serial_number).toBe(b.serial_number);
    // Each run is recorded for /healthz and audited.
    const runs = await server.service.jobs.lastRuns();
    expect(runs.find((x) => x.job === 'renewal')).toMatchObject({ result: 'ok' });
    expect(row("SELECT count(*) n FROM audit_events WHERE action = 'schedule.renewal' AND result = 'ok'")!.n).toBeGreaterThanOrEqual(4);
  });

  it('renew/ with deliver: a pending certificate for the same key, asked at once when online; refused combinations', async () => {
    const gw = await client.provision({ mac_address: '02:de:00:00:00:04', codigo: 'D4', nome: 'four', conta_id: accountId });
    sent.length = 0;
    // Offline: it waits for the device (asked when it comes online), nothing is sent now.
    const offline = await client.provision({ mac_address: '02:de:00:00:00:05', codigo: 'D5', nome: 'five', conta_id: accountId });
    expect(await client.renewAndDeliver(offline.gateway_id)).toMatchObject({ status: 'pending', delivery: { status: 'waiting', command_id: null } });
    expect(sent).toEqual([]);
    // Mark it online as the presence consumer would.
    const db = new Database(path.join(dataDir, 'tds-server.db'));
    db.prepare('UPDATE gateways SET is_online = 1 WHERE id = ?').run(gw.gateway_id);
    db.close();
    const r = await client.renewAndDeliver(gw.gateway_id);
    expect(r).toMatchObject({ status: 'pending', replaces_serial_number: gw.serial_number, delivery: { status: 'asked' } });
    expect(r.private_key_pem).toBeUndefined();
    expect(sent.map((s) => s.mac)).toEqual(['02:de:00:00:00:04']);
    const pendingKey = new X509Certificate(r.certificate_pem).publicKey.export({ type: 'spki', format: 'der' });
    const activeKey = new X509Certificate(gw.certificate_pem).publicKey.export({ type: 'spki', format: 'der' });
    expect(pendingKey.equals(activeKey)).toBe(true);
    await expect(client.renew(gw.gateway_id, { deliver: true, pending: true } as never)).rejects.toMatchObject({ status: 400, details: { field: 'deliver' } });
  });
});
