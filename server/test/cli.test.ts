import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync, type Dirent } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { zipSync } from 'fflate';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, createDeviceCsr, type ApiError } from '@tds/server';
import { freePort } from '../../test/support/ports.js';
import { startTestServer, TDS_PROVISION_CLI, TDS_SERVER_CLI, type TestServer } from '../../test/support/server.js';
import { startProcess } from '../../test/support/processes.js';
import { tempDir } from '../../test/support/temp.js';
import { OpenSsl } from './support/openssl.js';
import { run } from './support/run.js';

// Certificates live 30 days here, so renew-expiring has something to renew.
let server: TestServer;
const work = tempDir('tds-cli-test-');
const ossl = new OpenSsl(work.path);
const configFile = path.join(work.path, 'provision.json');

beforeAll(async () => {
  server = await startTestServer({ certValidityDays: 30, mqttBroker: 'broker.example', mqttPort: 8883 });
});
afterAll(async () => {
  await server?.stop();
  work.remove();
});

const provisionCli = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, [TDS_PROVISION_CLI, ...args], { cwd: work.path, env: { TDS_PROVISION_CONFIG: configFile, TDS_API_URL: '', TDS_API_TOKEN: '', ...env } });

describe('tds-server CLI', () => {
  it('refuses to initialise a folder twice', async () => {
    const r = await server.cli(['init', '--json'], { allowFailure: true });
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/already holds a TDS server .* refusing to overwrite it/);
  });

  it('init --key-type rsa --subject makes an RSA CA with that subject, key sealed, passphrase never printed', async () => {
    const dataDir = path.join(work.path, 'rsa-ca');
    const passphrase = 'init-test-passphrase-123';
    const r = await run(process.execPath, [TDS_SERVER_CLI, 'init', '--data', dataDir, '--key-type', 'rsa', '--subject', 'C=BR, O=Fabrica Teste, CN=Custom Device CA', '--json'], {
      env: { TDS_CA_PASSPHRASE: passphrase },
    });
    expect(r.code, r.output).toBe(0);
    expect(r.output).not.toContain(passphrase);
    const out = JSON.parse(r.stdout) as { ca_key_type: string; ca_subject: string; ca_imported: boolean; ca_pem: string };
    expect(out).toMatchObject({ ca_key_type: 'rsa', ca_imported: false });
    const text = await ossl.text(out.ca_pem);
    expect(text).toMatch(/Subject: C\s*=\s*BR, O\s*=\s*Fabrica Teste, CN\s*=\s*Custom Device CA/);
    expect(text).toMatch(/Public-Key: \(\d{4} bit\)/);
    expect(text).toContain('sha256WithRSAEncryption');
    expect(statSync(path.join(dataDir, 'ca.key.enc')).mode & 0o777).toBe(0o600);
    const bad = await run(process.execPath, [TDS_SERVER_CLI, 'init', '--data', path.join(work.path, 'bad-subject'), '--subject', 'no equals sign here'], {
      env: { TDS_CA_PASSPHRASE: passphrase },
    });
    expect(bad.code).toBe(1);
    expect(bad.output).toMatch(/'no equals sign here' is not a distinguished name with a CN, like "CN=My CA/);
    expect(bad.output).not.toContain(passphrase);
    expect(existsSync(path.join(work.path, 'bad-subject'))).toBe(false);
  });

  it('init --import-cert/--import-key takes over an existing CA (encrypted key); the pair is required together', async () => {
    const key = path.join(work.path, 'imported-ca.key');
    const cert = path.join(work.path, 'imported-ca.crt');
    const keyPass = path.join(work.path, 'imported-ca.pass');
    writeFileSync(keyPass, 'import-key-pass-42\n', { mode: 0o600 });
    expect((await ossl.run(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-aes256', '-pass', `file:${keyPass}`, '-out', key])).code).toBe(0);
    const made = await ossl.run([
      'req', '-x509', '-new', '-key', key, '-passin', `file:${keyPass}`, '-subj', '/O=Plant/CN=Plant Device CA', '-days', '3650',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', cert,
    ]);
    expect(made.code, made.output).toBe(0);
    const env = { TDS_CA_PASSPHRASE: 'import-test-passphrase' };
    const alone = await run(process.execPath, [TDS_SERVER_CLI, 'init', '--data', path.join(work.path, 'imp-alone'), '--import-cert', cert], { env });
    expect(alone.code).toBe(1);
    expect(alone.output).toMatch(/--import-cert and --import-key go together/);
    const dataDir = path.join(work.path, 'imported');
    const r = await run(process.execPath, [TDS_SERVER_CLI, 'init', '--data', dataDir, '--import-cert', cert, '--import-key', key, '--import-key-passphrase-file', keyPass, '--json'], { env });
    expect(r.code, r.output).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ca_imported: true, ca_key_type: 'ec' });
    expect(readFileSync(path.join(dataDir, 'ca.crt'), 'utf8').trim()).toBe(readFileSync(cert, 'utf8').trim());
    // The imported key signs: the first CRL verifies against the imported certificate.
    expect((await ossl.crlText(readFileSync(path.join(dataDir, 'crl.pem'), 'utf8'), readFileSync(cert, 'utf8'))).ok).toBe(true);
    // Sealed under the server's passphrase, not stored as the original PEM.
    expect(readFileSync(path.join(dataDir, 'ca.key.enc'), 'utf8')).not.toContain('PRIVATE KEY');
  });

  it('needs the right passphrase to sign, and never prints it', async () => {
    const r = await run(process.execPath, [TDS_SERVER_CLI, 'crl', '--data', server.dataDir], { env: { TDS_CA_PASSPHRASE: 'wrong wrong wrong' } });
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/the passphrase does not unlock the CA key/);
    expect(r.output).not.toContain('wrong wrong wrong');
    const file = path.join(work.path, 'pass.txt');
    writeFileSync(file, `${server.passphrase}\n`, { mode: 0o600 });
    const ok = await run(process.execPath, [TDS_SERVER_CLI, 'crl', '--data', server.dataDir, '--passphrase-file', file, '--json'], { env: { TDS_CA_PASSPHRASE: '' } });
    expect(ok.code, ok.output).toBe(0);
    const crl = JSON.parse(ok.stdout) as { crl_number: number; next_update: string };
    expect(crl.crl_number).toBeGreaterThan(1);
    // The file is readable by OpenSSL and the running server serves the same CRL.
    const fileCrl = readFileSync(path.join(server.dataDir, 'crl.pem'), 'utf8');
    expect((await ossl.crlText(fileCrl, server.caPem)).text).toMatch(new RegExp(`CRL Number:\\s*\\n\\s*${crl.crl_number}`));
    const client = server.client(null);
    expect(await client.getCrlPem()).toBe(fileCrl);
    client.close();
  });

  it('creates accounts and tokens for scripts; a revoked token stops working at once', async () => {
    const accounts = JSON.parse((await server.cli(['account', 'list', '--json'])).stdout) as { id: number; name: string }[];
    expect(accounts.map((a) => a.id)).toContain(server.contaId);
    const t = JSON.parse((await server.cli(['token', 'create', '--account', String(server.contaId), '--role', 'auditor', '--label', 'ci', '--json'])).stdout) as { id: number; token: string; role: string };
    expect(t).toMatchObject({ role: 'auditor', token: expect.stringMatching(/^tds_[A-Za-z0-9_-]{43}$/) });
    const c = new ApiClient({ baseUrl: server.apiUrl, caPem: server.caPem, token: t.token });
    expect((await c.listGateways()).count).toBeGreaterThanOrEqual(0);
    const revoked = JSON.parse((await server.cli(['token', 'revoke', String(t.id), '--json'])).stdout) as { revoked_at: string };
    expect(revoked.revoked_at).toMatch(/Z$/);
    const err = await c.listGateways().catch((e: unknown) => e);
    expect((err as ApiError).status).toBe(401);
    c.close();
    const list = (await server.cli(['token', 'list', '--account', String(server.contaId)])).stdout;
    expect(list).toContain('ci');
    expect(list).not.toContain(t.token);
    const bad = await server.cli(['token', 'create', '--account', '999', '--role', 'operator'], { allowFailure: true });
    expect(bad.code).toBe(1);
    expect(bad.output).toMatch(/account 999 does not exist/);
  });

  it('renew-expiring issues pending successors for the same key; the old certificate keeps working', async () => {
    const api = server.client('operator');
    const r = await api.provision({ mac_address: '02:99:00:00:00:01', codigo: 'EXP', nome: 'expiring', conta_id: server.contaId });
    const dry = JSON.parse((await server.cli(['renew-expiring', '--within', '60d', '--dry-run', '--json'])).stdout) as { count: number; renewed: { new_serial: string | null }[] };
    expect(dry.count).toBeGreaterThanOrEqual(1);
    expect(dry.renewed.every((x) => x.new_serial === null)).toBe(true);
    const out = JSON.parse((await server.cli(['renew-expiring', '--within', '60d', '--json'])).stdout) as { count: number; renewed: { mac_address: string; old_serial: string; new_serial: string }[] };
    const mine = out.renewed.find((x) => x.mac_address === '02:99:00:00:00:01')!;
    expect(mine.old_serial).toBe(r.serial_number);
    const detail = await api.getGateway(r.gateway_id);
    expect(detail.active_certificate?.serial_number).toBe(r.serial_number);
    const pending = detail.certificados.find((c) => c.serial_number === mine.new_serial)!;
    expect(pending.status).toBe('pending');
    // Nothing left to renew: the pending successor exists.
    expect((JSON.parse((await server.cli(['renew-expiring', '--within', '60d', '--json'])).stdout) as { renewed: { mac_address: string }[] }).renewed.map((x) => x.mac_address)).not.toContain('02:99:00:00:00:01');
    // Long windows are refused politely.
    const bad = await server.cli(['renew-expiring', '--within', 'soon'], { allowFailure: true });
    expect(bad.output).toMatch(/'soon' is not a duration/);
    api.close();
  });

  it('serve --tls-cert/--tls-key: HTTPS with the given certificate instead of one from its own CA', async () => {
    const key = path.join(work.path, 'given-tls.key');
    const cert = path.join(work.path, 'given-tls.crt');
    const made = await ossl.run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=given tls', '-days', '2', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert]);
    expect(made.code, made.output).toBe(0);
    const half = await run(process.execPath, [TDS_SERVER_CLI, 'serve', '--data', server.dataDir, '--port', '0', '--tls-cert', cert], { env: { TDS_CA_PASSPHRASE: server.passphrase } });
    expect(half.code).toBe(1);
    expect(half.output).toMatch(/--tls-cert and --tls-key go together/);
    const p = startProcess('tds-server serve (given TLS)', process.execPath, [TDS_SERVER_CLI, 'serve', '--data', server.dataDir, '--port', '0', '--tls-cert', cert, '--tls-key', key, '--json', '--quiet'], {
      env: { ...process.env, TDS_CA_PASSPHRASE: server.passphrase },
    });
    try {
      const m = await p.waitForOutput(/^(\{"event":"listening".*\})$/m, 30_000);
      const info = JSON.parse(m[1]!) as { api_url: string; tls: boolean };
      expect(info.tls).toBe(true);
      // Pinned to the given self-signed certificate: only that certificate can satisfy the client.
      const pinned = new ApiClient({ baseUrl: info.api_url, caPem: readFileSync(cert, 'utf8') });
      expect(await pinned.getCaPem()).toBe(server.caPem);
      pinned.close();
      const ownCa = new ApiClient({ baseUrl: info.api_url, caPem: server.caPem });
      await expect(ownCa.getCaPem()).rejects.toThrow();
      ownCa.close();
    } finally {
      await p.stop();
    }
  });

  it('refuses plain HTTP on a non-loopback address unless forced', async () => {
    const r = await run(process.execPath, [TDS_SERVER_CLI, 'serve', '--data', server.dataDir, '--host', '0.0.0.0', '--port', String(await freePort()), '--no-tls'], {
      env: { TDS_CA_PASSPHRASE: server.passphrase },
    });
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/refusing to serve plain HTTP on 0\.0\.0\.0/);
  });
});

