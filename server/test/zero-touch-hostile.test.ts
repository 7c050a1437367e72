import { generateKeyPairSync } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, CertificateAuthority, createApiToken, createDeviceCsr, initServerData, startServer, type RunningServer } from '@tds/server';
import { attestationMessage, pollMessage } from '@tds/server/contract';
import { AdmissionLimiter } from '../src/api/admission.js';
import { MemoryRateCounters } from '../src/store/counters.js';
import { tempDir } from '../../test/support/temp.js';
import { snapshot } from './support/db.js';
import { rawRequest, type RawResponse } from './support/http.js';
import { ScriptedDevice } from './support/scripted-device.js';

/**
 * Hostile input against zero-touch onboarding (docs/zero-touch.md): each case has its expected status,
 * message and `details.code`, and the database holds exactly what it held before (refusals are audited
 * by design, and a wrong code or secret adds its failure rows — nothing else). Real server in process
 * over HTTPS, on a clock the test moves; devices scripted with real keys and signatures; each device
 * speaks from its own loopback address, as devices do.
 */
const PASS = 'zero-touch hostile passphrase';
const MIN = 60_000;
const dir = tempDir('tds-zt-hostile-');
const dataDir = path.join(dir.path, 'data');
let offset = 0;
let server: RunningServer;
let accountA: number;
let accountB: number;
const tok: Record<string, string> = {};
const clients: ApiClient[] = [];
const devices: ScriptedDevice[] = [];
let nextAddress = 1;
const address = (): string => `127.0.3.${nextAddress++}`;

const M = {
  bornA: '02:c1:00:00:00:01',
  bornB: '02:c1:00:00:00:02',
  revoked: '02:c1:00:00:00:03',
  noBirth: '02:c1:00:00:00:04',
  open: '02:c1:00:00:00:10',
  capped: '02:c1:00:00:00:11',
  operational: '02:c1:00:00:00:20',
  taken: '02:c1:00:00:00:30',
  takenPending: '02:c1:00:00:00:31',
  claimedLabel: '02:c1:00:00:00:40',
  claimedCode: '02:c1:00:00:00:41',
};
const st: {
  bornA?: ScriptedDevice;
  bornB?: ScriptedDevice;
  bornBNonce?: string;
  revoked?: ScriptedDevice;
  labels: Record<string, string>;
  replayBody?: Record<string, unknown>;
  revokedNonce?: string;
  open?: ScriptedDevice;
  openCode?: string;
  claimedCode?: string;
  taken?: ScriptedDevice;
  takenPending?: ScriptedDevice;
} = { labels: {} };

function client(token: string): ApiClient {
  const c = new ApiClient({ baseUrl: server.apiUrl, caPem: server.caPem, token });
  clients.push(c);
  return c;
}

async function operator(accountId: number, role: 'operator' | 'auditor' = 'operator'): Promise<string> {
  return (await createApiToken(server.repo, { accountId, role }, 'test')).token;
}

async function device(mac: string, options: { keyType?: 'ec' | 'rsa'; commonName?: string; from?: string } = {}): Promise<ScriptedDevice> {
  const d = await ScriptedDevice.create(mac, { apiUrl: server.apiUrl, caPem: server.caPem, localAddress: options.from ?? address(), clock: () => Date.now() + offset, ...options });
  devices.push(d);
  return d;
}

async function bench(mac: string): Promise<ScriptedDevice> {
  const birth = await ScriptedDevice.birthCsr(mac);
  const r = await client(tok.a!).issueBirthIdentity({ mac_address: mac, csr_pem: birth.csrPem });
  st.labels[mac] = r.label_qr;
  const d = await device(mac);
  d.birth = { certificatePem: r.birth_certificate_pem, key: birth.key };
  return d;
}

function send(o: { method?: string; path: string; body?: unknown; raw?: string; token?: string; headers?: Record<string, string>; from?: string }): Promise<RawResponse> {
  const body = o.raw ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
  return rawRequest(server.apiUrl, server.caPem, {
    method: o.method ?? (body === undefined ? 'GET' : 'POST'),
    path: o.path,
    ...(o.token ? { token: o.token } : {}),
    ...(o.headers ? { headers: o.headers } : {}),
    ...(body !== undefined ? { body } : {}),
    localAddress: o.from ?? address(),
  });
}

