import { createPublicKey } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, createApiToken, dataPath, initServerData, loadSettings, startServer, type CertificateIssuedEvent, type RunningServer } from '@tds/server';
import { formatCode, normaliseCode, parseClaimQr } from '@tds/server/contract';
import { tempDir } from '../../test/support/temp.js';
import { refusal } from './support/refusal.js';
import { OpenSsl, extensionBlock } from './support/openssl.js';
import { run } from './support/run.js';
import { ScriptedDevice } from './support/scripted-device.js';

/**
 * Zero-touch onboarding end to end at the API level (docs/zero-touch.md): a real server in process
 * over HTTPS on a clock the test moves, devices scripted in the test with real keys, CSRs and
 * signatures, the certificates judged by openssl, the CLIs run from their compiled output.
 */
const PASS = 'zero-touch test passphrase';
const TDS_SERVER = path.resolve(import.meta.dirname, '../dist/cli/tds-server.js');
const TDS_PROVISION = path.resolve(import.meta.dirname, '../dist/cli/tds-provision.js');
const MIN = 60_000;
const dir = tempDir('tds-zero-touch-');
const dataDir = path.join(dir.path, 'data');
let offset = 0;
let server: RunningServer;
let ossl: OpenSsl;
let a: { client: ApiClient; accountId: number; token: string };
let b: { client: ApiClient; accountId: number; token: string };
const issued: CertificateIssuedEvent[] = [];
const devices: ScriptedDevice[] = [];

async function account(name: string): Promise<{ client: ApiClient; accountId: number; token: string }> {
  const acc = await server.repo.createAccount(name, { at: '2026-01-01T00:00:00Z', accountId: null, actor: 'test', action: 'account.create', object: null, sourceIp: null, result: 'ok', detail: null });
  const { token } = await createApiToken(server.repo, { accountId: acc.id, role: 'operator' }, 'test');
  return { client: new ApiClient({ baseUrl: server.apiUrl, caPem: server.caPem, token }), accountId: acc.id, token };
}

async function device(mac: string, keyType: 'ec' | 'rsa' = 'ec'): Promise<ScriptedDevice> {
  // The device's clock is an hour off (no RTC, no SNTP yet): its poll timestamps come from server_time.
  const d = await ScriptedDevice.create(mac, { apiUrl: server.apiUrl, caPem: server.caPem, keyType, clock: () => Date.now() + offset - 3_600_000 });
  devices.push(d);
  return d;
}

/** A device with a birth identity issued by account A's bench. */
async function benchBorn(mac: string, keyType: 'ec' | 'rsa' = 'ec'): Promise<{ device: ScriptedDevice; label: string; serial: string }> {
  const birth = await ScriptedDevice.birthCsr(mac, keyType);
  const r = await a.client.issueBirthIdentity({ mac_address: mac, csr_pem: birth.csrPem, model: 'ESP32-D0WD-V3' });
  const d = await device(mac, keyType);
  d.birth = { certificatePem: r.birth_certificate_pem, key: birth.key };
  return { device: d, label: r.label_qr, serial: r.serial_number };
}

function db(): Database.Database {
  return new Database(path.join(dataDir, 'tds-server.db'), { readonly: true });
}

function requestRow(id: string): { status: string; status_reason: string | null; account_id: number | null } {
  const d = db();
  try {
    return d.prepare('SELECT status, status_reason, account_id FROM bootstrap_requests WHERE id = ?').get(id) as { status: string; status_reason: string | null; account_id: number | null };
  } finally {
    d.close();
  }
}

function cli(bin: string, args: string[], env: Record<string, string> = {}) {
  return run(process.execPath, [bin, ...args], { env: { TDS_CA_PASSPHRASE: PASS, ...env } });
}

beforeAll(async () => {
  ossl = new OpenSsl(dir.path);
  await initServerData({ dataDir, passphrase: PASS });
  server = await startServer({ dataDir, passphrase: PASS, port: 0, clock: () => new Date(Date.now() + offset), logger: { info() {}, warn() {}, error() {} } });
  server.events.on('certificate.issued', (e) => void issued.push(e));
  a = await account('A');
  b = await account('B');
});

afterAll(async () => {
  for (const d of devices) d.close();
  a?.client.close();
  b?.client.close();
  await server?.close();
  dir.remove();
});

