/**
 * The PKCS#11 key store beyond the default: an RSA CA key made in the token, keys that already
 * exist there (one refused because it may leave the token), a second instance on the same key, a
 * token that drops its sessions (reconnect) or goes away (503), and the RFC 7512 URI reader.
 * SoftHSM2 is the token; openssl judges every certificate and CRL.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pkcs11 from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, ApiError, createApiToken, createDeviceCsr, formatPkcs11Uri, initServerData, parsePkcs11Uri, startServer, type RunningServer } from '@tds/server';
import { TDS_SERVER_CLI } from '../../test/support/server.js';
import { tempDir } from '../../test/support/temp.js';
import { OpenSsl } from './support/openssl.js';
import { run } from './support/run.js';
import { SOFTHSM_MODULE, SoftHsm } from './support/softhsm.js';

const PIN = '135790';
const hsm = new SoftHsm();
const work = tempDir('tds-hsm-token-test-');
const ossl = new OpenSsl(work.path);

const cli = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, [TDS_SERVER_CLI, ...args], { env: { ...hsm.env, TDS_PKCS11_PIN: PIN, ...env }, timeoutMs: 120_000 });
const json = async <T>(args: string[]): Promise<T> => {
  const r = await cli([...args, '--json']);
  if (r.code !== 0) throw new Error(`tds-server ${args.join(' ')} failed:\n${r.output}`);
  return JSON.parse(r.stdout) as T;
};

/** Its own SoftHSM2 for the in-process server, so unplugging it takes only that token away. */
const unpluggable = new SoftHsm();

beforeAll(async () => {
  for (const token of ['tds-rsa', 'tds-existing']) await hsm.initToken(token, PIN);
  await unpluggable.initToken('tds-drop', PIN);
  // The in-process server below loads the module in this process.
  process.env.SOFTHSM2_CONF = unpluggable.conf;
});
afterAll(() => {
  hsm.remove();
  unpluggable.remove();
  work.remove();
});

/** A service identity issued from the CLI (a signing command), verified by openssl with the CRL the CLI signs next. */
async function issueAndCheck(dataDir: string): Promise<{ caPem: string; certPem: string }> {
  const out = path.join(dataDir, 'id-out');
  await json(['identity', 'create', 'server', '--name', 'hsm-check', '--out', out, '--data', dataDir]);
  await json(['crl', '--data', dataDir]);
  const caPem = readFileSync(path.join(dataDir, 'ca.crt'), 'utf8');
  const certPem = readFileSync(path.join(out, 'client.crt'), 'utf8');
  const crlPem = readFileSync(path.join(dataDir, 'crl.pem'), 'utf8');
  const v = await ossl.verify(caPem, certPem, crlPem);
  expect(v.ok, v.output).toBe(true);
  expect((await ossl.crlText(crlPem, caPem)).ok).toBe(true);
  return { caPem, certPem };
}

