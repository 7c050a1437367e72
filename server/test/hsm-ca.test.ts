/**
 * The CA key in a PKCS#11 token (SoftHSM2): `tds-server init --pkcs11-uri` makes the key inside the
 * token, and the real server issues, revokes, re-signs the CRL and renews through it. The birth CA
 * of zero-touch onboarding is a second key in the same token: birth identities and the attested
 * bootstrap run through both. Every certificate and CRL is judged by the openssl command line; what
 * the token holds is read back by OpenSC's pkcs11-tool and through the PKCS#11 interface itself.
 */
import { createPublicKey } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { strFromU8, unzipSync } from 'fflate';
import pkcs11 from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeviceCsr } from '@tds/server';
import { SqliteRepository } from '@tds/server/store';
import { startTestServer, TDS_SERVER_CLI, type TestServer } from '../../test/support/server.js';
import { tempDir } from '../../test/support/temp.js';
import { OpenSsl, extensionBlock } from './support/openssl.js';
import { run } from './support/run.js';
import { ScriptedDevice } from './support/scripted-device.js';
import { SOFTHSM_MODULE, SoftHsm } from './support/softhsm.js';

const PIN = '246810';
const TOKEN = 'tds-ca';
const URI = `pkcs11:token=${TOKEN};object=ca-key`;
/** The birth EKU and policy (profile.ts): a UUID arc. */
const BIRTH_ARC = '2.25.74961606456411313147034430486448312649';

const hsm = new SoftHsm();
const work = tempDir('tds-hsm-ca-test-');
const ossl = new OpenSsl(work.path);
let server: TestServer;

/** Runs `tds-server <args>` with the SoftHSM2 config and the given environment (no PIN unless given). */
const cli = (args: string[], env: Record<string, string> = {}) => run(process.execPath, [TDS_SERVER_CLI, ...args], { env: { ...hsm.env, TDS_PKCS11_PIN: '', ...env } });

beforeAll(async () => {
  await hsm.initToken(TOKEN, PIN);
  // 30-day certificates, so renew-expiring finds them.
  server = await startTestServer({
    certValidityDays: 30,
    env: { ...hsm.env, TDS_PKCS11_PIN: PIN },
    extraInitArgs: ['--pkcs11-uri', URI, '--pkcs11-module', SOFTHSM_MODULE],
  });
});

afterAll(async () => {
  await server?.stop();
  hsm.remove();
  work.remove();
});

async function verified(certPem: string, crlPem?: string): Promise<{ ok: boolean; output: string }> {
  return ossl.verify(server.caPem, certPem, crlPem ?? (await server.client(null).getCrlPem()));
}

/** Attributes of the token's objects read through PKCS#11 in this process (a reader independent of the server). */
function readTokenAttributes(label: string, objectClass: number): { extractable: boolean; sensitive: boolean; neverExtractable: boolean; valueError: string } {
  process.env.SOFTHSM2_CONF = hsm.conf;
  const lib = new pkcs11.PKCS11();
  lib.load(SOFTHSM_MODULE);
  lib.C_Initialize();
  try {
    const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === TOKEN)!;
    const session = lib.C_OpenSession(slot, pkcs11.CKF_SERIAL_SESSION);
    try {
      lib.C_Login(session, pkcs11.CKU_USER, PIN);
      lib.C_FindObjectsInit(session, [{ type: pkcs11.CKA_CLASS, value: objectClass }, { type: pkcs11.CKA_LABEL, value: label }]);
      const [handle] = lib.C_FindObjects(session, 2);
      lib.C_FindObjectsFinal(session);
      const flag = (type: number): boolean => lib.C_GetAttributeValue(session, handle!, [{ type }])[0]!.value[0] === 1;
      let valueError = '';
      try {
        lib.C_GetAttributeValue(session, handle!, [{ type: pkcs11.CKA_VALUE }]);
      } catch (err) {
        valueError = (err as Error).message;
      }
      return { extractable: flag(pkcs11.CKA_EXTRACTABLE), sensitive: flag(pkcs11.CKA_SENSITIVE), neverExtractable: flag(pkcs11.CKA_NEVER_EXTRACTABLE), valueError };
    } finally {
      lib.C_CloseSession(session);
    }
  } finally {
    lib.C_Finalize();
    lib.close();
  }
}