const bootstrap = (body: unknown, from?: string): Promise<RawResponse> => send({ path: '/gateways/bootstrap/', body, ...(from ? { from } : {}) });
const claimBody = (over: Record<string, unknown>): Record<string, unknown> => ({ conta_id: accountA, codigo: 'GW-ZT', nome: 'claimed', ...over });
const serverTs = (): number => Math.floor((Date.now() + offset) / 1000);
const takes = async (limiter: AdmissionLimiter, n: number): Promise<boolean[]> => {
  const out: boolean[] = [];
  for (let i = 0; i < n; i++) out.push(await limiter.take());
  return out;
};
const otherKey = (): ReturnType<typeof generateKeyPairSync>['privateKey'] => generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;

beforeAll(async () => {
  await initServerData({ dataDir, passphrase: PASS });
  server = await startServer({ dataDir, passphrase: PASS, port: 0, clock: () => new Date(Date.now() + offset), logger: { info() {}, warn() {}, error() {} } });
  server.settings.bootstrap.openEnrolment = true;
  const audit = { at: '2026-01-01T00:00:00Z', accountId: null, actor: 'test', action: 'account.create', object: null, sourceIp: null, result: 'ok' as const, detail: null };
  accountA = (await server.repo.createAccount('A', audit)).id;
  accountB = (await server.repo.createAccount('B', audit)).id;
  tok.a = await operator(accountA);
  tok.auditor = await operator(accountA, 'auditor');
  tok.b = await operator(accountB);
  for (const name of ['reuse', 'secret', 'expired', 'guess', 'mac1', 'mac2', 'right']) tok[name] = await operator(accountA);
  const a = client(tok.a);
  const b = client(tok.b);

  // An attested request, kept pending; its exact body is replayed below.
  st.bornA = await bench(M.bornA);
  st.replayBody = { mac_address: M.bornA, csr_pem: st.bornA.csrPem, ...(await st.bornA.attestation()) };
  expect((await bootstrap(st.replayBody)).status).toBe(201);
  st.bornB = await bench(M.bornB);
  // One nonce for the refused attempts of bornB (a refusal leaves it unused).
  st.bornBNonce = (await st.bornB.api.bootstrapNonce(M.bornB)).nonce;
  // A nonce taken while the birth identity was valid, then the identity revoked.
  const revoked = await bench(M.revoked);
  st.revoked = revoked;
  st.revokedNonce = (await revoked.api.bootstrapNonce(M.revoked)).nonce;
  await a.revokeBirthIdentity(M.revoked, 'keyCompromise');
  st.open = await device(M.open);
  st.openCode = (await st.open.bootstrapOpen()).activation_code!;
  for (let i = 0; i < 3; i++) await (await device(M.capped)).bootstrapOpen();
  await a.provision({ mac_address: M.operational, codigo: 'OP', nome: 'operational', conta_id: accountA });
  // MACs held by account B (active; active + pending) whose bench-born devices ask to join.
  st.taken = await bench(M.taken);
  await b.provision({ mac_address: M.taken, codigo: 'B1', nome: 'B holds it', conta_id: accountB });
  await st.taken.bootstrapAttested();
  st.takenPending = await bench(M.takenPending);
  const g = await b.provision({ mac_address: M.takenPending, codigo: 'B2', nome: 'B renews it', conta_id: accountB });
  await b.renewPending(g.gateway_id);
  await st.takenPending.bootstrapAttested();
  // Claimed already: by label, by code.
  const labelled = await bench(M.claimedLabel);
  await labelled.bootstrapAttested();
  await a.claim({ qr: st.labels[M.claimedLabel]!, conta_id: accountA, codigo: 'CL', nome: 'claimed by label' });
  const coded = await device(M.claimedCode);
  st.claimedCode = (await coded.bootstrapOpen()).activation_code!;
  await a.claim({ mac_address: M.claimedCode, activation_code: st.claimedCode, conta_id: accountA, codigo: 'CC', nome: 'claimed by code' });
});

afterAll(async () => {
  for (const c of clients) c.close();
  for (const d of devices) d.close();
  await server?.close();
  dir.remove();
});

interface Case {
  name: string;
  /** Runs any preparation (its writes happen before the snapshot) and returns the hostile request. */
  prepare: () => Promise<() => Promise<RawResponse>>;
  status: number;
  error: RegExp;
  code?: string;
  field?: string;
  retryAfter?: boolean;
  /** claim_failures rows the refusal adds (a wrong code or secret counts for the operator and the MAC). */
  failures?: number;
}

