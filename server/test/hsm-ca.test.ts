/**
 * The CA key in a PKCS#11 token (SoftHSM2): `tds-server init --pkcs11-uri` makes the key inside the
 * token, and the real server issues, revokes, re-signs the CRL and renews through it. Every
 * certificate and CRL is judged by the openssl command line; what the token holds is read back by
 * OpenSC's pkcs11-tool and through the PKCS#11 interface itself.
 */
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { strFromU8, unzipSync } from 'fflate';
import pkcs11 from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeviceCsr } from '@tds/server';
import { SqliteRepository } from '@tds/server/store';
import { startTestServer, TDS_SERVER_CLI, type TestServer } from '../../test/support/server.js';
import { tempDir } from '../../test/support/temp.js';
import { OpenSsl } from './support/openssl.js';
import { run } from './support/run.js';
import { SOFTHSM_MODULE, SoftHsm } from './support/softhsm.js';

const PIN = '246810';
const TOKEN = 'tds-ca';
const URI = `pkcs11:token=${TOKEN};object=ca-key`;

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

describe('a CA whose key init made in SoftHSM2 (EC P-256)', () => {
  it('the data folder holds the certificate and where the key is, never the key or the PIN', () => {
    expect(existsSync(path.join(server.dataDir, 'ca.key.enc'))).toBe(false);
    const ref = path.join(server.dataDir, 'ca.key.pkcs11.json');
    expect(statSync(ref).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(ref, 'utf8'))).toEqual({
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
    const pub = path.join(work.path, 'token-pub.der');
    expect((await hsm.pkcs11Tool(TOKEN, PIN, ['--read-object', '--type', 'pubkey', '--label', 'ca-key', '-o', pub])).code).toBe(0);
    const fromToken = await ossl.run(['pkey', '-pubin', '-inform', 'DER', '-in', pub]);
    const fromCert = await ossl.run(['x509', '-noout', '-pubkey', '-in', ossl.file(server.caPem)]);
    expect(fromCert.stdout).toBe(fromToken.stdout);
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