/** The data folder's record of where a key is in the token (0600), in place of the sealed key file. */
function tokenKeyRecord(sealedFile: string, recordFile: string): unknown {
  expect(existsSync(path.join(server.dataDir, sealedFile)), sealedFile).toBe(false);
  const record = path.join(server.dataDir, recordFile);
  expect(statSync(record).mode & 0o777).toBe(0o600);
  return JSON.parse(readFileSync(record, 'utf8'));
}

/** The public key of the token's key pair `label` (read by pkcs11-tool) and the one `certPem` certifies, both as PEM. */
async function tokenAndCertificateKeys(label: string, certPem: string): Promise<{ token: string; cert: string }> {
  const pub = path.join(work.path, `${label}-pub.der`);
  const read = await hsm.pkcs11Tool(TOKEN, PIN, ['--read-object', '--type', 'pubkey', '--label', label, '-o', pub]);
  expect(read.code, read.output).toBe(0);
  const token = (await ossl.run(['pkey', '-pubin', '-inform', 'DER', '-in', pub])).stdout;
  const cert = (await ossl.run(['x509', '-noout', '-pubkey', '-in', ossl.file(certPem)])).stdout;
  expect(token).toMatch(/BEGIN PUBLIC KEY/);
  return { token, cert };
}

describe('a CA whose key init made in SoftHSM2 (EC P-256)', () => {
  it('the data folder holds the certificate and where the key is, never the key or the PIN', () => {
    expect(tokenKeyRecord('ca.key.enc', 'ca.key.pkcs11.json')).toEqual({
      format: 'tds-ca-key-pkcs11/1',
      module: SOFTHSM_MODULE,
      uri: 'pkcs11:token=tds-ca;object=ca-key;type=private',
      vault: 'ca-key-vault',
    });
    for (const f of readdirSync(server.dataDir)) {
      const bytes = readFileSync(path.join(server.dataDir, f)).toString('latin1');
      expect(bytes, f).not.toContain(PIN);
      expect(bytes, f).not.toMatch(/PRIVATE KEY-----/);
    }
  });

  it('the key objects are sensitive and never extractable; their value cannot be read', async () => {
    const list = await hsm.pkcs11Tool(TOKEN, PIN, ['--list-objects']);
    expect(list.code, list.output).toBe(0);
    const block = (kind: string, label: string): string => new RegExp(`${kind}[^\\n]*\\n\\s+label:\\s+${label}\\n[\\s\\S]*?Access:[^\\n]*`).exec(list.output)?.[0] ?? '';
    expect(block('Private Key Object; EC', 'ca-key')).toMatch(/Access:\s+sensitive, always sensitive, never extractable, local/);
    expect(block('Secret Key Object', 'ca-key-vault')).toMatch(/Access:\s+sensitive, always sensitive, never extractable, local/);
    for (const [label, cls] of [['ca-key', pkcs11.CKO_PRIVATE_KEY], ['ca-key-vault', pkcs11.CKO_SECRET_KEY]] as const) {
      const a = readTokenAttributes(label, cls);
      expect(a, label).toMatchObject({ extractable: false, sensitive: true, neverExtractable: true });
      expect(a.valueError, label).toMatch(/CKR_ATTRIBUTE_SENSITIVE/);
    }
    // The CA certificate certifies the token's key pair.
    const keys = await tokenAndCertificateKeys('ca-key', server.caPem);
    expect(keys.cert).toBe(keys.token);
    expect(await ossl.text(server.caPem)).toContain('ecdsa-with-SHA256');
  });

  it('issues through the API (device CSR and server-made key); openssl verifies each against the CA and its CRL', async () => {
    const api = server.client();
    const mac = '02:11:00:00:00:01';
    const fromCsr = await api.provision({ mac_address: mac, codigo: 'HSM1', nome: 'csr', conta_id: server.contaId, csr_pem: (await createDeviceCsr({ mac })).csrPem });
    const made = await api.provision({ mac_address: '02:11:00:00:00:02', codigo: 'HSM2', nome: 'keygen', conta_id: server.contaId, key_type: 'rsa' });
    for (const cert of [fromCsr.certificate_pem, made.certificate_pem]) {
      const v = await verified(cert);
      expect(v.ok, v.output).toBe(true);
    }
    const fromCert = await ossl.run(['x509', '-noout', '-pubkey', '-in', ossl.file(made.certificate_pem)]);
    const fromKey = await ossl.run(['pkey', '-pubout', '-in', ossl.file(made.private_key_pem!)]);
    expect(fromCert.stdout).toBe(fromKey.stdout);
    api.close();
  });

  it('server-made keys of a CSV import wait sealed by the token-rooted vault and download once, matching their certificate', async () => {
    const api = server.client();
    const imported = await api.importCsv('mac_address,codigo,nome\n02:11:00:00:00:10,IMP1,one\n02:11:00:00:00:11,IMP2,two\n');
    expect(imported.created).toBe(2);
    const id = imported.rows[1]!.gateway_id!;
    const files = unzipSync(new Uint8Array((await api.downloadCertificates(id)).zip));
    const cert = strFromU8(files['client.crt']!);
    expect((await verified(cert)).ok).toBe(true);
    const fromCert = await ossl.run(['x509', '-noout', '-pubkey', '-in', ossl.file(cert)]);
    const fromKey = await ossl.run(['pkey', '-pubout', '-in', ossl.file(strFromU8(files['client.key']!))]);
    expect(fromCert.stdout).toBe(fromKey.stdout);
    expect(Object.keys(unzipSync(new Uint8Array((await api.downloadCertificates(id)).zip)))).not.toContain('client.key');
    api.close();
  });

  it('revocation: the token-signed CRL passes openssl crl -verify and -crl_check refuses the revoked certificate', async () => {
    const api = server.client();
    const mac = '02:11:00:00:00:20';
    const r = await api.provision({ mac_address: mac, codigo: 'REV', nome: 'revoked', conta_id: server.contaId, csr_pem: (await createDeviceCsr({ mac })).csrPem });
    expect((await verified(r.certificate_pem)).ok).toBe(true);
    await api.revoke(r.gateway_id, 'keyCompromise');
    const crl = await api.getCrlPem();
    const { ok, text } = await ossl.crlText(crl, server.caPem);
    expect(ok, text).toBe(true);
    expect(text).toContain(`Serial Number: ${r.serial_number}`);
    expect(text).toContain('Key Compromise');
    const after = await verified(r.certificate_pem, crl);
    expect(after.ok).toBe(false);
    expect(after.output).toMatch(/certificate revoked/);
    api.close();
  });

  it('renewal: through the API, and renew-expiring and crl from the CLI (other processes signing with the same token)', async () => {
    const api = server.client();
    const mac = '02:11:00:00:00:30';
    const old = await api.provision({ mac_address: mac, codigo: 'REN', nome: 'renewed', conta_id: server.contaId, csr_pem: (await createDeviceCsr({ mac })).csrPem });
    const fresh = await api.renew(old.gateway_id, { csr_pem: (await createDeviceCsr({ mac })).csrPem });
    expect(fresh.serial_number).not.toBe(old.serial_number);
    const crlAfterRenew = await api.getCrlPem();
    expect((await verified(fresh.certificate_pem, crlAfterRenew)).ok).toBe(true);
    expect((await verified(old.certificate_pem, crlAfterRenew)).output).toMatch(/certificate revoked/);

    const out = await server.cli(['renew-expiring', '--within', '60d', '--json']);
    const renewed = (JSON.parse(out.stdout) as { renewed: { mac_address: string; new_serial: string }[] }).renewed.find((x) => x.mac_address === mac)!;
    const repo = new SqliteRepository(path.join(server.dataDir, 'tds-server.db'));
    const pending = await repo.getCertificateBySerial(renewed.new_serial);
    await repo.close();
    expect(pending?.status).toBe('pending');
    expect((await verified(pending!.certificatePem)).ok).toBe(true);

    const crl = JSON.parse((await server.cli(['crl', '--json'])).stdout) as { crl_number: number };
    const served = await api.getCrlPem();
    const { ok, text } = await ossl.crlText(served, server.caPem);
    expect(ok).toBe(true);
    expect(Number(/X509v3 CRL Number:\s*\n\s*(\d+)/.exec(text)?.[1])).toBeGreaterThanOrEqual(crl.crl_number);
    api.close();
  });
});