const now = (f: () => Promise<RawResponse>) => async (): Promise<() => Promise<RawResponse>> => f;

const cases: Case[] = [
  // ---------------------------------------------------------------- device: replay, signatures
  { name: 'replayed attested bootstrap request (its nonce is used up)', prepare: now(() => bootstrap(st.replayBody)), status: 401, code: 'nonce_invalid', field: 'nonce', error: /nonce is unknown, was already used/ },
  {
    name: 'replayed poll (the same timestamp and signature, later)',
    prepare: async () => {
      const id = st.open!.request!.bootstrap_id;
      const ts = serverTs();
      const headers = { 'x-tds-timestamp': String(ts), 'x-tds-signature': ScriptedDevice.signB64(st.open!.key, pollMessage(id, ts)) };
      expect((await send({ path: `/gateways/bootstrap/${id}/`, headers })).status).toBe(202);
      offset += 6_000;
      return () => send({ path: `/gateways/bootstrap/${id}/`, headers });
    },
    status: 401,
    code: 'timestamp_invalid',
    error: /later than the last accepted poll/,
  },
  { name: 'poll without a signature', prepare: now(() => send({ path: `/gateways/bootstrap/${st.open!.request!.bootstrap_id}/`, headers: { 'x-tds-timestamp': String(serverTs()) } })), status: 401, code: 'signature_invalid', error: /send X-TDS-Timestamp and X-TDS-Signature/ },
  {
    name: 'poll signed by another key',
    prepare: async () => {
      offset += 6_000;
      const id = st.open!.request!.bootstrap_id;
      const ts = serverTs();
      return () => send({ path: `/gateways/bootstrap/${id}/`, headers: { 'x-tds-timestamp': String(ts), 'x-tds-signature': ScriptedDevice.signB64(otherKey(), pollMessage(id, ts)) } });
    },
    status: 401,
    code: 'signature_invalid',
    error: /does not verify with the key of this request's CSR/,
  },
  {
    name: 'poll with a timestamp ten minutes behind',
    prepare: now(() => {
      const id = st.open!.request!.bootstrap_id;
      const ts = serverTs() - 600;
      return send({ path: `/gateways/bootstrap/${id}/`, headers: { 'x-tds-timestamp': String(ts), 'x-tds-signature': ScriptedDevice.signB64(st.open!.key, pollMessage(id, ts)) } });
    }),
    status: 401,
    code: 'timestamp_invalid',
    error: /more than 300 s from the server's time/,
  },
  { name: 'poll with a timestamp that is not a number', prepare: now(() => send({ path: `/gateways/bootstrap/${st.open!.request!.bootstrap_id}/`, headers: { 'x-tds-timestamp': '1e9', 'x-tds-signature': 'AAAAAAAAAAAAAAAAAAAAAA==' } })), status: 401, code: 'timestamp_invalid', error: /Unix time in whole seconds/ },
  { name: 'poll of an unknown request id', prepare: now(() => send({ path: `/gateways/bootstrap/${'0'.repeat(32)}/` })), status: 404, code: 'not_found', error: /no such bootstrap request/ },
  { name: 'poll of a path-shaped id', prepare: now(() => send({ path: '/gateways/bootstrap/..%2F..%2Fca.pem/' })), status: 404, code: 'not_found', error: /no such bootstrap request/ },
  {
    name: 'attestation signed by a key that is not the birth key',
    prepare: async () => {
      const body = { mac_address: M.bornB, csr_pem: st.bornB!.csrPem, ...(await st.bornB!.attestation({ nonce: st.bornBNonce!, signWith: otherKey() })) };
      return () => bootstrap(body);
    },
    status: 401,
    code: 'attestation_invalid',
    field: 'attestation_signature',
    error: /does not verify with the birth certificate's key/,
  },
  {
    name: 'attestation over another CSR than the one sent',
    prepare: async () => {
      const signed = await st.bornB!.attestation({ nonce: st.bornBNonce! });
      const other = await createDeviceCsr({ mac: M.bornB });
      return () => bootstrap({ mac_address: M.bornB, csr_pem: other.csrPem, ...signed });
    },
    status: 401,
    code: 'attestation_invalid',
    error: /over this nonce and CSR/,
  },
  {
    name: 'attestation without its signature',
    prepare: async () => {
      const { attestation_signature: _dropped, ...rest } = await st.bornB!.attestation({ nonce: st.bornBNonce! });
      return () => bootstrap({ mac_address: M.bornB, csr_pem: st.bornB!.csrPem, ...rest });
    },
    status: 400,
    code: 'bad_request',
    field: 'attestation_signature',
    error: /attestation_signature is required with the other attestation fields/,
  },
  {
    name: 'a birth certificate of another MAC',
    prepare: async () => {
      const nonce = (await st.bornA!.api.bootstrapNonce(M.bornA)).nonce;
      const signature = ScriptedDevice.signB64(st.bornB!.birth!.key, attestationMessage(M.bornA, nonce, st.bornA!.csrSha256()));
      return () => bootstrap({ mac_address: M.bornA, csr_pem: st.bornA!.csrPem, birth_certificate_pem: st.bornB!.birth!.certificatePem, nonce, attestation_signature: signature });
    },
    status: 403,
    code: 'birth_certificate_mac_mismatch',
    error: /the birth certificate is for 02:c1:00:00:00:02, not for 02:c1:00:00:00:01/,
  },
  {
    name: 'a revoked birth certificate',
    prepare: async () => {
      const att = await st.revoked!.attestation({ nonce: st.revokedNonce! });
      return () => bootstrap({ mac_address: M.revoked, csr_pem: st.revoked!.csrPem, ...att });
    },
    status: 403,
    code: 'birth_certificate_revoked',
    error: /was revoked \(keyCompromise\); this device needs a new birth identity/,
  },
  { name: 'a nonce for a MAC whose birth identity was revoked', prepare: now(() => send({ path: '/gateways/bootstrap/nonce/', body: { mac_address: M.revoked } })), status: 404, code: 'no_birth_identity', error: /has no valid birth identity/ },
  { name: 'a nonce for a MAC without a birth identity', prepare: now(() => send({ path: '/gateways/bootstrap/nonce/', body: { mac_address: M.noBirth } })), status: 404, code: 'no_birth_identity', field: 'mac_address', error: /has no valid birth identity/ },
  {
    name: 'a birth certificate from another CA (same MAC, same profile)',
    prepare: async () => {
      const { authority } = await CertificateAuthority.generate({ subject: 'CN=TDS IoT Birth CA' });
      const forged = await authority.issueBirthFromCsr({ mac: M.bornB, csrPem: (await createDeviceCsr({ mac: M.bornB })).csrPem, subject: { country: 'BR', state: 'SP', locality: 'Sao Paulo', organization: 'TDS IoT' }, validityDays: 30 });
      const att = await st.bornB!.attestation({ nonce: st.bornBNonce! });
      return () => bootstrap({ mac_address: M.bornB, csr_pem: st.bornB!.csrPem, ...att, birth_certificate_pem: forged.pem });
    },
    status: 401,
    code: 'birth_certificate_invalid',
    error: /not issued by this server's birth CA/,
  },
  {
    name: 'an operational certificate presented as a birth certificate',
    prepare: async () => {
      const gw = (await client(tok.a!).listGateways({ mac: M.operational })).results[0]!;
      const pem = (await server.repo.listGatewayCertificates(gw.id))[0]!.certificatePem;
      const att = await st.bornB!.attestation({ nonce: st.bornBNonce! });
      return () => bootstrap({ mac_address: M.bornB, csr_pem: st.bornB!.csrPem, ...att, birth_certificate_pem: pem });
    },
    status: 401,
    code: 'birth_certificate_invalid',
    error: /not issued by this server's birth CA/,
  },
  {
    name: 'CSR CN ≠ MAC (attested)',
    prepare: async () => {
      const d = await device(M.bornB, { commonName: '02:c1:00:00:00:99' });
      d.birth = st.bornB!.birth;
      const att = await d.attestation({ nonce: st.bornBNonce! });
      return () => bootstrap({ mac_address: M.bornB, csr_pem: d.csrPem, ...att });
    },
    status: 400,
    code: 'csr_invalid',
    field: 'csr_pem',
    error: /the CSR's CN \('02:c1:00:00:00:99'\) must be the device's MAC 02:c1:00:00:00:02/,
  },
  {
    name: 'CSR CN ≠ MAC (open)',
    prepare: async () => {
      const d = await device('02:c1:00:00:00:50', { commonName: '02:c1:00:00:00:51' });
      return () => bootstrap({ mac_address: d.mac, csr_pem: d.csrPem });
    },
    status: 400,
    code: 'csr_invalid',
    field: 'csr_pem',
    error: /must be the device's MAC/,
  },
  {
    name: "a nonce of another MAC",
    prepare: async () => {
      const nonce = (await st.bornA!.api.bootstrapNonce(M.bornA)).nonce;
      const att = await st.bornB!.attestation({ nonce });
      return () => bootstrap({ mac_address: M.bornB, csr_pem: st.bornB!.csrPem, ...att });
    },
    status: 401,
    code: 'nonce_invalid',
    error: /nonce is unknown, was already used, has expired or is for another MAC/,
  },
  { name: 'open bootstrap of a MAC that has a birth identity', prepare: now(() => bootstrap({ mac_address: M.bornB, csr_pem: st.bornB!.csrPem })), status: 409, code: 'mac_has_identity', field: 'mac_address', error: /already has an identity on this server/ },
  {
    name: 'open bootstrap of a MAC that has an operational certificate',
    prepare: async () => {
      const d = await device(M.operational);
      return () => bootstrap({ mac_address: M.operational, csr_pem: d.csrPem });
    },
    status: 409,
    code: 'mac_has_identity',
    error: /already has an identity on this server/,
  },
  {
    name: 'a fourth pending open request for one MAC (cap 3), refused before the CSR is read',
    prepare: now(() => bootstrap({ mac_address: M.capped, csr_pem: 'not even a CSR' })),
    status: 429,
    code: 'too_many_pending',
    retryAfter: true,
    error: /already has 3 pending requests/,
  },
  { name: 'a nonce that is not base64url', prepare: now(() => bootstrap({ mac_address: M.bornB, csr_pem: 'x', birth_certificate_pem: 'x', nonce: "' OR 1=1 --", attestation_signature: 'AAAAAAAAAAAAAAAAAAAAAA==' })), status: 400, code: 'bad_request', field: 'nonce', error: /nonce must be the 43-character value/ },
  { name: 'bootstrap body over 40 KiB', prepare: now(() => bootstrap({ mac_address: M.open, csr_pem: 'A'.repeat(45_000) })), status: 413, error: /too large/ },
  { name: 'bootstrap body as text/plain', prepare: now(() => send({ path: '/gateways/bootstrap/', raw: `mac_address=${M.open}`, headers: { 'content-type': 'text/plain' } })), status: 415, error: /unsupported Content-Type/ },
  { name: 'model with a terminal escape sequence', prepare: now(() => bootstrap({ mac_address: M.open, csr_pem: st.open!.csrPem, model: 'ESP32\u001b[2J' })), status: 400, code: 'bad_request', field: 'model', error: /model must be 1-64 characters of printable text/ },

  // ---------------------------------------------------------------- operator: claim
  { name: 'claim by an auditor', prepare: now(() => send({ path: '/gateways/ativar/', token: tok.auditor, body: claimBody({ mac_address: M.open, activation_code: st.openCode }) })), status: 403, error: /role 'auditor' may not claim devices/ },
  { name: "claim into another account's conta_id", prepare: now(() => send({ path: '/gateways/ativar/', token: tok.a, body: claimBody({ mac_address: M.open, activation_code: st.openCode, conta_id: accountB }) })), status: 403, field: 'conta_id', error: /cannot act for conta_id/ },
  { name: 'claim naming the device two ways', prepare: now(() => send({ path: '/gateways/ativar/', token: tok.a, body: claimBody({ qr: st.labels[M.bornA], mac_address: M.open, activation_code: st.openCode }) })), status: 400, error: /name the device one way/ },
  { name: 'a QR that is not a TDS claim QR', prepare: now(() => send({ path: '/gateways/ativar/preview/', token: tok.a, body: { qr: 'https://evil.example/?x=1' } })), status: 400, field: 'qr', error: /qr is not a TDS claim QR/ },
  { name: 'an activation code with a letter outside the alphabet', prepare: now(() => send({ path: '/gateways/ativar/preview/', token: tok.a, body: { mac_address: M.open, activation_code: 'UUUU-UUUU' } })), status: 400, field: 'activation_code', error: /activation_code contains 'U'/ },
  {
    name: 'approval of another request than the one previewed',
    prepare: now(() => send({ path: '/gateways/ativar/', token: tok.a, body: claimBody({ mac_address: M.open, activation_code: st.openCode, bootstrap_id: 'f'.repeat(32) }) })),
    status: 409,
    error: /is now [0-9a-f]{32}, not f{32}: preview it again before approving/,
  },
  { name: 'a claim while another account holds the MAC (active certificate there)', prepare: now(() => send({ path: '/gateways/ativar/', token: tok.a, body: claimBody({ qr: st.labels[M.taken] }) })), status: 409, field: 'mac_address', error: /^MAC 02:c1:00:00:00:30 is not available$/ },
  { name: 'a claim into another account while one is pending there (pending renewal)', prepare: now(() => send({ path: '/gateways/ativar/', token: tok.a, body: claimBody({ qr: st.labels[M.takenPending] }) })), status: 409, field: 'mac_address', error: /^MAC 02:c1:00:00:00:31 is not available$/ },
  { name: 'a second claim of a label', prepare: now(() => send({ path: '/gateways/ativar/', token: tok.a, body: claimBody({ qr: st.labels[M.claimedLabel] }) })), status: 409, error: /was already used to claim the device .*a claim secret works once/ },
  { name: 'a second claim of a label, from another account', prepare: now(() => send({ path: '/gateways/ativar/', token: tok.b, body: claimBody({ qr: st.labels[M.claimedLabel], conta_id: accountB }) })), status: 409, error: /a claim secret works once/ },
  {
    name: 'a reused activation code (counted as a wrong code)',
    prepare: now(() => send({ path: '/gateways/ativar/', token: tok.reuse, body: claimBody({ mac_address: M.claimedCode, activation_code: st.claimedCode }) })),
    status: 404,
    field: 'activation_code',
    error: /no pending request of 02:c1:00:00:00:41 has this activation code/,
    failures: 2,
  },
  {
    name: 'a label with a wrong claim secret',
    prepare: now(() => send({ path: '/gateways/ativar/preview/', token: tok.secret, body: { qr: st.labels[M.bornB]!.replace(/.$/, (c) => (c === '0' ? '1' : '0')) } })),
    status: 404,
    field: 'claim_secret',
    error: /no device 02:c1:00:00:00:02 with this claim secret/,
    failures: 2,
  },
  { name: 'the label of a device that has not asked to join yet (not a failure)', prepare: now(() => send({ path: '/gateways/ativar/preview/', token: tok.a, body: { qr: st.labels[M.bornB] } })), status: 404, error: /has not asked to join yet/ },
  { name: 'rejecting with a reason holding control characters', prepare: now(() => send({ path: '/gateways/ativar/reject/', token: tok.a, body: { mac_address: M.open, activation_code: st.openCode, reason: 'x\u0007y' } })), status: 400, field: 'reason', error: /reason must be 1-200 characters/ },

  // ---------------------------------------------------------------- bench: birth identities
  {
    name: 'a birth identity for a MAC that has one (without replace)',
    prepare: async () => {
      const csr = (await createDeviceCsr({ mac: M.bornB })).csrPem;
      return () => send({ path: '/gateways/birth/', token: tok.a, body: { mac_address: M.bornB, csr_pem: csr } });
    },
    status: 409,
    error: /already has a birth identity .*send "replace": true/,
  },
  {
    name: 'a birth identity for a MAC with an operational certificate',
    prepare: async () => {
      const csr = (await createDeviceCsr({ mac: M.operational })).csrPem;
      return () => send({ path: '/gateways/birth/', token: tok.a, body: { mac_address: M.operational, csr_pem: csr } });
    },
    status: 409,
    field: 'mac_address',
    error: /already has an active certificate \(gateway \d+\)/,
  },
  {
    name: 'a birth identity with a CSR for another MAC',
    prepare: async () => {
      const csr = (await createDeviceCsr({ mac: '02:c1:00:00:00:61' })).csrPem;
      return () => send({ path: '/gateways/birth/', token: tok.a, body: { mac_address: '02:c1:00:00:00:60', csr_pem: csr } });
    },
    status: 400,
    field: 'csr_pem',
    error: /is not the MAC being provisioned/,
  },
  { name: 'a birth identity by an auditor', prepare: now(() => send({ path: '/gateways/birth/', token: tok.auditor, body: { mac_address: '02:c1:00:00:00:62', csr_pem: 'x' } })), status: 403, error: /role 'auditor' may not issue birth identities/ },
  { name: "revoking another account's birth identity", prepare: now(() => send({ path: '/gateways/birth/revoke/', token: tok.b, body: { mac_address: M.bornA, reason: 'keyCompromise' } })), status: 404, error: /no birth identity of this account for MAC 02:c1:00:00:00:01/ },
];

