import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { unzipSync, strFromU8 } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, ApiError, ServerUnreachableError, createDeviceCsr, type PendingRenewResponse, type ProvisionResponse } from '@tds/server';
import { freePort } from '../../test/support/ports.js';
import { startTestServer, type TestServer } from '../../test/support/server.js';
import { tempDir } from '../../test/support/temp.js';
import { OpenSsl, extensionBlock } from './support/openssl.js';

// One real server (compiled CLI, HTTPS on loopback) for the whole file.
let server: TestServer;
let operator: ApiClient;
const work = tempDir('tds-api-test-');
const ossl = new OpenSsl(work.path);

beforeAll(async () => {
  server = await startTestServer({ mqttBroker: 'mqtt.test.local', mqttPort: 18883 });
  operator = server.client('operator');
});
afterAll(async () => {
  operator?.close();
  await server?.stop();
  work.remove();
});

let macSeq = 0x10;
const nextMac = (): string => `02:00:00:aa:00:${(macSeq++).toString(16).padStart(2, '0')}`;

describe('REST API against the real server', () => {
  it('provisions from a CSR: seed fields, openssl-valid chain, CRL check before and after revocation', async () => {
    const mac = nextMac();
    const { csrPem } = await createDeviceCsr({ mac });
    const r = await operator.provision({ mac_address: mac, codigo: 'GW001', nome: 'Gateway Sede Principal', conta_id: server.contaId, csr_pem: csrPem });
    expect(r.private_key_pem).toBeUndefined();
    expect(r).toMatchObject({ mqtt_broker: 'mqtt.test.local', mqtt_port: 18883, mqtt_topic: `tds_new/devices/${mac}/telemetry`, ca_pem: server.caPem });
    expect(r.serial_number).toMatch(/^[0-9A-F]{32}$/);
    expect(Date.parse(r.expires_at)).toBeGreaterThan(Date.now() + 9.9 * 365 * 86_400_000);
    const crlBefore = await operator.getCrlPem();
    expect((await ossl.verify(server.caPem, r.certificate_pem, crlBefore)).ok).toBe(true);
    const text = await ossl.text(r.certificate_pem);
    expect(extensionBlock(text, 'Subject Alternative Name')?.value).toBe(`DNS:${mac.replace(/:/g, '')}.devices.tds.com.br`);

    const revoked = await operator.revoke(r.gateway_id, 'keyCompromise');
    expect(revoked.revoked).toEqual([expect.objectContaining({ serial_number: r.serial_number, reason: 'keyCompromise' })]);
    const crlAfter = await operator.getCrlPem();
    const { text: crlText } = await ossl.crlText(crlAfter, server.caPem);
    expect(crlText).toMatch(new RegExp(`X509v3 CRL Number:\\s*\\n\\s*${revoked.crl_number}`));
    const v = await ossl.verify(server.caPem, r.certificate_pem, crlAfter);
    expect(v.ok).toBe(false);
    expect(v.output).toMatch(/certificate revoked/);
  });

  it('server keygen returns the key once; the gateway shows its certificates', async () => {
    const mac = nextMac().toUpperCase().replace(/:/g, '-');
    const r = await operator.provision({ mac_address: mac, codigo: 'GW002', nome: 'Gateway Filial', conta_id: server.contaId });
    expect(r.private_key_pem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(r.mac_address).toBe(mac.toLowerCase().replace(/-/g, ':'));
    expect(r.notices?.[0]).toMatch(/normalised/);
    const detail = await operator.getGateway(r.gateway_id);
    expect(detail).toMatchObject({ id: r.gateway_id, codigo: 'GW002', mac: r.mac_address, conta_id: server.contaId, private_key_available: false });
    expect(detail.certificados).toHaveLength(1);
    expect(detail.active_certificate?.key_origin).toBe('server');
    // No ZIP key for the API path: the key was already returned.
    const zip = unzipSync(new Uint8Array((await operator.downloadCertificates(r.gateway_id)).zip));
    expect(Object.keys(zip).sort()).toEqual(['README.txt', 'ca.crt', 'client.crt']);
    expect(strFromU8(zip['client.crt']!)).toBe(r.certificate_pem);
  });

  it('renew supersedes the old certificate (revoked in the CRL as superseded)', async () => {
    const mac = nextMac();
    const first = await operator.provision({ mac_address: mac, codigo: 'GW003', nome: 'Renew me', conta_id: server.contaId });
    const { csrPem } = await createDeviceCsr({ mac });
    const second: ProvisionResponse = await operator.renew(first.gateway_id, { csr_pem: csrPem, key_origin: 'station' });
    expect(second.gateway_id).toBe(first.gateway_id);
    expect(second.serial_number).not.toBe(first.serial_number);
    const crl = await operator.getCrlPem();
    expect((await ossl.verify(server.caPem, first.certificate_pem, crl)).ok).toBe(false);
    expect((await ossl.verify(server.caPem, second.certificate_pem, crl)).ok).toBe(true);
    const { text } = await ossl.crlText(crl, server.caPem);
    const entry = text.slice(text.indexOf(`Serial Number: ${first.serial_number}`));
    expect(entry.slice(0, 300)).toContain('Superseded');
    const detail = await operator.getGateway(first.gateway_id);
    expect(detail.certificados.map((c) => c.status)).toEqual(['active', 'revoked']);
    expect(detail.active_certificate?.key_origin).toBe('station');
  });

  describe('renewal with a pending successor (field re-provisioning)', () => {
    const crlNumberOf = async (crl: string): Promise<number> => Number(/X509v3 CRL Number:\s*\n\s*(\d+)/.exec((await ossl.crlText(crl, server.caPem)).text)?.[1]);
    const valid = async (certPem: string, crl: string): Promise<boolean> => (await ossl.verify(server.caPem, certPem, crl)).ok;

    it('the old certificate stays valid (openssl -crl_check) until confirm; then it is revoked as superseded; confirm is idempotent', async () => {
      const mac = nextMac();
      const old = await operator.provision({ mac_address: mac, codigo: 'GW020', nome: 'Pi de campo', conta_id: server.contaId });
      const { csrPem } = await createDeviceCsr({ mac });
      const fresh: PendingRenewResponse = await operator.renewPending(old.gateway_id, { csr_pem: csrPem, key_origin: 'station' });
      expect(fresh).toMatchObject({ gateway_id: old.gateway_id, status: 'pending', replaces_serial_number: old.serial_number, mac_address: mac, ca_pem: server.caPem });
      expect(fresh.private_key_pem).toBeUndefined();
      expect(fresh.serial_number).not.toBe(old.serial_number);
      let crl = await operator.getCrlPem();
      expect(await valid(old.certificate_pem, crl)).toBe(true);
      expect(await valid(fresh.certificate_pem, crl)).toBe(true);
      let detail = await operator.getGateway(old.gateway_id);
      expect(detail.active_certificate?.serial_number).toBe(old.serial_number);
      expect(detail.certificados.map((c) => [c.serial_number, c.status])).toEqual([
        [fresh.serial_number, 'pending'],
        [old.serial_number, 'active'],
      ]);
      // The MAC is still taken while its renewal is in flight.
      const dup = await operator.provision({ mac_address: mac, codigo: 'GW020', nome: 'x', conta_id: server.contaId }).catch((e: unknown) => e);
      expect((dup as ApiError).status).toBe(409);

      const confirmed = await operator.confirmRenewal(old.gateway_id, fresh.serial_number.toLowerCase());
      expect(confirmed).toMatchObject({
        gateway_id: old.gateway_id,
        serial_number: fresh.serial_number,
        status: 'active',
        already_confirmed: false,
        superseded: { serial_number: old.serial_number, reason: 'superseded' },
      });
      crl = await operator.getCrlPem();
      expect(await crlNumberOf(crl)).toBe(confirmed.crl_number);
      const oldCheck = await ossl.verify(server.caPem, old.certificate_pem, crl);
      expect(oldCheck.ok).toBe(false);
      expect(oldCheck.output).toMatch(/certificate revoked/);
      expect(await valid(fresh.certificate_pem, crl)).toBe(true);
      const { text } = await ossl.crlText(crl, server.caPem);
      expect(text.slice(text.indexOf(`Serial Number: ${old.serial_number}`)).slice(0, 300)).toContain('Superseded');
      detail = await operator.getGateway(old.gateway_id);
      expect(detail.active_certificate).toMatchObject({ serial_number: fresh.serial_number, key_origin: 'station' });

      // Repeated confirmation (e.g. the answer was lost): same answer, nothing changes, no new CRL.
      const again = await operator.confirmRenewal(old.gateway_id, fresh.serial_number);
      expect(again).toEqual({ ...confirmed, already_confirmed: true });
      expect(await operator.getCrlPem()).toBe(crl);

      const auditor = server.client('auditor');
      const trail = (await auditor.listAudit({ page_size: 50 })).results.filter((e) => e.detail?.includes(`gateway=${old.gateway_id}`));
      auditor.close();
      expect(trail.map((e) => [e.action, e.result])).toEqual([
        ['certificate.activate', 'ok'],
        ['certificate.activate', 'ok'],
        ['certificate.renew_pending', 'ok'],
      ]);
      expect(trail.every((e) => e.conta_id === server.contaId && e.source_ip === '127.0.0.1' && /^token:\d+$/.test(e.actor))).toBe(true);
      expect(trail[0]!.detail).toMatch(/already active/);
    });

    it('cancel revokes only the pending certificate (the old one stays valid) and is idempotent; a cancelled one cannot be confirmed', async () => {
      const mac = nextMac();
      const old = await operator.provision({ mac_address: mac, codigo: 'GW021', nome: 'Rollback', conta_id: server.contaId });
      const fresh = await operator.renewPending(old.gateway_id); // server-made key, returned once
      expect(fresh.private_key_pem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
      const cancelled = await operator.cancelRenewal(old.gateway_id, fresh.serial_number);
      expect(cancelled).toMatchObject({
        gateway_id: old.gateway_id,
        serial_number: fresh.serial_number,
        status: 'revoked',
        reason: 'cessationOfOperation',
        already_cancelled: false,
        active_serial_number: old.serial_number,
      });
      const crl = await operator.getCrlPem();
      expect(await crlNumberOf(crl)).toBe(cancelled.crl_number);
      expect(await valid(old.certificate_pem, crl)).toBe(true);
      expect(await valid(fresh.certificate_pem, crl)).toBe(false);
      expect(await operator.cancelRenewal(old.gateway_id, fresh.serial_number)).toEqual({ ...cancelled, already_cancelled: true });
      const confirm = await operator.confirmRenewal(old.gateway_id, fresh.serial_number).catch((e: unknown) => e);
      expect(confirm).toBeInstanceOf(ApiError);
      expect((confirm as ApiError).status).toBe(409);
      expect((confirm as ApiError).error).toMatch(/is revoked \(cessationOfOperation: pending renewal cancelled\) and cannot be confirmed/);
      const nothing = await operator.cancelRenewal(old.gateway_id).catch((e: unknown) => e);
      expect((nothing as ApiError).status).toBe(409);
      expect((nothing as ApiError).error).toBe(`gateway ${old.gateway_id} has no certificate waiting for confirmation`);
      expect((await operator.getGateway(old.gateway_id)).active_certificate?.serial_number).toBe(old.serial_number);
    });

    it('a second pending renewal replaces the unconfirmed one; a plain renew replaces both; the seed default is unchanged', async () => {
      const mac = nextMac();
      const old = await operator.provision({ mac_address: mac, codigo: 'GW022', nome: 'Retry', conta_id: server.contaId });
      const first = await operator.renewPending(old.gateway_id, { csr_pem: (await createDeviceCsr({ mac })).csrPem });
      const second = await operator.renewPending(old.gateway_id, { csr_pem: (await createDeviceCsr({ mac })).csrPem });
      expect(second.notices).toContain(`the unconfirmed certificate ${first.serial_number} was revoked (superseded) and replaced by this one`);
      let crl = await operator.getCrlPem();
      expect(await valid(first.certificate_pem, crl)).toBe(false);
      expect(await valid(second.certificate_pem, crl)).toBe(true);
      expect(await valid(old.certificate_pem, crl)).toBe(true);
      // No "pending" flag: the seed's renew, same answer shape; the active and the pending one are superseded.
      const plain = await operator.renew(old.gateway_id, {});
      expect(Object.keys(plain).sort()).toEqual(Object.keys(old).sort());
      crl = await operator.getCrlPem();
      expect(await valid(old.certificate_pem, crl)).toBe(false);
      expect(await valid(second.certificate_pem, crl)).toBe(false);
      expect(await valid(plain.certificate_pem, crl)).toBe(true);
      const statuses = (await operator.getGateway(old.gateway_id)).certificados.map((c) => c.status);
      expect(statuses).toEqual(['active', 'revoked', 'revoked', 'revoked']);
    });
  });

  it('CSV import: the server-made key is in the first ZIP only, sealed until then', async () => {
    const macs = [nextMac(), nextMac()];
    const csv = `mac_address,codigo,nome\n${macs[0]},GW010,Linha 1\n${macs[1]!.toUpperCase()},GW011,"Linha 2, fundos"\n`;
    const imported = await operator.importCsv(csv);
    expect(imported.created).toBe(2);
    expect(imported.rows.map((r) => r.mac_address)).toEqual(macs);
    const id = imported.rows[0]!.gateway_id!;
    expect((await operator.getGateway(id)).private_key_available).toBe(true);
    const first = await operator.downloadCertificates(id);
    expect(first.filename).toBe(`${macs[0]}_certificados.zip`);
    const files = unzipSync(new Uint8Array(first.zip));
    expect(Object.keys(files).sort()).toEqual(['README.txt', 'ca.crt', 'client.crt', 'client.key']);
    const cert = strFromU8(files['client.crt']!);
    const key = strFromU8(files['client.key']!);
    const fromCert = await ossl.run(['x509', '-noout', '-pubkey', '-in', ossl.file(cert)]);
    const fromKey = await ossl.run(['pkey', '-pubout', '-in', ossl.file(key)]);
    expect(fromCert.stdout).toBe(fromKey.stdout);
    expect(strFromU8(files['README.txt']!)).toContain('mqtt.test.local:18883');
    const second = unzipSync(new Uint8Array((await operator.downloadCertificates(id)).zip));
    expect(Object.keys(second)).not.toContain('client.key');
    expect((await operator.getGateway(id)).private_key_available).toBe(false);
  });

  it('lists with pagination, filters and search', async () => {
    const page1 = await operator.listGateways({ page_size: 2 });
    expect(page1.count).toBeGreaterThanOrEqual(4);
    expect(page1.results).toHaveLength(2);
    expect(page1.next).toContain('page=2');
    expect(page1.previous).toBeNull();
    const all = await operator.listAllGateways({ page_size: 2 });
    expect(all).toHaveLength(page1.count);
    expect((await operator.listGateways({ codigo: 'GW011' })).results.map((g) => g.codigo)).toEqual(['GW011']);
    expect((await operator.listGateways({ search: 'fundos' })).count).toBe(1);
    expect((await operator.listGateways({ search: '%' })).count).toBe(0);
  });

  it('audit log: who, what, result, source address; never a key or a token', async () => {
    const auditor = server.client('auditor');
    const page = await auditor.listAudit({ page_size: 200 });
    const actions = new Set(page.results.map((e) => e.action));
    for (const a of ['gateway.provision', 'certificate.revoke', 'certificate.renew', 'gateway.import', 'device_key.download', 'certificate.download']) {
      expect(actions).toContain(a);
    }
    const provision = page.results.find((e) => e.action === 'gateway.provision')!;
    expect(provision).toMatchObject({ conta_id: server.contaId, result: 'ok', source_ip: '127.0.0.1' });
    expect(provision.actor).toMatch(/^token:\d+$/);
    const dump = JSON.stringify(page);
    expect(dump).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE/);
    for (const t of Object.values(server.tokens)) expect(dump).not.toContain(t);
    auditor.close();
  });

  it('serves the CA, an OpenAPI document generated from the schemas, and JSON errors', async () => {
    const anon = server.client(null);
    expect(await anon.getCaPem()).toBe(server.caPem);
    const doc = await anon.getOpenApi();
    expect(doc.openapi).toBe('3.1.0');
    const schemas = (doc.components as { schemas: Record<string, { properties?: Record<string, unknown> }> }).schemas;
    expect(Object.keys(schemas.ProvisionRequest!.properties!)).toEqual(expect.arrayContaining(['mac_address', 'codigo', 'nome', 'conta_id', 'csr_pem']));
    expect(Object.keys(doc.paths as object)).toEqual(
      expect.arrayContaining(['/gateways/provision/', '/gateways/{id}/revoke/', '/gateways/{id}/renew/confirm/', '/gateways/{id}/renew/cancel/', '/audit/']),
    );
    expect(Object.keys(schemas.RenewRequest!.properties!)).toEqual(expect.arrayContaining(['csr_pem', 'ask_device', 'pending']));
    expect(Object.keys(schemas.RenewConfirmRequest!.properties!)).toEqual(['serial_number']);
    expect(Object.keys(schemas.PendingRenewResponse!.properties!)).toEqual(expect.arrayContaining(['serial_number', 'status', 'replaces_serial_number']));
    const err = await anon.listGateways().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(401);
    anon.close();
  });

  it('the HTTPS certificate of the API verifies with openssl against the CA (serverAuth, IP SAN)', async () => {
    const port = new URL(server.url).port;
    const caFile = ossl.file(server.caPem, 'ca');
    const r = await ossl.run(['s_client', '-connect', `127.0.0.1:${port}`, '-CAfile', caFile, '-verify_ip', '127.0.0.1', '-verify_return_error', '-purpose', 'sslserver', '-showcerts'], '');
    expect(r.output).toMatch(/Verify return code: 0 \(ok\)/);
    const leaf = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(r.stdout)![0];
    const text = await ossl.text(leaf);
    expect(extensionBlock(text, 'Extended Key Usage')).toEqual({ critical: true, value: 'TLS Web Server Authentication' });
    expect(extensionBlock(text, 'Subject Alternative Name')?.value).toContain('IP Address:127.0.0.1');
  });

  it('no plaintext private key is stored anywhere in the data folder', async () => {
    const r = await operator.provision({ mac_address: nextMac(), codigo: 'GW099', nome: 'Key check', conta_id: server.contaId });
    const keyBody = r.private_key_pem!.split('\n').slice(1, -2).join('');
    await operator.importCsv(`mac_address,codigo,nome\n${nextMac()},GW098,Sealed key\n`); // a sealed key is waiting
    for (const f of readdirSync(server.dataDir)) {
      const bytes = readFileSync(path.join(server.dataDir, f)).toString('latin1');
      expect(bytes, f).not.toMatch(/PRIVATE KEY-----/);
      expect(bytes, f).not.toContain(keyBody.slice(0, 48));
    }
  });

  it('the client tells "server unreachable" apart, including a TLS pin mismatch', async () => {
    const port = await freePort();
    const down = new ApiClient({ baseUrl: `https://127.0.0.1:${port}/api/v1`, token: 'x', timeoutMs: 2000 });
    const e1 = await down.health().catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(ServerUnreachableError);
    expect((e1 as ServerUnreachableError).reason).toBe('refused');
    const other = await ossl.run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=other', '-keyout', `${work.path}/o.key`, '-days', '1']);
    const wrongPin = new ApiClient({ baseUrl: server.apiUrl, caPem: other.stdout, timeoutMs: 5000 });
    const e2 = await wrongPin.health().catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(ServerUnreachableError);
    expect((e2 as ServerUnreachableError).reason).toBe('tls');
    down.close();
    wrongPin.close();
  });
});