describe('the birth CA and birth identities', () => {
  it('init makes a birth CA next to the device CA: its own sealed key (0600, its own content label) and CRL, not the device CA', async () => {
    const birthCa = readFileSync(dataPath(dataDir, 'birthCaCert'), 'utf8');
    expect(birthCa).not.toBe(server.caPem);
    expect(statSync(dataPath(dataDir, 'birthCaKey')).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(dataPath(dataDir, 'birthCaKey'), 'utf8')).content).toBe('birth-ca-key-pkcs8');
    expect((await ossl.run(['x509', '-noout', '-subject', '-in', ossl.file(birthCa)])).stdout).toMatch(/CN ?= ?TDS IoT Birth CA/);
    const crl = await ossl.crlText(readFileSync(dataPath(dataDir, 'birthCrl'), 'utf8'), birthCa);
    expect(crl.ok, crl.text).toBe(true);
    expect(await a.client.getBirthCaPem()).toBe(birthCa);
  });

  it('a birth certificate: CN = MAC, digitalSignature, only the birth EKU, the birth policy; valid under the birth CA, not under the device CA; the claim secret is stored only as a hash', async () => {
    const mac = '02:b1:00:00:00:01';
    const birth = await ScriptedDevice.birthCsr(mac);
    const r = await a.client.issueBirthIdentity({ mac_address: mac, csr_pem: birth.csrPem });
    const birthCa = await a.client.getBirthCaPem();
    expect((await ossl.verify(birthCa, r.birth_certificate_pem)).ok).toBe(true);
    expect((await ossl.verify(server.caPem, r.birth_certificate_pem)).ok).toBe(false);
    // A TLS client purpose check fails even against its own CA: the EKU has no clientAuth.
    const purpose = await ossl.run(['verify', '-purpose', 'sslclient', '-CAfile', ossl.file(birthCa), ossl.file(r.birth_certificate_pem)]);
    expect(purpose.code, purpose.output).not.toBe(0);
    const text = await ossl.text(r.birth_certificate_pem);
    expect(text).toMatch(new RegExp(`Subject:.*CN ?= ?${mac}`));
    expect(extensionBlock(text, 'Extended Key Usage')).toEqual({ critical: true, value: '2.25.74961606456411313147034430486448312649.2' });
    expect(extensionBlock(text, 'Key Usage')).toEqual({ critical: true, value: 'Digital Signature' });
    expect(extensionBlock(text, 'Certificate Policies')?.value).toMatch(/Policy: 2\.25\.74961606456411313147034430486448312649\.1/);
    expect(extensionBlock(text, 'Basic Constraints')).toEqual({ critical: true, value: 'CA:FALSE' });
    expect(createPublicKey(r.birth_certificate_pem).export({ type: 'spki', format: 'der' })).toEqual(createPublicKey(birth.key).export({ type: 'spki', format: 'der' }));
    // The label QR carries MAC + secret; the secret is 26 characters of the code alphabet.
    const qr = parseClaimQr(r.label_qr);
    expect(qr).toEqual({ ok: true, kind: 'label', mac, claimSecret: r.claim_secret });
    expect(r.claim_secret).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    const bytes = readFileSync(path.join(dataDir, 'tds-server.db'));
    expect(bytes.includes(Buffer.from(r.claim_secret))).toBe(false);
    // A second one for the MAC needs "replace"; replacing revokes the first (birth CRL).
    expect((await refusal(a.client.issueBirthIdentity({ mac_address: mac, csr_pem: birth.csrPem }))).status).toBe(409);
    const again = await a.client.issueBirthIdentity({ mac_address: mac, csr_pem: birth.csrPem, replace: true });
    const crl = await a.client.getBirthCrlPem();
    expect((await ossl.verify(birthCa, r.birth_certificate_pem, crl)).ok).toBe(false);
    expect((await ossl.verify(birthCa, again.birth_certificate_pem, crl)).ok).toBe(true);
    // The device CA's CRL does not list birth serials.
    expect((await ossl.crlText(await a.client.getCrlPem(), server.caPem)).text).not.toContain(r.serial_number);
  });
});

