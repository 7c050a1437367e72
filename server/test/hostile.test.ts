import { readFileSync } from 'node:fs';
import path from 'node:path';
import { webcrypto } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { strFromU8, unzipSync } from 'fflate';
import { ApiClient, createDeviceCsr } from '@tds/server';
import { startTestServer, type TestServer } from '../../test/support/server.js';
import { tempDir } from '../../test/support/temp.js';
import { snapshot } from './support/db.js';
import { rawRequest, type RawResponse } from './support/http.js';
import { OpenSsl } from './support/openssl.js';

/**
 * Hostile inputs against the real server: each has an expected status and message, and after
 * each the database holds exactly what it held before (refused attempts are audited, by design,
 * but nothing else changes).
 */
let server: TestServer;
let other: { contaId: number; tokens: TestServer['tokens'] };
let revokedToken: string;
let ownGatewayId: number;
let otherGatewayId: number;
/** Own gateways for the renewal endpoints: one with a renewal in flight, one revoked. */
let pending: { id: number; activeSerial: string; pendingSerial: string; cancelledSerial: string };
let revokedGatewayId: number;
/** An own gateway whose MAC was revoked here and then provisioned by the other account. */
let takeoverGatewayId: number;
const TAKEN_MAC = '02:11:00:00:00:04';
let otherPendingSerial: string;
const OWN_MAC = '02:11:00:00:00:01';
const OTHER_MAC = '02:22:00:00:00:01';
const MAC = '02:33:00:00:00:01';
const csr: Record<string, string> = {};
const work = tempDir('tds-hostile-');

beforeAll(async () => {
  server = await startTestServer();
  other = await server.createAccount('other account');
  const ossl = new OpenSsl(work.path);
  const a = server.client('operator');
  ownGatewayId = (await a.provision({ mac_address: OWN_MAC, codigo: 'OWN', nome: 'own', conta_id: server.contaId })).gateway_id;
  const bClient = new ApiClient({ baseUrl: server.apiUrl, caPem: server.caPem, token: other.tokens.operator });
  otherGatewayId = (await bClient.provision({ mac_address: OTHER_MAC, codigo: 'OTHER', nome: 'other', conta_id: other.contaId })).gateway_id;
  const p = await a.provision({ mac_address: '02:11:00:00:00:02', codigo: 'PEND', nome: 'pending', conta_id: server.contaId });
  const cancelled = await a.renewPending(p.gateway_id);
  await a.cancelRenewal(p.gateway_id, cancelled.serial_number);
  pending = { id: p.gateway_id, activeSerial: p.serial_number, pendingSerial: (await a.renewPending(p.gateway_id)).serial_number, cancelledSerial: cancelled.serial_number };
  revokedGatewayId = (await a.provision({ mac_address: '02:11:00:00:00:03', codigo: 'GONE', nome: 'revoked', conta_id: server.contaId })).gateway_id;
  await a.revoke(revokedGatewayId, 'cessationOfOperation');
  otherPendingSerial = (await bClient.renewPending(otherGatewayId)).serial_number;
  takeoverGatewayId = (await a.provision({ mac_address: TAKEN_MAC, codigo: 'TAKEN', nome: 'taken', conta_id: server.contaId })).gateway_id;
  await a.revoke(takeoverGatewayId, 'cessationOfOperation');
  await bClient.provision({ mac_address: TAKEN_MAC, codigo: 'MINE', nome: 'now the other account', conta_id: other.contaId });
  a.close();
  bClient.close();
  const t = JSON.parse((await server.cli(['token', 'create', '--account', String(server.contaId), '--role', 'operator', '--json'])).stdout) as { id: number; token: string };
  await server.cli(['token', 'revoke', String(t.id)]);
  revokedToken = t.token;

  const good = await createDeviceCsr({ mac: MAC });
  const der = Buffer.from(x509.PemConverter.decodeFirst(good.csrPem));
  const badSig = Buffer.from(der);
  badSig[badSig.length - 3] = badSig[badSig.length - 3]! ^ 0xff;
  csr.badSignature = x509.PemConverter.encode(badSig, 'CERTIFICATE REQUEST');
  csr.truncated = x509.PemConverter.encode(der.subarray(0, 40), 'CERTIFICATE REQUEST');
  csr.wrongCn = (await createDeviceCsr({ mac: '02:33:00:00:00:99' })).csrPem;
  csr.controlCn = (await createDeviceCsr({ mac: MAC, commonName: 'x\u001b[31m\r\nforged\u202e' })).csrPem;
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
  csr.wantsCa = (
    await x509.Pkcs10CertificateRequestGenerator.create({ name: [{ CN: [MAC] }], keys, signingAlgorithm: alg, extensions: [new x509.BasicConstraintsExtension(true, undefined, true)] })
  ).toString('pem');
  for (const [name, keyArgs] of [
    ['ed25519', ['-newkey', 'ed25519']],
    ['rsa1024', ['-newkey', 'rsa:1024']],
  ] as const) {
    const out = path.join(work.path, `${name}.csr`);
    const r = await ossl.run(['req', '-new', ...keyArgs, '-nodes', '-subj', `/CN=${MAC}`, '-keyout', path.join(work.path, `${name}.key`), '-out', out]);
    expect(r.code, r.output).toBe(0);
    csr[name] = readFileSync(out, 'utf8');
  }
});