describe('RSA and keys that already exist in the token', () => {
  it('--key-type rsa makes an RSA-3072 CA key in the token; certificates and CRLs verify', async () => {
    const dataDir = path.join(work.path, 'rsa');
    const init = await json<{ ca_key_type: string; ca_key_store: string; ca_pem: string }>([
      'init', '--data', dataDir, '--key-type', 'rsa', '--pkcs11-uri', 'pkcs11:token=tds-rsa;object=rsa-ca', '--pkcs11-module', SOFTHSM_MODULE,
    ]);
    expect(init).toMatchObject({ ca_key_type: 'rsa', ca_key_store: 'pkcs11' });
    const text = await ossl.text(init.ca_pem);
    expect(text).toContain('Public-Key: (3072 bit)');
    expect(text).toContain('sha256WithRSAEncryption');
    await issueAndCheck(dataDir);
    const listed = await hsm.pkcs11Tool('tds-rsa', PIN, ['--list-objects', '--type', 'privkey']);
    expect(listed.output).toMatch(/label:\s+rsa-ca[\s\S]*Access:\s+sensitive, always sensitive, never extractable, local/);
  });

  it('--pkcs11-existing takes a non-extractable RSA-2048 key made by pkcs11-tool, and refuses an extractable one', async () => {
    const made = await hsm.pkcs11Tool('tds-existing', PIN, ['--keypairgen', '--key-type', 'rsa:2048', '--label', 'plant-ca', '--id', '0a0b', '--sensitive', '--usage-sign']);
    expect(made.code, made.output).toBe(0);
    const dataDir = path.join(work.path, 'existing');
    const init = await json<{ ca_key_type: string; ca_pem: string }>([
      'init', '--data', dataDir, '--pkcs11-existing', '--pkcs11-uri', `pkcs11:token=tds-existing;object=plant-ca;id=%0A%0B?module-path=${SOFTHSM_MODULE}`,
    ]);
    expect(init.ca_key_type).toBe('rsa');
    expect(await ossl.text(init.ca_pem)).toContain('Public-Key: (2048 bit)');
    await issueAndCheck(dataDir);

    const loose = await hsm.pkcs11Tool('tds-existing', PIN, ['--keypairgen', '--key-type', 'EC:prime256v1', '--label', 'loose', '--extractable', '--usage-sign']);
    expect(loose.code, loose.output).toBe(0);
    const refused = await cli(['init', '--data', path.join(work.path, 'loose'), '--pkcs11-existing', '--pkcs11-uri', 'pkcs11:token=tds-existing;object=loose', '--pkcs11-module', SOFTHSM_MODULE]);
    expect(refused.code).toBe(1);
    expect(refused.output).toMatch(/the token key can leave the token \(CKA_EXTRACTABLE true or CKA_SENSITIVE false\); a CA key must be non-extractable and sensitive/);
  });

  it('a second instance on the same token key keeps the same CA certificate (--import-cert); a foreign certificate is refused', async () => {
    const first = path.join(work.path, 'existing');
    const caFile = path.join(first, 'ca.crt');
    const second = path.join(work.path, 'second-instance');
    const init = await json<{ ca_imported: boolean; ca_pem: string }>([
      'init', '--data', second, '--pkcs11-existing', '--import-cert', caFile, '--pkcs11-uri', 'pkcs11:token=tds-existing;object=plant-ca', '--pkcs11-module', SOFTHSM_MODULE,
    ]);
    expect(init.ca_imported).toBe(true);
    expect(init.ca_pem).toBe(readFileSync(caFile, 'utf8'));
    const { certPem } = await issueAndCheck(second);
    // Issued by the second instance, trusted through the first one's CA certificate.
    expect((await ossl.verify(readFileSync(caFile, 'utf8'), certPem)).ok).toBe(true);

    const foreign = await cli([
      'init', '--data', path.join(work.path, 'foreign'), '--pkcs11-existing', '--import-cert', path.join(work.path, 'rsa', 'ca.crt'),
      '--pkcs11-uri', 'pkcs11:token=tds-existing;object=plant-ca', '--pkcs11-module', SOFTHSM_MODULE,
    ]);
    expect(foreign.code).toBe(1);
    expect(foreign.output).toMatch(/the CA key does not belong to the CA certificate/);
  });
});