describe('backup and restore of a data folder whose CA key is in the token', () => {
  it('the backup holds where the key is (never the key); the restored folder signs a CRL through the same token', async () => {
    const file = path.join(work.path, 'token-ca.tdsbackup');
    const restored = path.join(work.path, 'restored-token-ca');
    const env = { TDS_BACKUP_PASSPHRASE: 'a long backup passphrase' };
    const made = await cli(['backup', '--data', server.dataDir, '--out', file, '--json'], env);
    expect(made.code, made.output).toBe(0);
    const files = (JSON.parse(made.stdout) as { files: { path: string }[] }).files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(['ca.key.pkcs11.json', 'ca.crt']));
    expect(files).not.toContain('ca.key.enc');
    const back = await cli(['restore', '--from', file, '--data', restored, '--json'], env);
    expect(back.code, back.output).toBe(0);
    const crl = await cli(['crl', '--data', restored, '--json'], { TDS_PKCS11_PIN: PIN });
    expect(crl.code, crl.output).toBe(0);
    const { ok } = await ossl.crlText(readFileSync(path.join(restored, 'crl.pem'), 'utf8'), server.caPem);
    expect(ok).toBe(true);
  });
});

describe('zero-touch with the CA keys in the token: the birth CA is a second key there', () => {
  it('init made the birth key beside the CA key (sensitive, never extractable); the data folder says where, and the birth CA certificate certifies it', async () => {
    expect(tokenKeyRecord('birth-ca.key.enc', 'birth-ca.key.pkcs11.json')).toEqual({
      format: 'tds-ca-key-pkcs11/1',
      module: SOFTHSM_MODULE,
      uri: 'pkcs11:token=tds-ca;object=ca-key-birth;type=private',
      vault: 'ca-key-vault',
      sessions: 2,
    });
    const list = await hsm.pkcs11Tool(TOKEN, PIN, ['--list-objects', '--type', 'privkey']);
    expect(list.output).toMatch(/label:\s+ca-key-birth\n[\s\S]*?Access:\s+sensitive, always sensitive, never extractable, local/);
    const a = readTokenAttributes('ca-key-birth', pkcs11.CKO_PRIVATE_KEY);
    expect(a).toMatchObject({ extractable: false, sensitive: true, neverExtractable: true });
    expect(a.valueError).toMatch(/CKR_ATTRIBUTE_SENSITIVE/);

    const api = server.client();
    const birthCa = await api.getBirthCaPem();
    expect(birthCa).toBe(readFileSync(path.join(server.dataDir, 'birth-ca.crt'), 'utf8'));
    expect(birthCa).not.toBe(server.caPem);
    expect((await ossl.run(['x509', '-noout', '-subject', '-in', ossl.file(birthCa)])).stdout).toMatch(/CN ?= ?TDS IoT Birth CA/);
    const keys = await tokenAndCertificateKeys('ca-key-birth', birthCa);
    expect(keys.cert).toBe(keys.token);
    expect(keys.token).not.toBe((await tokenAndCertificateKeys('ca-key', server.caPem)).token);
    const crl = await ossl.crlText(await api.getBirthCrlPem(), birthCa);
    expect(crl.ok, crl.text).toBe(true);
    api.close();
  });

  it('a birth identity signed in the token, then the attested bootstrap: claimed, the device fetches a certificate from the token CA; openssl judges each', async () => {
    const api = server.client();
    const mac = '02:11:00:00:00:40';
    const birth = await ScriptedDevice.birthCsr(mac);
    const r = await api.issueBirthIdentity({ mac_address: mac, csr_pem: birth.csrPem });
    const birthCa = await api.getBirthCaPem();
    const underBirth = await ossl.verify(birthCa, r.birth_certificate_pem, await api.getBirthCrlPem());
    expect(underBirth.ok, underBirth.output).toBe(true);
    expect((await ossl.verify(server.caPem, r.birth_certificate_pem)).ok).toBe(false);
    const text = await ossl.text(r.birth_certificate_pem);
    expect(text).toContain('ecdsa-with-SHA256');
    expect(extensionBlock(text, 'Extended Key Usage')).toEqual({ critical: true, value: `${BIRTH_ARC}.2` });

    const d = await ScriptedDevice.create(mac, { apiUrl: server.apiUrl, caPem: server.caPem });
    try {
      d.birth = { certificatePem: r.birth_certificate_pem, key: birth.key };
      const pending = await d.bootstrapAttested({ model: 'ESP32-D0WD-V3' });
      expect(pending).toMatchObject({ status: 'pending', path: 'attested', mac_address: mac });
      expect((await api.claimPreview({ qr: r.label_qr })).bootstrap_id).toBe(pending.bootstrap_id);
      const claim = await api.claim({ qr: r.label_qr, conta_id: server.contaId, codigo: 'ZT-HSM', nome: 'token-born gateway' });
      expect(claim).toMatchObject({ status: 'approved', mac_address: mac });
      const got = await d.poll();
      expect(got.status).toBe('issued');
      if (got.status !== 'issued') return;
      expect(got.body.ca_pem).toBe(server.caPem);
      const v = await verified(got.body.certificate_pem);
      expect(v.ok, v.output).toBe(true);
      const fromCert = await ossl.run(['x509', '-noout', '-pubkey', '-in', ossl.file(got.body.certificate_pem)]);
      expect(fromCert.stdout).toBe(createPublicKey(d.key).export({ type: 'spki', format: 'pem' }));
    } finally {
      d.close();
    }

    // Revoking the birth identity: the birth CRL, signed in the token, lists it; so does the one `birth-ca crl` signs.
    await api.revokeBirthIdentity(mac, 'test');
    const revoked = await ossl.verify(birthCa, r.birth_certificate_pem, await api.getBirthCrlPem());
    expect(revoked.ok).toBe(false);
    expect(revoked.output).toMatch(/certificate revoked/);
    const cli = JSON.parse((await server.cli(['birth-ca', 'crl', '--json'])).stdout) as { revoked_count: number; file: string };
    expect(cli.revoked_count).toBeGreaterThanOrEqual(1);
    const signed = await ossl.crlText(readFileSync(cli.file, 'utf8'), birthCa);
    expect(signed.ok, signed.text).toBe(true);
    expect(signed.text).toMatch(new RegExp(`Serial Number: ${r.serial_number}`, 'i'));
    api.close();
  });
});