describe(`zero-touch hostile inputs (${cases.length}), each refused with its status, message and code; nothing half-written`, () => {
  it('has at least 40 cases', () => expect(cases.length).toBeGreaterThanOrEqual(40));

  for (const c of cases) {
    it(c.name, async () => {
      const request = await c.prepare();
      const before = snapshot(dataDir);
      const r = await request();
      expect(r.status, r.text).toBe(c.status);
      expect(r.json.error, r.text).toMatch(c.error);
      if (c.code) expect(r.json.details?.code).toBe(c.code);
      if (c.field) expect(r.json.details?.field).toBe(c.field);
      if (c.retryAfter) expect(r.headers['retry-after']).toMatch(/^\d+$/);
      expect(snapshot(dataDir)).toEqual({ ...before, claimFailures: (before.claimFailures as number) + (c.failures ?? 0) });
    });
  }
});

describe('codes over time, guessing, flooding', () => {
  it('an expired code is refused like a wrong one, and its device gets 410 expired', async () => {
    const d = await device('02:c1:00:00:01:01');
    const r = await d.bootstrapOpen();
    offset += 31 * MIN;
    const res = await send({ path: '/gateways/ativar/', token: tok.expired, body: claimBody({ mac_address: d.mac, activation_code: r.activation_code }) });
    expect(res.status).toBe(404);
    expect(res.json.details).toMatchObject({ field: 'activation_code', attempts_left: 4 });
    expect(await d.poll()).toMatchObject({ status: 'gone', code: 'expired' });
  });

  it('code guessing locks the operator out after 5 wrong codes (429 + Retry-After, even for the right code); other operators are not affected', async () => {
    const d = await device('02:c1:00:00:01:02');
    const r = await d.bootstrapOpen();
    const left: number[] = [];
    for (const guess of ['AAAA-AAAA', 'BBBB-BBBB', 'CCCC-CCCC', 'DDDD-DDDD', 'EEEE-EEEE']) {
      const res = await send({ path: '/gateways/ativar/preview/', token: tok.guess, body: { mac_address: d.mac, activation_code: guess } });
      expect(res.status, res.text).toBe(404);
      left.push(res.json.details!.attempts_left!);
    }
    expect(left).toEqual([4, 3, 2, 1, 0]);
    const before = snapshot(dataDir);
    const locked = await send({ path: '/gateways/ativar/', token: tok.guess, body: claimBody({ mac_address: d.mac, activation_code: r.activation_code }) });
    expect(locked.status).toBe(429);
    expect(locked.json.error).toMatch(/too many wrong activation codes or claim secrets from this token; retry in \d+ s/);
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(800);
    expect(snapshot(dataDir)).toEqual(before);
    // The device's request is untouched: another operator claims it with the right code.
    expect((await client(tok.right!).claimPreview({ mac_address: d.mac, activation_code: r.activation_code! })).bootstrap_id).toBe(r.bootstrap_id);
  });

  it('10 wrong codes for one MAC (any tokens) void its pending open requests; the device gets 410 rejected and starts again', async () => {
    const d = await device('02:c1:00:00:01:03');
    const r = await d.bootstrapOpen();
    for (const t of [tok.mac1!, tok.mac2!]) {
      for (let i = 0; i < 5; i++) expect((await send({ path: '/gateways/ativar/preview/', token: t, body: { mac_address: d.mac, activation_code: `ZZZZ-ZZZ${i}` } })).status).toBe(404);
    }
    expect(await d.poll()).toMatchObject({ status: 'gone', code: 'rejected', error: expect.stringMatching(/too many wrong codes/) });
    const audit = (await server.repo.listAudit(accountA, { limit: 500, offset: 0, action: 'claim.lockout' })).rows;
    expect(audit.some((e) => e.detail?.includes(`of ${d.mac} voided after 10 wrong codes`))).toBe(true);
    const fresh = await d.bootstrapOpen();
    expect(fresh.bootstrap_id).not.toBe(r.bootstrap_id);
  });

  it('a bootstrap flood from one address: the per-address limit answers 429 (Retry-After, not audited, nothing written) and other devices are served at once', async () => {
    const flooder = '127.0.4.1';
    const mac = '02:c1:00:00:02:01';
    const csrs = await Promise.all(Array.from({ length: 70 }, () => createDeviceCsr({ mac })));
    const db = new Database(path.join(dataDir, 'tds-server.db'), { readonly: true });
    const auditRows = (): number => (db.prepare("SELECT count(*) n FROM audit_events WHERE action = 'bootstrap.request'").get() as { n: number }).n;
    const requestsOf = (m: string): number => (db.prepare('SELECT count(*) n FROM bootstrap_requests WHERE mac = ?').get(m) as { n: number }).n;
    try {
      const auditBefore = auditRows();
      const statuses: number[] = [];
      const codes: (string | undefined)[] = [];
      let lastRetryAfter: string | undefined;
      for (let i = 0; i < csrs.length; i += 10) {
        const batch = await Promise.all(csrs.slice(i, i + 10).map((c) => bootstrap({ mac_address: mac, csr_pem: c.csrPem }, flooder)));
        for (const r of batch) {
          statuses.push(r.status);
          codes.push(r.json.details?.code);
          if (r.json.details?.code === 'rate_limited') lastRetryAfter = r.headers['retry-after'] as string;
        }
      }
      // 60 per minute from one address reach the server: 3 pending (the per-MAC cap), the rest of those
      // refused by the cap before their CSR is read; the 10 over the limit never reach the handler.
      expect(statuses.filter((s) => s === 201)).toHaveLength(3);
      expect(codes.filter((c) => c === 'too_many_pending')).toHaveLength(57);
      expect(codes.filter((c) => c === 'rate_limited')).toHaveLength(10);
      expect(lastRetryAfter).toMatch(/^\d+$/);
      expect(requestsOf(mac)).toBe(3);
      expect(auditRows() - auditBefore).toBe(60);
      // The flooder stays limited; a device elsewhere is served at once.
      expect((await bootstrap({ mac_address: '02:c1:00:00:02:02', csr_pem: csrs[0]!.csrPem }, flooder)).status).toBe(429);
      const other = await device('02:c1:00:00:02:03', { from: '127.0.4.2' });
      const t = performance.now();
      expect((await other.bootstrapOpen()).status).toBe('pending');
      expect(performance.now() - t).toBeLessThan(2_000);
    } finally {
      db.close();
    }
  });

  it('the server-wide admission limit: N per second in windows of a tenth of a second by default, counted in the store', async () => {
    let t = 0;
    const limiter = new AdmissionLimiter(new MemoryRateCounters(() => t), 5, 5);
    expect(await takes(limiter, 7)).toEqual([true, true, true, true, true, false, false]);
    t += 200;
    expect(await takes(limiter, 2)).toEqual([false, false]);
    t += 800;
    expect((await takes(limiter, 6)).filter(Boolean)).toHaveLength(5);
    const crowd = new AdmissionLimiter(new MemoryRateCounters(() => t), 200);
    expect((await takes(crowd, 50)).filter(Boolean)).toHaveLength(20);
    t += 100;
    expect((await takes(crowd, 50)).filter(Boolean)).toHaveLength(20);
    const slow = new AdmissionLimiter(new MemoryRateCounters(() => t), 2);
    expect(await takes(slow, 2)).toEqual([true, false]);
    t += 500;
    expect(await takes(slow, 2)).toEqual([true, false]);
  });

  it('the lockout is in the store: it holds after the server restarts', async () => {
    await server.close();
    server = await startServer({ dataDir, passphrase: PASS, port: 0, clock: () => new Date(Date.now() + offset), logger: { info() {}, warn() {}, error() {} } });
    const d = await device('02:c1:00:00:01:02');
    const res = await send({ path: '/gateways/ativar/preview/', token: tok.guess, body: { mac_address: d.mac, activation_code: 'AAAA-AAAA' } });
    expect(res.status).toBe(429);
    expect(res.json.error).toMatch(/too many wrong activation codes/);
  });
});