describe('the attested path (bench-born device, label QR)', () => {
  it('nonce → bootstrap with the birth key → 202 + Retry-After → slow-down → preview → claim → 200 with certificate, CA and broker; openssl accepts it', async () => {
    const mac = '02:b1:00:00:01:01';
    const { device: d, label } = await benchBorn(mac);
    const r = await d.bootstrapAttested({ model: 'ESP32-D0WD-V3 rev3', firmware_version: '1.4.0' });
    expect(r).toMatchObject({ status: 'pending', path: 'attested', mac_address: mac, poll_interval: 5, expires_in: 1800 });
    expect(r.activation_code).toBeUndefined();
    expect(r.bootstrap_id).toMatch(/^[0-9a-f]{32}$/);
    expect(r.poll_url).toBe(`/api/v1/gateways/bootstrap/${r.bootstrap_id}/`);
    expect(Math.abs(r.server_time - Date.now() / 1000)).toBeLessThan(5);
    const fp = createPublicKey(d.key);
    const first = await d.poll();
    expect(first).toMatchObject({ status: 'pending', retryAfterSeconds: 5, body: { status: 'pending', poll_interval: 5 } });
    expect(await d.poll()).toEqual({ status: 'slow_down', retryAfterSeconds: expect.any(Number) });

    const preview = await a.client.claimPreview({ qr: label });
    expect(preview).toMatchObject({
      bootstrap_id: r.bootstrap_id,
      status: 'pending',
      path: 'attested',
      mac_address: mac,
      model: 'ESP32-D0WD-V3 rev3',
      firmware_version: '1.4.0',
      key_fingerprint: r.key_fingerprint,
      key_type: 'EC P-256',
      source_ip: '127.0.0.1',
      mac_available: true,
      problem: null,
    });
    expect(preview.key_fingerprint).toMatch(/^[0-9a-f]{64}$/);
    const claim = await a.client.claim({ qr: label, conta_id: a.accountId, codigo: 'ZT-A1', nome: 'Bench-born gateway', bootstrap_id: r.bootstrap_id });
    expect(claim).toMatchObject({ status: 'approved', mac_address: mac, conta_id: a.accountId, codigo: 'ZT-A1', nome: 'Bench-born gateway' });
    expect(claim.download_url).toBe(`/api/v1/gateways/${claim.gateway_id}/certificados/`);
    expect(issued.some((e) => e.serialNumber === claim.serial_number && e.commonName === mac && e.accountId === a.accountId)).toBe(true);

    offset += 5_000;
    const got = await d.poll();
    expect(got.status).toBe('issued');
    if (got.status !== 'issued') return;
    expect(got.body).toMatchObject({ status: 'issued', mac_address: mac, gateway_id: claim.gateway_id, codigo: 'ZT-A1', serial_number: claim.serial_number, mqtt_topic: `tds_new/devices/${mac}/telemetry` });
    expect(got.body.ca_pem).toBe(server.caPem);
    expect(JSON.stringify(got.body)).not.toMatch(/PRIVATE KEY/);
    expect((await ossl.verify(server.caPem, got.body.certificate_pem, await a.client.getCrlPem())).ok).toBe(true);
    expect(createPublicKey(got.body.certificate_pem).export({ type: 'spki', format: 'der' })).toEqual(fp.export({ type: 'spki', format: 'der' }));
    expect(requestRow(r.bootstrap_id)).toMatchObject({ status: 'issued', account_id: a.accountId });
    // The gateway is in account A only; a lost answer is fetched again; the same key finds its request again.
    expect((await a.client.getGateway(claim.gateway_id)).active_certificate?.serial_number).toBe(claim.serial_number);
    expect((await refusal(b.client.getGateway(claim.gateway_id))).status).toBe(404);
    offset += 5_000;
    expect((await d.poll()).status).toBe('issued');
    const again = await d.bootstrapAttested();
    expect(again).toMatchObject({ bootstrap_id: r.bootstrap_id, status: 'issued' });
    // The audit trail has every step, without the secret.
    const audit = (await server.repo.listAudit(a.accountId, { limit: 200, offset: 0 })).rows;
    const actions = audit.map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['birth_identity.issue', 'claim.preview', 'claim.approve', 'bootstrap.fetch']));
    expect(JSON.stringify(audit)).not.toContain(parseClaimQr(label).ok ? (parseClaimQr(label) as { claimSecret: string }).claimSecret : 'x');
  });

  it('RSA-2048 keys (birth and operational): PKCS#1 v1.5 signatures verify, and the certificate is issued for the RSA key', async () => {
    const mac = '02:b1:00:00:01:02';
    const { device: d, label } = await benchBorn(mac, 'rsa');
    const r = await d.bootstrapAttested();
    const preview = await a.client.claimPreview({ qr: label });
    expect(preview.key_type).toBe('RSA-2048');
    await a.client.claim({ qr: label, conta_id: a.accountId, codigo: 'ZT-RSA', nome: 'RSA gateway' });
    offset += 5_000;
    const got = await d.poll();
    expect(got.status).toBe('issued');
    if (got.status === 'issued') {
      expect((await ossl.verify(server.caPem, got.body.certificate_pem)).ok).toBe(true);
      expect(await ossl.text(got.body.certificate_pem)).toMatch(/Public-Key: \(2048 bit\)/);
    }
    expect(requestRow(r.bootstrap_id).status).toBe('issued');
  });
});