describe('tds-provision CLI (the seed commands)', () => {
  it('config saves URL, token and pinned CA in a private file', async () => {
    const caFile = path.join(work.path, 'ca.crt');
    writeFileSync(caFile, server.caPem);
    const tokenFile = path.join(work.path, 'operator.token');
    writeFileSync(tokenFile, `${server.tokens.operator}\n`, { mode: 0o600 });
    const r = await provisionCli(['config', '--api-url', server.apiUrl, '--token-file', tokenFile, '--ca-file', caFile]);
    expect(r.code, r.output).toBe(0);
    expect(statSync(configFile).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(configFile, 'utf8'))).toEqual({ api_url: server.apiUrl, token: server.tokens.operator, ca_file: caFile });
  });

  it('tds-provision --token puts the token on the command line: refused with what to use instead; --token-stdin, --token-file and $TDS_API_TOKEN work', async () => {
    const saved = readFileSync(configFile, 'utf8');
    const secret = `tds_${'Z'.repeat(43)}`;
    for (const args of [['config', '--token', secret], ['--token', secret, 'list-gateways']]) {
      const r = await provisionCli(args);
      expect(r.code, r.output).toBe(1);
      expect(r.output).toMatch(/--token puts the API token on the command line, where other local users can read it .*--token-file FILE, --token-stdin, or \$TDS_API_TOKEN/);
      expect(readFileSync(configFile, 'utf8')).toBe(saved);
    }
    // Standard input (piped) for config, a file or the environment for a single command.
    const other = path.join(work.path, 'stdin-config.json');
    const viaStdin = await run(process.execPath, [TDS_PROVISION_CLI, 'config', '--api-url', server.apiUrl, '--token-stdin'], {
      input: `${server.tokens.auditor}\n`,
      env: { TDS_PROVISION_CONFIG: other, TDS_API_URL: '', TDS_API_TOKEN: '' },
    });
    expect(viaStdin.code, viaStdin.output).toBe(0);
    expect(JSON.parse(readFileSync(other, 'utf8'))).toMatchObject({ token: server.tokens.auditor });
    const caFile = path.join(work.path, 'ca.crt');
    const tokenFile = path.join(work.path, 'auditor.token');
    writeFileSync(tokenFile, server.tokens.auditor, { mode: 0o600 });
    const none = { TDS_PROVISION_CONFIG: path.join(work.path, 'none.json'), TDS_API_URL: server.apiUrl, TDS_CA_FILE: caFile };
    const viaFile = await run(process.execPath, [TDS_PROVISION_CLI, '--token-file', tokenFile, 'list-gateways', '--json'], { env: { ...none, TDS_API_TOKEN: '' } });
    expect(viaFile.code, viaFile.output).toBe(0);
    const viaEnv = await run(process.execPath, [TDS_PROVISION_CLI, 'list-gateways', '--json'], { env: { ...none, TDS_API_TOKEN: server.tokens.auditor } });
    expect(viaEnv.code, viaEnv.output).toBe(0);
    const empty = await run(process.execPath, [TDS_PROVISION_CLI, '--token-file', path.join(work.path, 'no-such.token'), 'list-gateways'], { env: { ...none, TDS_API_TOKEN: '' } });
    expect(empty.code).toBe(1);
    expect(empty.output).toMatch(/cannot read the token file/);
  });

  it('create-gateway saves certs/<mac>/ with a 0600 key when the server made it', async () => {
    const r = await provisionCli(['create-gateway', '--mac', 'AA:BB:CC:10:00:01', '--codigo', 'GW100', '--nome', 'Gateway CLI', '--conta-id', String(server.contaId), '--json']);
    expect(r.code, r.output).toBe(0);
    const dir = path.join(work.path, 'certs', 'aa:bb:cc:10:00:01');
    for (const f of ['client.crt', 'client.key', 'ca.crt', 'metadata.json']) expect(existsSync(path.join(dir, f))).toBe(true);
    expect(statSync(path.join(dir, 'client.key')).mode & 0o777).toBe(0o600);
    const meta = JSON.parse(readFileSync(path.join(dir, 'metadata.json'), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(meta)).toEqual(['gateway_id', 'mac_address', 'codigo', 'expires_at', 'serial_number', 'mqtt_broker', 'mqtt_port', 'mqtt_topic']);
    expect(meta).toMatchObject({ mac_address: 'aa:bb:cc:10:00:01', codigo: 'GW100', mqtt_broker: 'broker.example', mqtt_topic: 'tds_new/devices/aa:bb:cc:10:00:01/telemetry' });
    expect((await ossl.verify(server.caPem, readFileSync(path.join(dir, 'client.crt'), 'utf8'))).ok).toBe(true);
    const fromCert = await ossl.run(['x509', '-noout', '-pubkey', '-in', path.join(dir, 'client.crt')]);
    const fromKey = await ossl.run(['pkey', '-pubout', '-in', path.join(dir, 'client.key')]);
    expect(fromCert.stdout).toBe(fromKey.stdout);
  });

  it('create-gateway --csr sends no key and saves none', async () => {
    const { csrPem } = await createDeviceCsr({ mac: 'aa:bb:cc:10:00:02' });
    const csrFile = path.join(work.path, 'dev.csr');
    writeFileSync(csrFile, csrPem);
    const r = await provisionCli(['create-gateway', '--mac', 'aa:bb:cc:10:00:02', '--codigo', 'GW101', '--nome', 'Com CSR', '--conta-id', String(server.contaId), '--csr', csrFile, '--output', 'out']);
    expect(r.code, r.output).toBe(0);
    const dir = path.join(work.path, 'out', 'aa:bb:cc:10:00:02');
    expect(existsSync(path.join(dir, 'client.crt'))).toBe(true);
    expect(existsSync(path.join(dir, 'client.key'))).toBe(false);
  });

  it('import-csv, list-gateways, download-certs (key once), revoke-cert', async () => {
    const csv = path.join(work.path, 'gw.csv');
    writeFileSync(csv, 'mac_address,codigo,nome\naa:bb:cc:10:00:10,GW110,Linha A\naa:bb:cc:10:00:11,GW111,Linha B\n');
    const imp = await provisionCli(['import-csv', csv, '--json']);
    expect(imp.code, imp.output).toBe(0);
    const imported = JSON.parse(imp.stdout) as { created: number; rows: { gateway_id: number }[] };
    expect(imported.created).toBe(2);

    const list = await provisionCli(['list-gateways', '--conta-id', String(server.contaId), '--all']);
    expect(list.stdout).toMatch(/GW110\taa:bb:cc:10:00:10/);

    const id = imported.rows[0]!.gateway_id;
    const dl = await provisionCli(['download-certs', '--gateway-id', String(id), '--output', 'dl', '--json']);
    expect(dl.code, dl.output).toBe(0);
    const dir = path.join(work.path, 'dl', 'aa:bb:cc:10:00:10');
    expect(statSync(path.join(dir, 'client.key')).mode & 0o777).toBe(0o600);
    expect(readFileSync(path.join(dir, 'README.txt'), 'utf8')).toContain('GW110');
    const again = await provisionCli(['download-certs', '--gateway-id', String(id), '--output', 'dl2']);
    expect(again.code).toBe(0);
    expect(existsSync(path.join(work.path, 'dl2', 'aa:bb:cc:10:00:10', 'client.key'))).toBe(false);

    const rv = await provisionCli(['revoke-cert', '--gateway-id', String(id), '--reason', 'Dispositivo comprometido']);
    expect(rv.code, rv.output).toBe(0);
    expect(rv.stdout).toMatch(/revoked [0-9A-F]{32} \(unspecified\)/);
    const anon = server.client(null);
    const crl = await anon.getCrlPem();
    anon.close();
    expect((await ossl.verify(server.caPem, readFileSync(path.join(dir, 'client.crt'), 'utf8'), crl)).ok).toBe(false);
  });

  it('renew-cert: from a CSR (the stale key goes), with a server-made key (0600), and --ask-device needs an MQTT side', async () => {
    const mac = 'aa:bb:cc:10:00:30';
    const created = await provisionCli(['create-gateway', '--mac', mac, '--codigo', 'GW130', '--nome', `Gateway ${mac}`, '--conta-id', String(server.contaId), '--output', 'rn', '--json']);
    expect(created.code, created.output).toBe(0);
    const { gateway_id: id, serial_number: firstSerial } = JSON.parse(created.stdout) as { gateway_id: number; serial_number: string };
    const dir = path.join(work.path, 'rn', mac);
    const firstCert = readFileSync(path.join(dir, 'client.crt'), 'utf8');

    const { csrPem, privateKeyPem } = await createDeviceCsr({ mac });
    writeFileSync(path.join(work.path, 'renew.csr'), csrPem);
    const viaCsr = await provisionCli(['renew-cert', '--gateway-id', String(id), '--csr', 'renew.csr', '--output', 'rn', '--json']);
    expect(viaCsr.code, viaCsr.output).toBe(0);
    const out = JSON.parse(viaCsr.stdout) as { serial_number: string; replaces_serial_number: string; removed_stale_key: boolean; directory: string };
    expect(out).toMatchObject({ replaces_serial_number: firstSerial, removed_stale_key: true, directory: dir });
    // The server-made key of the first certificate would not match the new one: gone.
    expect(existsSync(path.join(dir, 'client.key'))).toBe(false);
    const cert = readFileSync(path.join(dir, 'client.crt'), 'utf8');
    const fromCert = await ossl.run(['x509', '-noout', '-pubkey', '-in', path.join(dir, 'client.crt')]);
    const fromKey = await ossl.run(['pkey', '-pubout', '-in', ossl.file(privateKeyPem, 'key')]);
    expect(fromCert.stdout).toBe(fromKey.stdout);
    expect(JSON.parse(readFileSync(path.join(dir, 'metadata.json'), 'utf8'))).toMatchObject({ gateway_id: id, codigo: 'GW130', mac_address: mac, serial_number: out.serial_number });
    const anon = server.client(null);
    let crl = await anon.getCrlPem();
    expect((await ossl.verify(server.caPem, firstCert, crl)).ok).toBe(false);
    expect((await ossl.verify(server.caPem, cert, crl)).ok).toBe(true);

    const viaServer = await provisionCli(['renew-cert', '--gateway-id', String(id), '--output', 'rn']);
    expect(viaServer.code, viaServer.output).toBe(0);
    expect(viaServer.stdout).toMatch(new RegExp(`new certificate [0-9A-F]{32} valid until .*; ${out.serial_number} revoked \\(superseded\\)`));
    expect(statSync(path.join(dir, 'client.key')).mode & 0o777).toBe(0o600);
    const newCert = await ossl.run(['x509', '-noout', '-pubkey', '-in', path.join(dir, 'client.crt')]);
    const newKey = await ossl.run(['pkey', '-pubout', '-in', path.join(dir, 'client.key')]);
    expect(newCert.stdout).toBe(newKey.stdout);
    crl = await anon.getCrlPem();
    anon.close();
    expect((await ossl.verify(server.caPem, cert, crl)).ok).toBe(false);

    const ask = await provisionCli(['renew-cert', '--gateway-id', String(id), '--ask-device']);
    expect(ask.code).toBe(1);
    expect(ask.output).toMatch(/not connected to the MQTT broker .* cannot ask the device; send csr_pem instead/);
    const both = await provisionCli(['renew-cert', '--gateway-id', String(id), '--ask-device', '--csr', 'renew.csr']);
    expect(both.code).toBe(1);
    expect(both.output).toMatch(/cannot be used with/);
    const missing = await provisionCli(['renew-cert', '--gateway-id', '999999']);
    expect(missing.code).toBe(1);
    expect(missing.output).toMatch(/gateway 999999 not found/);
  });

  it('import-csv reports bad rows and imports nothing', async () => {
    const csv = path.join(work.path, 'bad.csv');
    writeFileSync(csv, 'mac_address,codigo,nome\naa:bb:cc:10:00:20,GW120,ok\n01:00:5e:00:00:01,GW121,multicast\n');
    const r = await provisionCli(['import-csv', csv]);
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/line 3\t01:00:5e:00:00:01\t.*multicast/);
    expect(r.output).toMatch(/nothing was imported/);
  });

  it('says clearly when the server cannot be reached or the token is missing', async () => {
    const port = await freePort();
    const down = await provisionCli(['list-gateways'], { TDS_API_URL: `https://127.0.0.1:${port}/api/v1` });
    expect(down.code).toBe(1);
    expect(down.output).toMatch(/cannot reach the TDS server at https:\/\/127\.0\.0\.1:\d+: connection refused/);
    const noToken = await run(process.execPath, [TDS_PROVISION_CLI, 'list-gateways'], { env: { TDS_PROVISION_CONFIG: path.join(work.path, 'none.json'), TDS_API_URL: server.apiUrl, TDS_API_TOKEN: '' } });
    expect(noToken.code).toBe(1);
    expect(noToken.output).toMatch(/no API token/);
  });
});

