/**
 * End to end through the real server (compiled CLI, REST API) and a real broker — Mosquitto running
 * the kit made by `tds-server broker-kit`, and the same table on `serve --broker` (aedes):
 * provisioning → connect → presence and telemetry via the API; revocation via the API reaching the
 * broker within 5 s (new connections refused, a live one cut off); renewal over MQTT asked through
 * the API, with an MQTT client acting as the device; service identities from the CLI.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import type { GatewayDetail, ProvisionResponse, RenewRequestedResponse, TelemetryResponse } from '../../src/contract/index.js';
import { topics } from '../../src/contract/index.js';
import { startBackend, type Backend } from '../../../test/support/backend.js';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from '../../../test/support/temp.js';
import { requireTool } from '../../../test/support/tools.js';
import { connect, end, mosquittoClient, mosquittoPub, Recorder, refused, writeIdentityFiles, type Endpoint, type Identity } from './support/clients.js';
import { quiet, until } from './support/harness.js';
import { apiCall } from './support/http.js';
import { makeCsr } from './support/pki.js';
import { run } from '../support/run.js';
import { TDS_PROVISION_CLI } from '../../../test/support/server.js';

const PRESENCE_TIMEOUT_SEC = 4;

describe.each(['mosquitto', 'embedded'] as const)('back end with %s', (kind) => {
  let b: Backend;
  let ep: Endpoint;
  const clients: MqttClient[] = [];
  const track = (c: MqttClient): MqttClient => {
    clients.push(c);
    return c;
  };
  const mac = (n: number): string => `a4:cf:12:0${kind === 'mosquitto' ? 1 : 2}:00:0${n}`;

  const provision = async (m: string): Promise<ProvisionResponse & Identity> => {
    const r = await b.server.client().provision({ mac_address: m, codigo: `GW-${m.slice(-2)}`, nome: `gateway ${m.replace(/:/g, "")}`, conta_id: b.server.contaId });
    return { ...r, certPem: r.certificate_pem, keyPem: r.private_key_pem! };
  };
  const gateway = (id: number): Promise<GatewayDetail> => b.server.client().getGateway(id);
  const reloads = (): number => (b.mosquitto?.output().match(/Reloading config/g) ?? []).length;
  const cliDir = tempDir('tds-e2e-cli-');

  beforeAll(async () => {
    b = await startBackend({ broker: kind, presenceTimeoutSec: PRESENCE_TIMEOUT_SEC, serverIdentity: true });
    ep = { host: b.broker.host, port: b.broker.port, caPem: b.broker.caPem };
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => end(c)));
    await b?.stop();
    cliDir.remove();
  });

  it('a provisioned device is online for the server and the monitor; telemetry is stored and served per account', async () => {
    const m = mac(1);
    const dev = await provision(m);
    const monitor = new Recorder(track(await connect(ep, b.monitor, { clientId: b.monitor.clientId })));
    await monitor.subscribe([topics.status('+'), topics.telemetry('+')]);
    const c = track(await connect(ep, dev, { clientId: m, will: { topic: topics.status(m), payload: Buffer.from('offline'), qos: 1, retain: true } }));
    await c.publishAsync(topics.status(m), 'online', { qos: 1, retain: true });
    for (let i = 0; i < 5; i++) {
      await c.publishAsync(topics.telemetry(m), JSON.stringify({ timestamp: new Date().toISOString(), valor: 10 + i, unidade: 'kWh', gateway_mac: m, firmware_version: '3.1.0', slave_id: 2, register: 100 }), { qos: 1 });
    }
    await monitor.waitFor((x) => x.topic === topics.status(m) && x.payload === 'online');
    await monitor.waitFor((x) => x.topic === topics.telemetry(m) && x.payload.includes('"valor":14'));

    const gw = await until('is_online + firmware_version', async () => {
      const g = await gateway(dev.gateway_id);
      return g.is_online && g.firmware_version === '3.1.0' && g;
    });
    expect(gw.last_seen).not.toBeNull();

    const url = `${b.server.apiUrl}/gateways/${dev.gateway_id}/telemetry/?since=${encodeURIComponent(new Date(Date.now() - 60_000).toISOString())}`;
    const t = await until('telemetry stored', async () => {
      const r = await apiCall<TelemetryResponse>(url, { token: b.server.tokens.auditor, caPem: b.server.caPem });
      return r.status === 200 && r.body.count === 5 && r.body;
    });
    expect(t.results.map((r) => r.valor)).toEqual([10, 11, 12, 13, 14]);
    expect(t.results[0]).toMatchObject({ unidade: 'kWh', slave_id: 2, register: 100, firmware_version: '3.1.0' });
    expect(t.mac_address).toBe(m);
    // paging
    const page = await apiCall<TelemetryResponse>(`${url}&limit=2`, { token: b.server.tokens.operator, caPem: b.server.caPem });
    expect(page.body.count).toBe(2);
    // The same through the typed client: the next page from `next`, and `since` as a Date.
    const api = b.server.client('operator');
    const next: TelemetryResponse = await api.telemetry(dev.gateway_id, { ...page.body.next!, limit: 2 });
    expect(next.results.map((r) => r.valor)).toEqual([12, 13]);
    expect((await api.telemetry(dev.gateway_id, { since: new Date(Date.now() - 60_000), limit: 3 })).results.map((r) => r.valor)).toEqual([10, 11, 12]);
    api.close();
    // another account never sees it; bad input is a 400 naming the field
    const other = await b.server.createAccount(`other ${kind}`);
    const foreign = await apiCall<{ error: string }>(url, { token: other.tokens.admin, caPem: b.server.caPem });
    expect(foreign.status).toBe(404);
    const bad = await apiCall<{ error: string; details?: { field?: string } }>(`${b.server.apiUrl}/gateways/${dev.gateway_id}/telemetry/?since=yesterday`, {
      token: b.server.tokens.operator,
      caPem: b.server.caPem,
    });
    expect(bad.status).toBe(400);
    expect(bad.body.details?.field).toBe('since');

    // graceful goodbye → offline for the server too
    await c.publishAsync(topics.status(m), 'offline', { qos: 1, retain: true });
    await end(c);
    await until('is_online = false', async () => !(await gateway(dev.gateway_id)).is_online);
  });

  it('revocation through the API: refused within 5 s, a live connection is cut off, the gateway is offline', async () => {
    const m = mac(2);
    const dev = await provision(m);
    const monitor = new Recorder(track(await connect(ep, b.monitor, { clientId: b.monitor.clientId })));
    await monitor.subscribe(topics.telemetry(m));
    const c = track(await connect(ep, dev, { clientId: m }));
    let kicked = false;
    c.on('close', () => (kicked = true));
    await c.publishAsync(topics.status(m), 'online', { qos: 1, retain: true });
    await c.publishAsync(topics.telemetry(m), JSON.stringify({ timestamp: Date.now(), valor: 1, unidade: 'V', gateway_mac: m }), { qos: 1 });
    await monitor.waitFor((x) => x.payload.includes('"valor":1'));
    await until('online', async () => (await gateway(dev.gateway_id)).is_online);

    const before = reloads();
    const t0 = Date.now();
    await b.server.client('admin').revoke(dev.gateway_id, 'keyCompromise');
    if (kind === 'mosquitto') await until('broker reload', async () => reloads() > before, 5_000);
    else await until('embedded broker disconnects the device', async () => kicked, 5_000);
    // The connection opened before the revocation gets nothing through any more.
    c.publish(topics.telemetry(m), JSON.stringify({ timestamp: Date.now(), valor: 2, unidade: 'V', gateway_mac: m }), { qos: 0 });
    await quiet(300);
    expect(monitor.messages.some((x) => x.payload.includes('"valor":2'))).toBe(false);
    // New connections with the revoked certificate are refused.
    expect(await refused(ep, dev, { clientId: m, timeoutMs: 2_000 })).toBeTruthy();
    expect(Date.now() - t0).toBeLessThan(5_000);
    await until('offline after revocation', async () => !(await gateway(dev.gateway_id)).is_online);

    // Provisioned again later (new certificate, same MAC): the deny entry is lifted.
    const reloadsBefore = reloads();
    const again = await provision(m);
    if (kind === 'mosquitto') await until('broker reload after re-provisioning', async () => reloads() > reloadsBefore, 5_000);
    const c2 = track(await connect(ep, again, { clientId: m }));
    await c2.publishAsync(topics.telemetry(m), JSON.stringify({ timestamp: Date.now(), valor: 3, unidade: 'V', gateway_mac: m }), { qos: 1 });
    await monitor.waitFor((x) => x.payload.includes('"valor":3'));
  });

  it('revoke immediately followed by a new provision of the same MAC: the new certificate is not left on the deny list', async () => {
    const m = mac(5);
    const first = await provision(m);
    const monitor = new Recorder(track(await connect(ep, b.monitor, { clientId: b.monitor.clientId })));
    await monitor.subscribe(topics.telemetry(m));
    // No wait between the two calls: the publication triggered by the revoke is still running when
    // the new certificate is issued.
    await b.server.client('admin').revoke(first.gateway_id, 'superseded');
    const again = await provision(m);
    // The bug this guards against left the MAC denied for good; the deadline only bounds a slow
    // machine's two back-to-back publications (validate, write, reload).
    const deadline = Date.now() + 15_000;
    let n = 0;
    for (;;) {
      n += 1;
      const c = await connect(ep, again, { clientId: m }).catch(() => undefined);
      if (c) {
        track(c);
        await c.publishAsync(topics.telemetry(m), JSON.stringify({ timestamp: Date.now(), valor: 100 + n, unidade: 'V', gateway_mac: m }), { qos: 1 }).catch(() => undefined);
        await quiet(300);
        if (monitor.messages.some((x) => x.payload.includes(`"valor":${100 + n}`))) break;
        await end(c);
      }
      if (Date.now() > deadline) {
        const acl = b.kitDir ? readFileSync(path.join(b.kitDir, 'acl.conf'), 'utf8') : '(embedded broker)';
        throw new Error(`the re-provisioned device never got a message through: still quarantined?\n${acl}`);
      }
      await quiet(200);
    }
    // And it stays allowed once every publication has settled.
    await quiet(1_000);
    const c = track(await connect(ep, again, { clientId: m }));
    await c.publishAsync(topics.telemetry(m), JSON.stringify({ timestamp: Date.now(), valor: 999, unidade: 'V', gateway_mac: m }), { qos: 1 });
    await monitor.waitFor((x) => x.payload.includes('"valor":999'));
  });

  it('renewal over MQTT, asked through the API: CSR (repeated = same certificate) → cert_update → reconnect → ack → old certificate refused', async () => {
    const m = mac(3);
    const dev = await provision(m);
    const device = new Recorder(track(await connect(ep, dev, { clientId: m })));
    await device.subscribe(topics.commands(m));

    // Asked with the typed client (202 answer) on one broker, with `tds-provision renew-cert --ask-device` on the other.
    let ask: RenewRequestedResponse;
    if (kind === 'mosquitto') {
      const api = b.server.client('operator');
      ask = await api.renew(dev.gateway_id, { ask_device: true });
      api.close();
    } else {
      const caFile = path.join(cliDir.path, 'ca.crt');
      writeFileSync(caFile, b.server.caPem);
      const r = await run(process.execPath, [TDS_PROVISION_CLI, '--api-url', b.server.apiUrl, '--ca-file', caFile, '--json', 'renew-cert', '--gateway-id', String(dev.gateway_id), '--ask-device'], {
        env: { TDS_PROVISION_CONFIG: path.join(cliDir.path, 'none.json'), TDS_API_TOKEN: b.server.tokens.operator },
      });
      expect(r.code, r.output).toBe(0);
      ask = JSON.parse(r.stdout) as RenewRequestedResponse;
    }
    expect(ask).toMatchObject({ gateway_id: dev.gateway_id, mac_address: m, status: 'requested' });
    const renewCmd = JSON.parse((await device.waitFor((x) => x.payload.includes('cert_renew'))).payload) as { cmd: string; id: string };
    expect(renewCmd).toEqual({ cmd: 'cert_renew', id: ask.command_id });

    // The device makes a new key; its first CSR "gets lost" and it sends the same one again.
    const csr = await makeCsr(m);
    const send = (): Promise<unknown> => device.client.publishAsync(topics.certCsr(m), JSON.stringify({ id: renewCmd.id, csr_pem: csr.csrPem }), { qos: 1 });
    await send();
    await device.waitFor((x) => x.payload.includes('cert_update'));
    await send();
    await until('second cert_update', async () => device.messages.filter((x) => x.payload.includes('cert_update')).length === 2);
    const updates = device.messages.filter((x) => x.payload.includes('cert_update')).map((x) => JSON.parse(x.payload) as { id: string; serial_number: string; certificate_pem: string; ca_pem: string });
    expect(updates[0]!.serial_number).toBe(updates[1]!.serial_number);
    expect(updates[0]!.id).toBe(renewCmd.id);
    expect(updates[0]!.serial_number).not.toBe(dev.serial_number);
    const fresh: Identity = { certPem: updates[0]!.certificate_pem, keyPem: csr.keyPem };

    // Until the ack, the old certificate keeps working (a lost cert_update locks nobody out).
    await end(device.client);
    await end(track(await connect(ep, dev, { clientId: m })));
    let detail = await gateway(dev.gateway_id);
    expect(detail.active_certificate?.serial_number).toBe(dev.serial_number);

    // Reconnect with the new certificate and acknowledge it.
    const renewed = track(await connect(ep, fresh, { clientId: m }));
    await renewed.publishAsync(topics.certAck(m), JSON.stringify({ id: renewCmd.id, serial_number: updates[0]!.serial_number }), { qos: 1 });
    detail = await until('new certificate active', async () => {
      const g = await gateway(dev.gateway_id);
      return g.active_certificate?.serial_number === updates[0]!.serial_number && g;
    });
    const old = detail.certificados.find((x) => x.serial_number === dev.serial_number);
    expect(old?.is_revoked).toBe(true);
    expect(old?.revoke_reason).toMatch(/^superseded/);
    // A repeated ack is harmless.
    await renewed.publishAsync(topics.certAck(m), JSON.stringify({ id: renewCmd.id, serial_number: updates[0]!.serial_number }), { qos: 1 });
    await end(renewed);
    // (A probe that still gets in takes over the client id, so the renewed session is closed first.)
    await until('old certificate refused by the broker', async () => (await refused(ep, dev, { clientId: m, timeoutMs: 1_500 }).catch(() => undefined)) !== undefined, 5_000);
    await end(track(await connect(ep, fresh, { clientId: m })));
  });

  it('renewal refusals: CSR for another MAC, ack of a foreign serial; ask_device for an unknown gateway is 404', async () => {
    const m = mac(4);
    const dev = await provision(m);
    const device = new Recorder(track(await connect(ep, dev, { clientId: m })));
    await device.subscribe(topics.commands(m));
    const wrong = await makeCsr(mac(5));
    await device.client.publishAsync(topics.certCsr(m), JSON.stringify({ id: 'r-wrong', csr_pem: wrong.csrPem }), { qos: 1 });
    await device.client.publishAsync(topics.certAck(m), JSON.stringify({ id: 'r-wrong', serial_number: dev.serial_number.replace(/.$/, (x) => (x === '0' ? '1' : '0')) }), { qos: 1 });
    await quiet(700);
    expect(device.messages.filter((x) => x.payload.includes('cert_update'))).toEqual([]);
    expect((await gateway(dev.gateway_id)).active_certificate?.serial_number).toBe(dev.serial_number);
    const r = await apiCall<{ error: string }>(`${b.server.apiUrl}/gateways/999999/renew/`, { method: 'POST', token: b.server.tokens.operator, caPem: b.server.caPem, body: { ask_device: true } });
    expect(r.status).toBe(404);
  });

  it('service identities from the CLI: a second monitor reads statuses but cannot command, a server identity can; a revoked monitor is refused', async () => {
    const dir = `${b.server.dataDir}/../monitor-two`;
    const out = JSON.parse((await b.server.cli(['identity', 'create', 'station', '--name', 'two', '--out', dir, '--json'])).stdout) as { cn: string; files: { cert: string; key: string } };
    expect(out.cn).toBe('station-monitor-two');
    const two: Identity = { certPem: readFileSync(out.files.cert, 'utf8'), keyPem: readFileSync(out.files.key, 'utf8') };
    const m = mac(8);
    const dev = new Recorder(track(await connect(ep, await provision(m), { clientId: m })));
    await dev.subscribe(topics.commands(m));
    await dev.client.publishAsync(topics.status(m), 'online', { qos: 1, retain: true });
    const mon = new Recorder(track(await connect(ep, two, { clientId: out.cn })));
    await mon.subscribe(topics.status('+'));
    await mon.waitFor((x) => x.topic === topics.status(m) && x.payload === 'online');
    // The extra server identity of startBackend may command devices; a monitor may not.
    mon.client.publish(topics.commands(m), JSON.stringify({ cmd: 'reboot', id: 'from-monitor' }), { qos: 0 });
    const ops = track(await connect(ep, b.serverIdentity!, { clientId: b.serverIdentity!.clientId }));
    await ops.publishAsync(topics.commands(m), JSON.stringify({ cmd: 'ping', id: 'from-ops' }), { qos: 1 });
    await dev.waitFor((x) => x.payload.includes('from-ops'));
    expect(dev.messages.some((x) => x.payload.includes('from-monitor'))).toBe(false);
    await end(mon.client);
    // The CA refuses MAC-shaped service names.
    const bad = await b.server.cli(['identity', 'create', 'station', '--name', 'a4cf12000001'], { allowFailure: true });
    expect(bad.code).not.toBe(0);
    expect(bad.output).toMatch(/looks like a MAC/);
    await b.server.cli(['identity', 'revoke', '--cn', out.cn]);
    // A running server notices a CRL signed by the CLI within a minute; the kit on this host at once.
    if (kind === 'mosquitto') {
      await until('monitor two refused', async () => (await refused(ep, two, { clientId: out.cn, timeoutMs: 1_500 }).catch(() => undefined)) !== undefined, 5_000);
    }
  });
  it('independent clients: mosquitto_pub / mosquitto_sub with the files the server issued', async () => {
    const files = tempDir('tds-cli-clients-');
    try {
      const m = mac(6);
      const dev = await provision(m);
      const mon = writeIdentityFiles(files.path, 'monitor', ep, b.monitor);
      const devFiles = writeIdentityFiles(files.path, 'device', ep, dev);
      const sub = mosquittoClient('mosquitto_sub', ep, mon, ['-i', b.monitor.clientId, '-t', topics.telemetry('+'), '-v', '-q', '1']);
      try {
        await quiet(300);
        const body = JSON.stringify({ timestamp: Date.now(), valor: 42, unidade: 'A', gateway_mac: m });
        const pub = await mosquittoPub(ep, devFiles, ['-i', m, '-t', topics.telemetry(m), '-m', body, '-q', '1']);
        expect(pub.code, pub.output).toBe(0);
        await sub.waitForOutput(new RegExp(`${topics.telemetry(m)} .*"valor":42`), 5_000);
      } finally {
        await sub.stop();
      }
    } finally {
      files.remove();
    }
  });

  it.runIf(kind === 'mosquitto')('the kit made by `tds-server broker-kit`: files and modes, openssl-valid broker certificate and published CRL, ACL', async () => {
    const kit = b.kitDir!;
    const revoked = await provision(mac(7));
    const before = reloads();
    await b.server.client('admin').revoke(revoked.gateway_id, 'keyCompromise');
    await until('broker reload', async () => reloads() > before, 5_000);
    const mode = (f: string): number => statSync(path.join(kit, f)).mode & 0o777;
    expect(mode('broker.key')).toBe(0o600);
    for (const f of ['mosquitto.conf', 'acl.conf', 'ca.crt', 'broker.crt', 'crl.pem', 'README.md']) expect(statSync(path.join(kit, f)).isFile()).toBe(true);
    const openssl = requireTool('openssl', 'openssl');
    const ossl = async (a: string[]): Promise<string> => {
      const r = await run(openssl, a);
      expect(r.code, r.output).toBe(0);
      return r.output;
    };
    expect(await ossl(['verify', '-CAfile', path.join(kit, 'ca.crt'), '-purpose', 'sslserver', path.join(kit, 'broker.crt')])).toMatch(/OK/);
    const text = await ossl(['x509', '-in', path.join(kit, 'broker.crt'), '-noout', '-text']);
    expect(text).toMatch(/DNS:localhost/);
    expect(text).toMatch(/IP Address:127\.0\.0\.1/);
    expect(text).toMatch(/TLS Web Server Authentication/);
    // The CRL the server published after the revocation: valid, and it lists it.
    expect(await ossl(['crl', '-in', path.join(kit, 'crl.pem'), '-noout', '-CAfile', path.join(kit, 'ca.crt')])).toMatch(/verify OK/);
    const crl = await ossl(['crl', '-in', path.join(kit, 'crl.pem'), '-noout', '-text']);
    expect(crl).toMatch(/Key Compromise/);
    const acl = readFileSync(path.join(kit, 'acl.conf'), 'utf8');
    expect(acl).toMatch(/^user tds-server-main$/m);
    expect(acl).toMatch(/^user station-monitor-e2e$/m);
    expect(acl).toMatch(new RegExp(`^user ${mac(7)}\ntopic deny #$`, 'm'));
    expect(acl).not.toMatch(/^\s*pattern\s+read\s+#\s*$/m);
    expect(readFileSync(path.join(kit, 'mosquitto.conf'), 'utf8')).toMatch(/^use_username_as_clientid true$/m);
  });
});