describe('the open path (device without identity, activation code)', () => {
  it('is off by default: the setting is false and a device without a birth identity is refused (403 open_enrolment_off)', async () => {
    expect((await loadSettings(dataDir)).bootstrap.openEnrolment).toBe(false);
    const d = await device('02:0e:00:00:00:01');
    const err = await refusal(d.bootstrapOpen());
    expect(err.status).toBe(403);
    expect(err.details).toMatchObject({ code: 'open_enrolment_off' });
  });

  it('turned on: code + QR → preview by code and housing MAC (any spelling) → claim by the device QR → 200; the code is 40 bits of the code alphabet', async () => {
    server.settings.bootstrap.openEnrolment = true;
    const mac = '02:0e:00:00:00:02';
    const d = await device(mac);
    const r = await d.bootstrapOpen({ model: 'Raspberry Pi 4 Model B Rev 1.5' });
    expect(r).toMatchObject({ status: 'pending', path: 'open', expires_in: 1800 });
    expect(r.activation_code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
    expect(r.qr_payload).toBe(`TDS:C1:020E00000002:${r.activation_code!.replace('-', '')}`);
    // Typed the way people type: lower case, blanks, O for 0, dashes anywhere.
    const typed = ` ${r.activation_code!.toLowerCase().replace(/0/g, 'o').replace('-', ' - ')} `;
    expect(normaliseCode(typed)).toEqual({ ok: true, value: r.activation_code!.replace('-', '') });
    const preview = await a.client.claimPreview({ mac_address: '02-0E-00-00-00-02', activation_code: typed });
    expect(preview).toMatchObject({ bootstrap_id: r.bootstrap_id, path: 'open', model: 'Raspberry Pi 4 Model B Rev 1.5', key_fingerprint: r.key_fingerprint, birth_serial_number: null });
    const claim = await a.client.claim({ qr: r.qr_payload!, conta_id: a.accountId, codigo: 'ZT-O1', nome: 'Open gateway' });
    offset += 5_000;
    const got = await d.poll();
    expect(got.status).toBe('issued');
    if (got.status === 'issued') {
      expect(got.body.serial_number).toBe(claim.serial_number);
      expect((await ossl.verify(server.caPem, got.body.certificate_pem)).ok).toBe(true);
    }
    expect(formatCode('K7M2Q4T0')).toBe('K7M2-Q4T0');
  });

  it('the same key asking again replaces its own pending request (the old code is void); a new device key makes a second pending request', async () => {
    const mac = '02:0e:00:00:00:03';
    const d = await device(mac);
    const first = await d.bootstrapOpen();
    const second = await d.bootstrapOpen();
    expect(second.bootstrap_id).not.toBe(first.bootstrap_id);
    expect(requestRow(first.bootstrap_id)).toMatchObject({ status: 'rejected', status_reason: 'superseded by a newer request' });
    const old = await refusal(a.client.claimPreview({ mac_address: mac, activation_code: first.activation_code! }));
    expect(old.status).toBe(404);
    expect((await a.client.claimPreview({ mac_address: mac, activation_code: second.activation_code! })).bootstrap_id).toBe(second.bootstrap_id);
    offset += 5_000;
    expect(await d.poll({ id: first.bootstrap_id })).toMatchObject({ status: 'gone', code: 'rejected' });
  });

  it('an operator rejects a request: the device gets 410 rejected', async () => {
    const d = await device('02:0e:00:00:00:04');
    const r = await d.bootstrapOpen();
    const rej = await a.client.claimReject({ mac_address: d.mac, activation_code: r.activation_code!, reason: 'fingerprint differs from the device screen' });
    expect(rej).toEqual({ bootstrap_id: r.bootstrap_id, status: 'rejected', reason: 'rejected by an operator: fingerprint differs from the device screen' });
    expect(await d.poll()).toMatchObject({ status: 'gone', code: 'rejected', error: expect.stringMatching(/fingerprint differs/) });
  });
});

describe('CLIs (compiled)', () => {
  const env = (): Record<string, string> => ({ TDS_API_TOKEN: a.token, TDS_PROVISION_CONFIG: path.join(dir.path, 'provision.json') });
  const common = (): string[] => ['--api-url', server.apiUrl, '--ca-file', dataPath(dataDir, 'caCert')];

  it('tds-provision claim shows the preview and needs a confirmation (--yes without a terminal); nothing changes before it', async () => {
    const d = await device('02:0e:00:00:02:01');
    const r = await d.bootstrapOpen({ firmware_version: '2.0.1-rc1' });
    const args = [...common(), 'claim', '--code', r.activation_code!, '--mac', d.mac, '--conta-id', String(a.accountId), '--codigo', 'ZT-CLI', '--nome', 'CLI gateway'];
    const refused = await cli(TDS_PROVISION, args, env());
    expect(refused.code).toBe(1);
    expect(refused.output).toContain(`fingerprint ${r.key_fingerprint.slice(0, 16).replace(/(.{4})(?=.)/g, '$1 ')}`);
    expect(refused.output).toContain('firmware     2.0.1-rc1');
    expect(refused.output).toMatch(/run again with --yes/);
    expect(requestRow(r.bootstrap_id).status).toBe('pending');
    const ok = await cli(TDS_PROVISION, [...args, '--yes', '--json'], env());
    expect(ok.code, ok.output).toBe(0);
    const out = JSON.parse(ok.stdout) as { preview: { bootstrap_id: string }; claim: { status: string; gateway_id: number } };
    expect(out.preview.bootstrap_id).toBe(r.bootstrap_id);
    expect(out.claim.status).toBe('approved');
    expect(requestRow(r.bootstrap_id).status).toBe('approved');
  });

  it('tds-provision claim-reject and birth-identity (files saved, label 0600)', async () => {
    const d = await device('02:0e:00:00:02:02');
    const r = await d.bootstrapOpen();
    const rej = await cli(TDS_PROVISION, [...common(), 'claim-reject', '--qr', r.qr_payload!, '--reason', 'not ours', '--yes'], env());
    expect(rej.code, rej.output).toBe(0);
    expect(requestRow(r.bootstrap_id)).toMatchObject({ status: 'rejected', status_reason: 'rejected by an operator: not ours' });

    const birth = await ScriptedDevice.birthCsr('02:b1:00:00:02:03');
    const csrFile = ossl.file(birth.csrPem, 'birth-csr');
    const out = path.join(dir.path, 'bench');
    const made = await cli(TDS_PROVISION, [...common(), '--json', 'birth-identity', '--mac', '02:B1:00:00:02:03', '--csr', csrFile, '--output', out], env());
    expect(made.code, made.output).toBe(0);
    const j = JSON.parse(made.stdout) as { label_qr: string; claim_secret: string; files: string[] };
    expect(j.label_qr).toBe(`TDS:B1:02B100000203:${j.claim_secret}`);
    const folder = path.join(out, '02:b1:00:00:02:03');
    expect(statSync(path.join(folder, 'label.txt')).mode & 0o777).toBe(0o600);
    expect(readFileSync(path.join(folder, 'label.txt'), 'utf8')).toContain(j.label_qr);
    const verified = await ossl.verify(readFileSync(path.join(folder, 'birth-ca.crt'), 'utf8'), readFileSync(path.join(folder, 'birth.crt'), 'utf8'));
    expect(verified.ok, verified.output).toBe(true);
  });

  it('tds-server zero-touch shows and changes the settings (validated); tds-server birth-ca create upgrades a data folder made before the birth CA, and serve makes one by itself', async () => {
    const other = path.join(dir.path, 'older');
    await initServerData({ dataDir: other, passphrase: PASS });
    const shown = await cli(TDS_SERVER, ['zero-touch', '--data', other, '--json']);
    expect(JSON.parse(shown.stdout)).toMatchObject({ openEnrolment: false, pendingMinutes: 30, fetchHours: 24, pollSeconds: 5, changed: false });
    const set = await cli(TDS_SERVER, ['zero-touch', '--data', other, '--open-enrolment', 'on', '--pending-minutes', '10', '--json']);
    expect(JSON.parse(set.stdout)).toMatchObject({ openEnrolment: true, pendingMinutes: 10, changed: true });
    expect((await loadSettings(other)).bootstrap).toMatchObject({ openEnrolment: true, pendingMinutes: 10 });
    const bad = await cli(TDS_SERVER, ['zero-touch', '--data', other, '--pending-minutes', '2000']);
    expect(bad.code).toBe(1);
    expect(bad.output).toMatch(/pendingMinutes/);
    // A folder without a birth CA, as one made before it existed.
    for (const f of ['birthCaCert', 'birthCaKey', 'birthCrl'] as const) rmSync(dataPath(other, f));
    const made = await cli(TDS_SERVER, ['birth-ca', 'create', '--data', other, '--json']);
    expect(made.code, made.output).toBe(0);
    expect(JSON.parse(made.stdout).birth_ca_subject).toMatch(/TDS IoT Birth CA/);
    expect(existsSync(dataPath(other, 'birthCrl'))).toBe(true);
    const twice = await cli(TDS_SERVER, ['birth-ca', 'create', '--data', other]);
    expect(twice.code).toBe(1);
    expect(twice.output).toMatch(/already has a birth CA/);
    for (const f of ['birthCaCert', 'birthCaKey', 'birthCrl'] as const) rmSync(dataPath(other, f));
    const s = await startServer({ dataDir: other, passphrase: PASS, tls: 'off', port: 0, logger: { info() {}, warn() {}, error() {} } });
    try {
      expect(s.birthCa?.certificatePem).toBe(readFileSync(dataPath(other, 'birthCaCert'), 'utf8'));
      expect(s.settings.bootstrap.pendingMinutes).toBe(10);
    } finally {
      await s.close();
    }
  });
});

describe('OpenAPI', () => {
  it('documents every zero-touch route, and every schema reference resolves', async () => {
    const doc = (await a.client.getOpenApi()) as { paths: Record<string, unknown>; components: { schemas: Record<string, unknown> } };
    for (const p of ['/gateways/bootstrap/nonce/', '/gateways/bootstrap/', '/gateways/bootstrap/{bootstrap_id}/', '/gateways/ativar/preview/', '/gateways/ativar/', '/gateways/ativar/reject/', '/gateways/birth/', '/gateways/birth/revoke/', '/birth-ca.pem', '/birth-crl.pem']) {
      expect(doc.paths[p], p).toBeDefined();
    }
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([A-Za-z]+)"/g)].map((m) => m[1]!);
    expect(refs).toEqual(expect.arrayContaining(['BootstrapRequest', 'BootstrapIssuedResponse', 'ClaimRequest', 'BirthIdentityResponse']));
    for (const r of refs) expect(doc.components.schemas[r], r).toBeDefined();
  });
});

// Last: it moves the server's clock a day ahead.
describe('lifetimes', () => {
  it('a pending request expires after pendingMinutes (410, swept to expired); an approved one never fetched is expired and its certificate revoked (in the CRL)', async () => {
    const d1 = await device('02:0e:00:00:01:01');
    const r1 = await d1.bootstrapOpen();
    const d2 = await device('02:0e:00:00:01:02');
    const r2 = await d2.bootstrapOpen();
    const claim = await a.client.claim({ mac_address: d2.mac, activation_code: r2.activation_code!, conta_id: a.accountId, codigo: 'ZT-NF', nome: 'never fetched' });
    offset += 31 * MIN;
    expect(await d1.poll()).toMatchObject({ status: 'gone', code: 'expired' });
    await server.service.bootstrap.sweep();
    expect(requestRow(r1.bootstrap_id).status).toBe('expired');
    expect(requestRow(r2.bootstrap_id).status).toBe('approved');
    offset += 24 * 60 * MIN;
    const swept = await server.service.bootstrap.sweep();
    // (Also the CLI test's approved request, never fetched.)
    expect(swept.revoked.map((c) => c.serialNumber)).toContain(claim.serial_number);
    expect(requestRow(r2.bootstrap_id)).toMatchObject({ status: 'expired', status_reason: 'certificate never fetched' });
    expect(await d2.poll()).toMatchObject({ status: 'gone', code: 'expired' });
    const cert = (await a.client.getGateway(claim.gateway_id)).certificados[0]!;
    expect(cert).toMatchObject({ serial_number: claim.serial_number, status: 'revoked', revoke_reason: 'cessationOfOperation: bootstrap certificate never fetched' });
    expect((await ossl.crlText(await a.client.getCrlPem(), server.caPem)).text).toContain(claim.serial_number);
  });
});