/**
 * A server that answers with hostile names: a Content-Disposition file name that climbs out of
 * --output, and a renewal whose mac_address is a path. A stand-in for a compromised or spoofed
 * server (the real one never sends these); the CLI must keep every file inside --output.
 */
describe('tds-provision against a hostile server', () => {
  let fake: http.Server;
  let apiUrl: string;
  const gateway = { id: 7, codigo: 'GW7', nome: 'x', mac: '02:00:00:00:00:07', conta_id: 1, is_online: false, active_certificate: null };

  beforeAll(async () => {
    fake = http.createServer((req, res) => {
      const send = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
      };
      if (req.method === 'GET' && req.url === '/api/v1/gateways/7/certificados/') {
        const zip = zipSync({ 'client.crt': new TextEncoder().encode('certificate') });
        res.writeHead(200, { 'content-type': 'application/zip', 'content-disposition': 'attachment; filename="../../../escaped_certificados.zip"' }).end(Buffer.from(zip));
      } else if (req.method === 'GET' && req.url === '/api/v1/gateways/7/') send(200, { ...gateway, certificados: [], private_key_available: false });
      else if (req.method === 'POST' && req.url === '/api/v1/gateways/7/renew/') {
        req.resume();
        req.on('end', () =>
          send(201, { gateway_id: 7, certificate_pem: 'x', ca_pem: 'x', expires_at: '2036-01-01T00:00:00Z', serial_number: 'AB', mqtt_broker: 'b', mqtt_port: 8883, mqtt_topic: 't', mac_address: '../../../renamed' }),
        );
      } else send(404, { error: 'no such endpoint' });
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    apiUrl = `http://127.0.0.1:${(fake.address() as AddressInfo).port}/api/v1`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => fake.close(() => resolve()));
  });

  /** Every file below `dir`, relative to it, sorted. */
  const filesUnder = (dir: string): string[] =>
    (readdirSync(dir, { recursive: true, withFileTypes: true }) as Dirent[])
      .filter((d) => d.isFile())
      .map((d) => path.relative(dir, path.join(d.parentPath, d.name)))
      .sort();

  const hostileCli = (args: string[], cwd: string) =>
    run(process.execPath, [TDS_PROVISION_CLI, ...args], { cwd, env: { TDS_PROVISION_CONFIG: path.join(cwd, 'none.json'), TDS_API_URL: apiUrl, TDS_API_TOKEN: 'tds_hostile-test-token', TDS_CA_FILE: '' } });

  it('download-certs --keep-zip takes only the base name of the server\'s file name: nothing is written outside --output', async () => {
    const cwd = path.join(work.path, 'hostile-dl', 'a', 'b', 'c');
    mkdirSync(cwd, { recursive: true });
    const r = await hostileCli(['download-certs', '--gateway-id', '7', '--output', 'out', '--keep-zip', '--json'], cwd);
    expect(r.code, r.output).toBe(0);
    const files = (JSON.parse(r.stdout) as { files: string[] }).files;
    const expected = [path.join('a', 'b', 'c', 'out', 'gateway-7', 'client.crt'), path.join('a', 'b', 'c', 'out', 'gateway-7', 'escaped_certificados.zip')];
    expect(files.map((f) => path.relative(path.join(work.path, 'hostile-dl'), f)).sort()).toEqual(expected);
    expect(filesUnder(path.join(work.path, 'hostile-dl'))).toEqual(expected);
  });

  it('renew-cert parses the answer\'s mac_address with the MAC parser and refuses a path', async () => {
    const cwd = path.join(work.path, 'hostile-rn', 'a', 'b', 'c');
    mkdirSync(cwd, { recursive: true });
    const r = await hostileCli(['renew-cert', '--gateway-id', '7', '--output', 'out'], cwd);
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/the server answered with an invalid MAC address/);
    expect(filesUnder(path.join(work.path, 'hostile-rn'))).toEqual([]);
  });
});
