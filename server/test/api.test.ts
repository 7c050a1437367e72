import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { unzipSync, strFromU8 } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, ApiError, ServerUnreachableError, createDeviceCsr, type ProvisionResponse } from '@tds/server';
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
    expect(Object.keys(doc.paths as object)).toEqual(expect.arrayContaining(['/gateways/provision/', '/gateways/{id}/revoke/', '/audit/']));
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