describe('an in-process server on a token: concurrent signatures, dropped sessions, a token that goes away', () => {
  let server: RunningServer | undefined;
  let api: ApiClient | undefined;
  let accountId = 0;
  let apiToken = '';

  beforeAll(async () => {
    const dataDir = path.join(work.path, 'drop');
    await initServerData({ dataDir, pkcs11: { modulePath: SOFTHSM_MODULE, uri: parsePkcs11Uri('pkcs11:token=tds-drop;object=ca-key'), pin: PIN } });
    server = await startServer({ dataDir, pkcs11Pin: PIN, tls: 'off', port: 0 });
    const audit = { at: new Date().toISOString(), accountId: null, actor: 'test', action: 'account.create', object: null, sourceIp: null, result: 'ok' as const, detail: null };
    const account = await server.repo.createAccount('drop', audit);
    accountId = account.id;
    apiToken = (await createApiToken(server.repo, { accountId: account.id, role: 'operator' }, 'test')).token;
    api = new ApiClient({ baseUrl: server.apiUrl, token: apiToken, caPem: server.caPem });
  });

  afterAll(async () => {
    api?.close();
    await server?.close();
  });

  /**
   * Closing every session this process has with the token, as a device reset or an HSM failover
   * would. A second handle on the library the server already initialised reaches the same sessions.
   */
  function sessionDropper(): () => void {
    const lib = new pkcs11.PKCS11();
    lib.load(SOFTHSM_MODULE);
    try {
      lib.C_Initialize();
    } catch (err) {
      if ((err as pkcs11.Pkcs11Error).code !== pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) throw err;
    }
    const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === 'tds-drop')!;
    return () => lib.C_CloseAllSessions(slot);
  }

  const provision = async (mac: string) =>
    api!.provision({ mac_address: mac, codigo: 'DROP', nome: 'drop', conta_id: accountId, csr_pem: (await createDeviceCsr({ mac })).csrPem });

  it('64 signatures at once share the session pool; each certificate verifies with the CA key', async () => {
    const ca = server!.ca;
    const issued = await Promise.all(Array.from({ length: 64 }, (_, i) => ca.issueServiceCertificate({ kind: 'station', name: `burst-${i}` })));
    const caKey = new X509Certificate(ca.certificatePem).publicKey;
    expect(issued.every((c) => new X509Certificate(c.pem).verify(caKey))).toBe(true);
    expect(new Set(issued.map((c) => c.serialNumber)).size).toBe(64);
  });

  it('reconnects and signs again; while the token is away the API answers 503 with Retry-After and stores nothing', async () => {
    const dropSessions = sessionDropper();
    const before = await provision('02:33:00:00:00:01');
    dropSessions();
    const after = await provision('02:33:00:00:00:02');
    for (const r of [before, after]) expect((await ossl.verify(server!.caPem, r.certificate_pem)).ok).toBe(true);

    // The token goes away with the sessions: the reconnect finds no token.
    unpluggable.unplug();
    dropSessions();
    const err = await provision('02:33:00:00:00:03').catch((e: unknown) => e);
    const raw = await fetch(`${server!.apiUrl}/gateways/provision/`, {
      method: 'POST',
      headers: { authorization: `Token ${apiToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ mac_address: '02:33:00:00:00:04', codigo: 'DROP', nome: 'drop', conta_id: accountId, key_type: 'ec' }),
    });
    unpluggable.replug();
    expect(raw.status).toBe(503);
    expect(raw.headers.get('retry-after')).toBe('5');
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(503);
    expect((err as ApiError).message).toMatch(/the CA key is unavailable right now; retry shortly/);
    // The gateway was not created half-way: the MAC is still free.
    for (const mac of ['02:33:00:00:00:03', '02:33:00:00:00:04']) expect((await api!.listGateways({ mac })).count).toBe(0);
  });
});

describe('PKCS#11 URI (RFC 7512)', () => {
  it('reads token and object attributes, percent-encoded ids and the module path; writes the canonical form', () => {
    const uri = parsePkcs11Uri('pkcs11:token=My%20Token;serial=d79b1974;object=ca-key;id=%01%AB;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so');
    expect(uri).toEqual({ token: { token: 'My Token', serial: 'd79b1974' }, object: 'ca-key', id: Buffer.from([0x01, 0xab]), modulePath: '/usr/lib/softhsm/libsofthsm2.so' });
    expect(formatPkcs11Uri(uri)).toBe('pkcs11:token=My%20Token;serial=d79b1974;object=ca-key;id=%01%AB;type=private');
    expect(parsePkcs11Uri(formatPkcs11Uri(uri))).toEqual({ ...uri, modulePath: undefined });
    expect(parsePkcs11Uri('pkcs11:object=a%3Bb;x-vendor=1').object).toBe('a;b');
  });

  it('refuses what it cannot honour, saying what to write instead', () => {
    const refusals: [string, RegExp][] = [
      ['token=tds-ca;object=k', /must start with "pkcs11:"/],
      ['pkcs11:token=tds-ca', /must name the key: add object=<label>/],
      ['pkcs11:object=k;type=cert', /type=cert: the CA key is a private key/],
      ['pkcs11:object=k?pin-value=1234', /carries 'pin-value'/],
      ['pkcs11:object=k?pin-source=file:/etc/pin', /carries 'pin-source'/],
      ['pkcs11:object=k?module-name=softhsm2', /module-name is not supported/],
      ['pkcs11:object=k?module-path=lib.so', /module-path must be an absolute path/],
      ['pkcs11:object=k;object=j', /names 'object' twice/],
      ['pkcs11:object=%zz', /'%zz' is not a percent-encoded byte/],
      ['pkcs11:object=k;library-version=2', /'library-version' is not supported here/],
      ['pkcs11:object=k;colour=red', /'colour' is not a PKCS#11 URI path attribute/],
      ['pkcs11:object=a%0Ab', /object is not printable UTF-8 text/],
    ];
    for (const [text, message] of refusals) expect(() => parsePkcs11Uri(text), text).toThrow(message);
  });
});