describe('a second data folder on the same token key', () => {
  it('a URI without token attributes finds the one initialised token; the kept CA certificate signs on', async () => {
    const dataDir = path.join(work.path, 'same-key');
    const caFile = path.join(server.dataDir, 'ca.crt');
    const r = await cli(['init', '--data', dataDir, '--json', '--pkcs11-existing', '--import-cert', caFile, '--pkcs11-uri', 'pkcs11:object=ca-key', '--pkcs11-module', SOFTHSM_MODULE], {
      TDS_PKCS11_PIN: PIN,
    });
    expect(r.code, r.output).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ca_imported: true, ca_key_store: 'pkcs11', ca_key_uri: 'pkcs11:object=ca-key;type=private', ca_pem: server.caPem });
    const crl = readFileSync(path.join(dataDir, 'crl.pem'), 'utf8');
    expect((await ossl.crlText(crl, server.caPem)).ok).toBe(true);
    // The file names a library the server loads: group-writable, it is refused.
    chmodSync(path.join(dataDir, 'ca.key.pkcs11.json'), 0o620);
    const loose = await cli(['crl', '--data', dataDir], { TDS_PKCS11_PIN: PIN });
    expect(loose.code).toBe(1);
    expect(loose.output).toMatch(/ca\.key\.pkcs11\.json is writable by group or others, and it names the library the server loads: chmod 600 it/);
  });

  it('its birth CA uses the birth key already in the token; a folder made before the birth CA gets it from birth-ca create with the PIN', async () => {
    const dataDir = path.join(work.path, 'same-key');
    chmodSync(path.join(dataDir, 'ca.key.pkcs11.json'), 0o600);
    const first = readFileSync(path.join(server.dataDir, 'birth-ca.crt'), 'utf8');
    const keys = await tokenAndCertificateKeys('ca-key-birth', readFileSync(path.join(dataDir, 'birth-ca.crt'), 'utf8'));
    expect(keys.cert).toBe(keys.token);
    // The birth identities of the first folder verify under this folder's birth CA certificate: the same key.
    const api = server.client();
    const mac = '02:11:00:00:00:41';
    const born = await api.issueBirthIdentity({ mac_address: mac, csr_pem: (await ScriptedDevice.birthCsr(mac)).csrPem });
    api.close();
    expect((await ossl.verify(readFileSync(path.join(dataDir, 'birth-ca.crt'), 'utf8'), born.birth_certificate_pem)).ok).toBe(true);

    for (const f of ['birth-ca.crt', 'birth-ca.key.pkcs11.json', 'birth-crl.pem']) rmSync(path.join(dataDir, f));
    const noPin = await cli(['birth-ca', 'create', '--data', dataDir]);
    expect(noPin.code).toBe(1);
    expect(noPin.output).toMatch(/the token PIN is needed: set TDS_PKCS11_PIN, or pass --pin-file FILE/);
    expect(existsSync(path.join(dataDir, 'birth-ca.crt'))).toBe(false);
    const made = await cli(['birth-ca', 'create', '--data', dataDir, '--json'], { TDS_PKCS11_PIN: PIN });
    expect(made.code, made.output).toBe(0);
    expect(JSON.parse(made.stdout)).toMatchObject({ birth_ca_key_store: 'pkcs11', birth_ca_subject: expect.stringMatching(/TDS IoT Birth CA/) });
    const again = await tokenAndCertificateKeys('ca-key-birth', readFileSync(path.join(dataDir, 'birth-ca.crt'), 'utf8'));
    expect(again.cert).toBe(keys.token);
    expect(readFileSync(path.join(dataDir, 'birth-ca.crt'), 'utf8')).not.toBe(first);
    const birthKeys = await hsm.pkcs11Tool(TOKEN, PIN, ['--list-objects', '--type', 'privkey']);
    expect(birthKeys.output.match(/label:\s+ca-key-birth\n/g)).toHaveLength(1);
    expect((await ossl.crlText(readFileSync(path.join(dataDir, 'birth-crl.pem'), 'utf8'), readFileSync(path.join(dataDir, 'birth-ca.crt'), 'utf8'))).ok).toBe(true);
  });
});