afterAll(async () => {
  await server?.stop();
  work.remove();
});

interface Case {
  name: string;
  method?: string;
  path?: string;
  token?: () => string | undefined;
  headers?: Record<string, string>;
  body?: () => unknown;
  /** Raw body text (sent as is). */
  raw?: () => string;
  status: number;
  error: RegExp;
  field?: string;
  check?: (r: RawResponse) => void;
}

const provision = (over: Record<string, unknown> = {}): (() => unknown) => () => ({ mac_address: MAC, codigo: 'GW001', nome: 'Gateway', conta_id: server.contaId, ...over });
const op = (): string => server.tokens.operator;

const cases: Case[] = [
  // MAC addresses
  { name: 'MAC with five octets', body: provision({ mac_address: 'aa:bb:cc:dd:ee' }), status: 400, error: /is not a MAC address/, field: 'mac_address' },
  { name: 'MAC with non-hex digits', body: provision({ mac_address: 'gg:bb:cc:dd:ee:ff' }), status: 400, error: /is not a MAC address/, field: 'mac_address' },
  { name: 'MAC with mixed separators', body: provision({ mac_address: 'aa:bb-cc:dd:ee:ff' }), status: 400, error: /is not a MAC address/, field: 'mac_address' },
  { name: 'multicast MAC', body: provision({ mac_address: '01:00:5e:00:00:01' }), status: 400, error: /multicast/, field: 'mac_address' },
  { name: 'broadcast MAC', body: provision({ mac_address: 'ff:ff:ff:ff:ff:ff' }), status: 400, error: /broadcast/, field: 'mac_address' },
  { name: 'all-zero MAC', body: provision({ mac_address: '00:00:00:00:00:00' }), status: 400, error: /00:00:00:00:00:00 is not a device address/, field: 'mac_address' },
  { name: 'MAC as a number', body: provision({ mac_address: 123456 }), status: 400, error: /mac_address must be a string/, field: 'mac_address' },
  // CSRs
  { name: 'CSR whose CN holds control characters', body: () => provision({ csr_pem: csr.controlCn })(), status: 400, error: /CSR CN '.*' is not the MAC being provisioned/s, field: 'csr_pem' },
  { name: 'CSR with a bad signature', body: () => provision({ csr_pem: csr.badSignature })(), status: 400, error: /CSR signature does not verify/, field: 'csr_pem' },
  { name: 'CSR whose CN is another MAC', body: () => provision({ csr_pem: csr.wrongCn })(), status: 400, error: /CSR CN '02:33:00:00:00:99' is not the MAC being provisioned/, field: 'csr_pem' },
  { name: 'CSR requesting CA:true', body: () => provision({ csr_pem: csr.wantsCa })(), status: 400, error: /requests CA:true/, field: 'csr_pem' },
  { name: 'CSR that is not PEM', body: provision({ csr_pem: 'hello' }), status: 400, error: /not a PEM "CERTIFICATE REQUEST" block/, field: 'csr_pem' },
  { name: 'CSR with truncated DER', body: () => provision({ csr_pem: csr.truncated })(), status: 400, error: /not a valid PKCS#10 request/, field: 'csr_pem' },
  { name: 'CSR with an Ed25519 key', body: () => provision({ csr_pem: csr.ed25519 })(), status: 400, error: /ed25519 keys are not accepted/, field: 'csr_pem' },
  { name: 'CSR with an RSA-1024 key', body: () => provision({ csr_pem: csr.rsa1024 })(), status: 400, error: /RSA-1024 keys are not accepted/, field: 'csr_pem' },
  { name: 'CSR longer than 16 KiB', body: provision({ csr_pem: 'A'.repeat(17_000) }), status: 400, error: /csr_pem is longer than 16384/, field: 'csr_pem' },
  // Bodies
  { name: 'body over 64 KiB', body: provision({ nome: 'x'.repeat(70_000) }), status: 413, error: /too large/ },
  { name: 'truncated JSON', raw: () => '{"mac_address": "aa:bb', status: 400, error: /not valid JSON/ },
  { name: 'JSON array instead of object', raw: () => '[1,2,3]', status: 400, error: /must be a JSON object/ },
  { name: 'empty JSON body', raw: () => '', status: 400, error: /empty/ },
  { name: 'XML content type', raw: () => '<gateway/>', headers: { 'content-type': 'application/xml' }, status: 415, error: /unsupported Content-Type/ },
  { name: '100 KB text/plain body to a JSON route (the CSV parser is the import route\'s only)', raw: () => 'x'.repeat(100 * 1024), headers: { 'content-type': 'text/plain' }, status: 415, error: /unsupported Content-Type/ },
  { name: '100 KB text/csv body to a JSON route', path: '/gateways/{own}/revoke/', raw: () => `reason\n${'x'.repeat(100 * 1024)}`, headers: { 'content-type': 'text/csv' }, status: 415, error: /unsupported Content-Type/ },
  { name: 'prototype pollution key', raw: () => `{"__proto__":{"admin":true},"mac_address":"${MAC}","codigo":"GW1","nome":"x","conta_id":1}`, status: 400, error: /forbidden key "__proto__"/ },
  // Wrong JSON types and missing fields
  { name: 'conta_id as a string', body: () => provision({ conta_id: String(server.contaId) })(), status: 400, error: /conta_id must be an integer/, field: 'conta_id' },
  { name: 'conta_id as a fraction', body: provision({ conta_id: 1.5 }), status: 400, error: /conta_id must be an integer/, field: 'conta_id' },
  { name: 'codigo as a number', body: provision({ codigo: 42 }), status: 400, error: /codigo must be a string/, field: 'codigo' },
  { name: 'nome null', body: provision({ nome: null }), status: 400, error: /nome must be a string/, field: 'nome' },
  { name: 'codigo missing', body: () => ({ mac_address: MAC, nome: 'x', conta_id: server.contaId }), status: 400, error: /codigo is required/, field: 'codigo' },
  { name: 'csr_pem as an object', body: provision({ csr_pem: { pem: 'x' } }), status: 400, error: /csr_pem must be a PEM certificate request string/, field: 'csr_pem' },
  { name: 'unknown key_type', body: provision({ key_type: 'dsa' }), status: 400, error: /key_type must be "ec" or "rsa"/, field: 'key_type' },
  // SQL- and path-shaped strings
  { name: 'SQL in codigo', body: provision({ codigo: "GW'; DROP TABLE gateways;--" }), status: 400, error: /codigo must be 1-30 characters/, field: 'codigo' },
  { name: 'path in codigo', body: provision({ codigo: '../../etc/passwd' }), status: 400, error: /codigo must be 1-30 characters/, field: 'codigo' },
  { name: 'path in codigo (Windows)', body: provision({ codigo: '..\\..\\windows\\system32' }), status: 400, error: /codigo must be 1-30 characters/, field: 'codigo' },
  // nome is free text (see "stored verbatim" below), but it must be printable and one line
  { name: 'line break in nome', body: provision({ nome: 'line\nbreak' }), status: 400, error: /nome must be 1-100 characters of printable text/, field: 'nome' },
  { name: 'NUL and escape sequence in nome', body: provision({ nome: 'a\u0000b\u001b[31m' }), status: 400, error: /nome must be 1-100 characters of printable text/, field: 'nome' },
  { name: 'bidi override in nome', body: provision({ nome: 'Gateway \u202eexe.txt' }), status: 400, error: /no control characters, line breaks or invisible formatting/, field: 'nome' },
  { name: 'nome of 101 characters', body: provision({ nome: 'ç'.repeat(101) }), status: 400, error: /nome must be 1-100 characters/, field: 'nome' },
  { name: 'nome of blanks only', body: provision({ nome: ' \u00a0 ' }), status: 400, error: /nome must be 1-100 characters/, field: 'nome' },
  { name: 'codigo of 31 characters', body: provision({ codigo: 'G'.repeat(31) }), status: 400, error: /codigo must be 1-30 characters/, field: 'codigo' },
  // Tokens and roles
  { name: 'no token', token: () => undefined, body: provision(), status: 401, error: /authentication required/ },
  { name: 'unknown token', token: () => `tds_${'A'.repeat(43)}`, body: provision(), status: 401, error: /^invalid token$/ },
  { name: 'Basic auth instead of Token', headers: { authorization: 'Basic dXNlcjpwYXNz' }, token: () => undefined, body: provision(), status: 401, error: /malformed Authorization header/ },
  { name: 'revoked token', token: () => revokedToken, body: provision(), status: 401, error: /this token has been revoked/ },
  { name: 'auditor provisioning', token: () => server.tokens.auditor, body: provision(), status: 403, error: /role 'auditor' may not provision gateways/ },
  { name: "another account's conta_id", body: () => provision({ conta_id: other.contaId })(), status: 403, error: /cannot act for conta_id/, field: 'conta_id' },
  // Duplicate MAC
  { name: 'MAC active in another account', body: provision({ mac_address: OTHER_MAC }), status: 409, error: /^MAC 02:22:00:00:00:01 is not available$/, field: 'mac_address' },
  { name: "MAC with another account's pending renewal (same message)", body: provision({ mac_address: OTHER_MAC.replace(/:/g, '-') }), status: 409, error: /^MAC 02:22:00:00:00:01 is not available$/, field: 'mac_address' },
  { name: 'MAC takeover through renew/: an own old gateway of a MAC another account now holds', path: '/gateways/{takeover}/renew/', body: () => ({}), status: 409, error: /^MAC 02:11:00:00:00:04 is not available$/, field: 'mac_address' },
  { name: 'MAC active in this account', body: provision({ mac_address: OWN_MAC.toUpperCase() }), status: 409, error: /already has an active certificate \(gateway \d+\)/, field: 'mac_address' },
  // CSV import
  {
    name: 'CSV with one bad row among good ones',
    path: '/gateways/import/',
    headers: { 'content-type': 'text/csv' },
    raw: () => `mac_address,codigo,nome\n02:44:00:00:00:01,GW1,Good\nnot-a-mac,GW2,Bad\n02:44:00:00:00:03,GW3,Good\n`,
    status: 400,
    error: /1 row\(s\) have errors; nothing was imported/,
    field: 'csv',
    check: (r) => {
      expect(r.json.details?.rows).toEqual([
        { line: 2, mac_address: '02:44:00:00:00:01', status: 'not_imported' },
        { line: 3, mac_address: 'not-a-mac', status: 'error', error: expect.stringMatching(/is not a MAC address/) },
        { line: 4, mac_address: '02:44:00:00:00:03', status: 'not_imported' },
      ]);
    },
  },
  { name: 'CSV without the header', path: '/gateways/import/', headers: { 'content-type': 'text/csv' }, raw: () => '02:44:00:00:00:05,GW1,x\n', status: 400, error: /first CSV line must be the header/, field: 'csv' },
  { name: 'CSV repeating a MAC', path: '/gateways/import/', headers: { 'content-type': 'text/csv' }, raw: () => 'mac_address,codigo,nome\n02:44:00:00:00:07,A,x\n02-44-00-00-00-07,B,y\n', status: 400, error: /nothing was imported/, check: (r) => expect(r.json.details?.rows?.[1]?.error).toMatch(/already appears on line 2/) },
  { name: "CSV with another account's active MAC", path: '/gateways/import/', headers: { 'content-type': 'text/csv' }, raw: () => `mac_address,codigo,nome\n${OTHER_MAC},A,x\n`, status: 400, error: /nothing was imported/, check: (r) => expect(r.json.details?.rows?.[0]?.error).toBe(`MAC ${OTHER_MAC} is not available`) },
  { name: 'CSV row with a missing column', path: '/gateways/import/', headers: { 'content-type': 'text/csv' }, raw: () => 'mac_address,codigo,nome\n02:44:00:00:00:09,GW1\n', status: 400, error: /nothing was imported/, check: (r) => expect(r.json.details?.rows?.[0]?.error).toMatch(/has 2 fields; expected 3/) },
  { name: 'CSV with an SQL-shaped codigo', path: '/gateways/import/', headers: { 'content-type': 'text/csv' }, raw: () => 'mac_address,codigo,nome\n02:44:00:00:00:0b,"1; DROP TABLE x",n\n', status: 400, error: /nothing was imported/, check: (r) => expect(r.json.details?.rows?.[0]?.error).toMatch(/codigo must be/) },
  // Paths and other endpoints
  { name: 'non-numeric gateway id', method: 'GET', path: '/gateways/abc/', status: 400, error: /gateway id must be a positive integer/, field: 'id' },
  { name: "revoking another account's gateway", path: '/gateways/{other}/revoke/', body: () => ({ reason: 'keyCompromise' }), status: 404, error: /gateway \d+ not found/ },
  { name: 'revoking with an empty reason', path: '/gateways/{own}/revoke/', body: () => ({ reason: '   ' }), status: 400, error: /reason must be 1-200 characters/, field: 'reason' },
  { name: 'renewing with a CSR for another MAC', path: '/gateways/{own}/renew/', body: () => ({ csr_pem: csr.wrongCn }), status: 400, error: /is not the MAC being provisioned/, field: 'csr_pem' },
  { name: 'path traversal in the URL', method: 'GET', path: '/gateways/..%2F..%2Fetc%2Fpasswd/', status: 400, error: /gateway id must be a positive integer/ },
  // Renewal with a pending successor: renew {pending}, renew/confirm/, renew/cancel/
  { name: 'pending combined with ask_device', path: '/gateways/{own}/renew/', body: () => ({ pending: true, ask_device: true }), status: 400, error: /ask_device cannot be combined with .*pending/, field: 'ask_device' },
  { name: 'pending as a string', path: '/gateways/{own}/renew/', body: () => ({ pending: 'yes' }), status: 400, error: /pending must be true or false/, field: 'pending' },
  { name: 'pending renewal of a revoked gateway', path: '/gateways/{revoked}/renew/', body: () => ({ pending: true }), status: 409, error: /has no active certificate to keep valid during the renewal; renew it without "pending"/ },
  { name: "pending renewal of another account's gateway", path: '/gateways/{other}/renew/', body: () => ({ pending: true }), status: 404, error: /^gateway \d+ not found$/ },
  { name: 'pending renewal with a CSR for another MAC', path: '/gateways/{pending}/renew/', body: () => ({ pending: true, csr_pem: csr.wrongCn }), status: 400, error: /is not the MAC being provisioned/, field: 'csr_pem' },
  { name: 'confirm without serial_number', path: '/gateways/{pending}/renew/confirm/', body: () => ({}), status: 400, error: /serial_number is required/, field: 'serial_number' },
  { name: 'confirm with an SQL-shaped serial', path: '/gateways/{pending}/renew/confirm/', body: () => ({ serial_number: "1' OR '1'='1" }), status: 400, error: /serial_number must be the certificate serial in hex/, field: 'serial_number' },
  { name: 'confirm with a numeric serial', path: '/gateways/{pending}/renew/confirm/', body: () => ({ serial_number: 1234 }), status: 400, error: /serial_number must be a hex string/, field: 'serial_number' },
  { name: 'confirm with a serial that is not on the gateway', path: '/gateways/{pending}/renew/confirm/', body: () => ({ serial_number: 'DEADBEEF' }), status: 404, error: /^gateway \d+ has no certificate with serial DEADBEEF$/ },
  { name: "confirm with another account's pending serial", path: '/gateways/{pending}/renew/confirm/', body: () => ({ serial_number: otherPendingSerial }), status: 404, error: /has no certificate with serial/ },
  { name: "confirm on another account's gateway", path: '/gateways/{other}/renew/confirm/', body: () => ({ serial_number: otherPendingSerial }), status: 404, error: /^gateway \d+ not found$/ },
  { name: 'confirm a cancelled certificate', path: '/gateways/{pending}/renew/confirm/', body: () => ({ serial_number: pending.cancelledSerial }), status: 409, error: /is revoked \(cessationOfOperation: pending renewal cancelled\) and cannot be confirmed/ },
  { name: 'confirm on a gateway with nothing pending', path: '/gateways/{revoked}/renew/confirm/', body: () => ({ serial_number: pending.pendingSerial }), status: 404, error: /has no certificate with serial/ },
  { name: 'confirm as auditor', token: () => server.tokens.auditor, path: '/gateways/{pending}/renew/confirm/', body: () => ({ serial_number: pending.pendingSerial }), status: 403, error: /role 'auditor' may not renew certificates/ },
  { name: 'cancel the active certificate', path: '/gateways/{pending}/renew/cancel/', body: () => ({ serial_number: pending.activeSerial }), status: 409, error: /is active \(it was already confirmed\); to withdraw it, revoke the gateway/ },
  { name: 'cancel with nothing pending', path: '/gateways/{own}/renew/cancel/', body: () => ({}), status: 409, error: /has no certificate waiting for confirmation/ },
  { name: "cancel on another account's gateway", path: '/gateways/{other}/renew/cancel/', body: () => ({ serial_number: otherPendingSerial }), status: 404, error: /^gateway \d+ not found$/ },
  { name: 'cancel with a path-shaped serial', path: '/gateways/{pending}/renew/cancel/', body: () => ({ serial_number: '../../crl.pem' }), status: 400, error: /serial_number must be the certificate serial in hex/, field: 'serial_number' },
  { name: 'cancel with a JSON array body', path: '/gateways/{pending}/renew/cancel/', raw: () => '["DEADBEEF"]', status: 400, error: /must be a JSON object/ },
];

describe(`hostile inputs (${cases.length}), each refused with its status and message, nothing written`, () => {
  it('has at least 30 cases', () => expect(cases.length).toBeGreaterThanOrEqual(30));

  for (const c of cases) {
    it(c.name, async () => {
      const before = snapshot(server.dataDir);
      const token = c.token ? c.token() : op();
      const p = (c.path ?? '/gateways/provision/')
        .replace('{own}', String(ownGatewayId))
        .replace('{other}', String(otherGatewayId))
        .replace('{pending}', String(pending.id))
        .replace('{revoked}', String(revokedGatewayId))
        .replace('{takeover}', String(takeoverGatewayId));
      const body = c.raw ? c.raw() : c.body ? JSON.stringify(c.body()) : undefined;
      const r = await rawRequest(server.apiUrl, server.caPem, {
        method: c.method ?? (body === undefined ? 'GET' : 'POST'),
        path: p,
        ...(token ? { token } : {}),
        ...(c.headers ? { headers: c.headers } : {}),
        ...(body !== undefined ? { body } : {}),
      });
      expect(r.status, r.text).toBe(c.status);
      expect(r.json.error, r.text).toMatch(c.error);
      if (c.field) expect(r.json.details?.field).toBe(c.field);
      c.check?.(r);
      expect(snapshot(server.dataDir)).toEqual(before);
    });
  }

  it('nome is free text: SQL-, path- and markup-shaped names and the station template are stored and returned verbatim, and harm nothing', async () => {
    const a = server.client('operator');
    const names = [
      "x'); DELETE FROM certificates;--",
      "Robert'); DROP TABLE gateways;--",
      '..\\..\\windows\\system32',
      '../../etc/passwd',
      '<script>alert(1)</script> & "quotes"',
      'Gateway aa:bb:cc:dd:ee:ff',
      "Sala D'Ávila (2º andar) #3 — 東京 🚀",
      '=HYPERLINK("http://x")',
    ];
    const before = snapshot(server.dataDir);
    let mac = 0x10;
    for (const nome of names) {
      const r = await a.provision({ mac_address: `02:55:00:00:00:${(mac++).toString(16)}`, codigo: 'GW-O.K_1', nome: `  ${nome}  `, conta_id: server.contaId });
      // Trimmed, otherwise byte for byte.
      expect((await a.getGateway(r.gateway_id)).nome).toBe(nome);
      const zip = unzipSync(new Uint8Array((await a.downloadCertificates(r.gateway_id)).zip));
      const readme = strFromU8(zip['README.txt']!);
      expect(readme.split('\n')).toContain(`Name:           ${nome}`);
    }
    // The search (LIKE, parameterised and escaped) finds them literally.
    expect((await a.listGateways({ search: 'DROP TABLE gateways' })).results.map((g) => g.nome)).toEqual(["Robert'); DROP TABLE gateways;--"]);
    // Every table is still there and only the new rows were added.
    const after = snapshot(server.dataDir);
    expect(after.gateways).toBe((before.gateways as number) + names.length);
    expect(after.certificates).toBe((before.certificates as number) + names.length);
    expect(after.accounts).toBe(before.accounts);
    // The CSV import applies the same rule.
    const imported = await a.importCsv(`mac_address,codigo,nome\n02:55:00:00:01:01,GW-CSV,"Gateway 02:55:00:00:01:01; DROP TABLE x"\n`);
    expect((await a.getGateway(imported.rows[0]!.gateway_id!)).nome).toBe('Gateway 02:55:00:00:01:01; DROP TABLE x');
    a.close();
  });

  it('public endpoints are rate-limited', async () => {
    const results: number[] = [];
    for (let i = 0; i < 320 && !results.includes(429); i++) {
      results.push((await rawRequest(server.apiUrl, server.caPem, { path: '/ca.pem' })).status);
    }
    expect(results).toContain(429);
    const r = await rawRequest(server.apiUrl, server.caPem, { path: '/ca.pem' });
    expect(r.status).toBe(429);
    expect(r.json.error).toMatch(/too many requests to this public endpoint; retry in \d+ s/);
  });

  it('repeated failed authentication gets 429 for that address, even with a good token afterwards', async () => {
    let last: RawResponse | undefined;
    for (let i = 0; i < 25; i++) {
      last = await rawRequest(server.apiUrl, server.caPem, { path: '/gateways/', token: `tds_${'B'.repeat(43)}` });
      if (last.status === 429) break;
    }
    expect(last?.status).toBe(429);
    expect(last?.json.error).toMatch(/too many failed authentication attempts from 127\.0\.0\.1; retry in \d+ s/);
    expect(last?.headers['retry-after']).toMatch(/^\d+$/);
    const good = await rawRequest(server.apiUrl, server.caPem, { path: '/gateways/', token: op() });
    expect(good.status).toBe(429);
  });
});