describe('clear errors from the token store', () => {
  it('a wrong PIN: the command stops with what to fix and never prints the PIN; --pin-file gives the right one', async () => {
    const r = await cli(['crl', '--data', server.dataDir], { TDS_PKCS11_PIN: 'nope-1357' });
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/error: the token refused the PIN \(CKR_PIN_INCORRECT\): check TDS_PKCS11_PIN or the --pin-file/);
    expect(r.output).not.toContain('nope-1357');
    const noPin = await cli(['crl', '--data', server.dataDir]);
    expect(noPin.code).toBe(1);
    expect(noPin.output).toMatch(/the token PIN is needed: set TDS_PKCS11_PIN, or pass --pin-file FILE/);
    const pinFile = path.join(work.path, 'pin');
    writeFileSync(pinFile, `${PIN}\n`, { mode: 0o600 });
    const ok = await cli(['crl', '--data', server.dataDir, '--pin-file', pinFile, '--json']);
    expect(ok.code, ok.output).toBe(0);
    const serve = await cli(['serve', '--data', server.dataDir, '--port', '0'], { TDS_PKCS11_PIN: '000000' });
    expect(serve.code).toBe(1);
    expect(serve.output).toMatch(/CKR_PIN_INCORRECT/);
  });

  it('a missing object, an unknown token, a taken label, a PIN inside the URI, no module: refused, nothing left behind', async () => {
    const env = { TDS_PKCS11_PIN: PIN };
    const cases: [string[], RegExp][] = [
      [['--pkcs11-uri', `pkcs11:token=${TOKEN};object=nope`, '--pkcs11-existing'], /no key 'nope' in the token with token=tds-ca \(the token holds ('ca-key', 'ca-key-birth'|'ca-key-birth', 'ca-key')\)/],
      [['--pkcs11-uri', 'pkcs11:token=missing;object=ca-key'], /no token matches token=missing; tokens present: 'tds-ca'/],
      [['--pkcs11-uri', URI], /the token already holds a private key 'ca-key' .*: pass --pkcs11-existing to use it, or name a new object/],
      [['--pkcs11-uri', `${URI}?pin-value=${PIN}`], /carries 'pin-value': give the PIN through TDS_PKCS11_PIN or --pin-file, never inside the URI/],
      [['--pkcs11-uri', `pkcs11:token=${TOKEN};object=x;type=public`], /type=public: the CA key is a private key/],
      [['--pkcs11-uri', `pkcs11:token=${TOKEN}`], /the PKCS#11 URI must name the key: add object=<label>/],
    ];
    for (const [i, [args, message]] of cases.entries()) {
      const dataDir = path.join(work.path, `refused-${i}`);
      const r = await cli(['init', '--data', dataDir, ...args, '--pkcs11-module', SOFTHSM_MODULE], env);
      expect(r.code, r.output).toBe(1);
      expect(r.output).toMatch(message);
      expect(existsSync(dataDir), dataDir).toBe(false);
    }
    const noModule = await cli(['init', '--data', path.join(work.path, 'no-module'), '--pkcs11-uri', URI], env);
    expect(noModule.output).toMatch(/the PKCS#11 library is needed: pass --pkcs11-module/);
    const badModule = await cli(['init', '--data', path.join(work.path, 'bad-module'), '--pkcs11-uri', URI, '--pkcs11-module', '/nonexistent/libp11.so'], env);
    expect(badModule.output).toMatch(/cannot load the PKCS#11 module \/nonexistent\/libp11.so/);
    const fileKey = await cli(['init', '--data', path.join(work.path, 'file-key'), '--pkcs11-uri', URI, '--pkcs11-module', SOFTHSM_MODULE, '--import-key', '/dev/null'], env);
    expect(fileKey.output).toMatch(/--import-key cannot go into a token/);
  });
});
