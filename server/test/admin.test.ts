import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '@tds/server';
import { SqliteRepository } from '@tds/server/store';
import { startTestServer, type TestServer } from '../../test/support/server.js';
import { tempDir } from '../../test/support/temp.js';
import { snapshot } from './support/db.js';
import { rawRequest } from './support/http.js';
import { OpenSsl } from './support/openssl.js';

/**
 * The admin console's endpoints on the real server (compiled CLI): audit filters and the CSV
 * export (formula cells neutralised), accounts, tokens (secret once, revocation effective), CRL and
 * broker state, the presence history's uptime, the scheduler's runs on /healthz — and hostile input
 * for each, answered with status, message and field, nothing written.
 */
let server: TestServer;
let serverAdmin: ApiClient;
let serverAdminToken: string;
let admin: ApiClient;
let other: { contaId: number; tokens: TestServer['tokens'] };
let gatewayId: number;
const work = tempDir('tds-admin-');

beforeAll(async () => {
  // The scheduler runs often here so /healthz has runs to show.
  server = await startTestServer({ extraServeArgs: ['--renewal-every', '5s', '--crl-every', '6s'] });
  other = await server.createAccount('other account');
  const t = JSON.parse((await server.cli(['token', 'create', '--account', String(server.contaId), '--role', 'admin', '--server-admin', '--label', 'root', '--json'])).stdout) as { token: string; server_admin: boolean };
  expect(t.server_admin).toBe(true);
  serverAdminToken = t.token;
  serverAdmin = new ApiClient({ baseUrl: server.apiUrl, caPem: server.caPem, token: t.token });
  admin = server.client('admin');
  const op = server.client('operator');
  gatewayId = (await op.provision({ mac_address: '02:ad:00:00:00:01', codigo: 'ADM1', nome: 'admin console', conta_id: server.contaId })).gateway_id;
  await op.revoke(gatewayId, 'keyCompromise');
  op.close();
});
afterAll(async () => {
  serverAdmin?.close();
  admin?.close();
  await server?.stop();
  work.remove();
});

function db(): Database.Database {
  return new Database(path.join(server.dataDir, 'tds-server.db'));
}

describe('audit log', () => {
  it('filters by time, actor, action, gateway and result; an account admin sees its account, a server admin every account and the server', async () => {
    const all = await admin.listAudit({ page_size: 200 });
    expect(all.results.every((e) => e.conta_id === server.contaId)).toBe(true);
    const byGateway = await admin.listAudit({ gateway_id: gatewayId });
    expect(byGateway.results.map((e) => e.action).sort()).toEqual(['certificate.revoke', 'gateway.provision']);
    const revoke = byGateway.results.find((e) => e.action === 'certificate.revoke')!;
    expect((await admin.listAudit({ action: 'certificate.revoke', actor: revoke.actor, result: 'ok' })).results.map((e) => e.id)).toContain(revoke.id);
    expect((await admin.listAudit({ action: 'certificate.revoke', result: 'denied' })).count).toBe(0);
    expect((await admin.listAudit({ since: revoke.at, until: revoke.at })).count).toBe(0);
    const window = await admin.listAudit({ since: revoke.at, until: new Date(Date.parse(revoke.at) + 1000).toISOString() });
    expect(window.results.map((e) => e.id)).toContain(revoke.id);
    // The server admin also sees the server's own events (CRL signatures) and other accounts.
    const crlSigns = await serverAdmin.listAudit({ action: 'crl.sign' });
    expect(crlSigns.count).toBeGreaterThan(0);
    expect(crlSigns.results.every((e) => e.conta_id === null)).toBe(true);
    expect((await serverAdmin.listAudit({ conta_id: other.contaId, page_size: 200 })).results.every((e) => e.conta_id === other.contaId)).toBe(true);
    await expect(admin.listAudit({ conta_id: other.contaId })).rejects.toMatchObject({ status: 403, details: { field: 'conta_id' } });
  });

  it('the CSV export neutralises cells a spreadsheet would run, and keeps the filters', async () => {
    const repo = new SqliteRepository(path.join(server.dataDir, 'tds-server.db'));
    for (const [actor, detail] of [['=cmd', '=HYPERLINK("http://evil.example","x")'], ['+1', '@SUM(A1:A9)'], ['-2', '\tTAB'], ['station', '\rCR, "quoted"']] as const) {
      await repo.appendAudit({ at: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'), accountId: server.contaId, actor, action: 'test.hostile', object: null, sourceIp: null, result: 'ok', detail });
    }
    await repo.close();
    const { csv, total, truncated } = await admin.exportAuditCsv({ action: 'test.hostile' });
    expect(total).toBe(4);
    expect(truncated).toBe(false);
    const lines = csv.split('\n');
    expect(lines[0]).toBe('id,at,conta_id,actor,action,object,source_ip,result,detail');
    expect(csv).toContain(`'=cmd`);
    expect(csv).toContain(`"'=HYPERLINK(""http://evil.example"",""x"")"`);
    expect(csv).toContain(`'@SUM(A1:A9)`);
    expect(csv).toContain(`'+1`);
    expect(csv).toContain(`'-2`);
    expect(csv).toContain(`'\tTAB`);
    // No cell starts with a formula character any more.
    for (const cell of csv.split(/[\n,]/)) expect(cell.replace(/^"/, '')).not.toMatch(/^[=+\-@]/);
    const auditor = server.client('auditor');
    expect((await auditor.exportAuditCsv({ action: 'test.hostile' })).total).toBe(4);
    auditor.close();
    const op = server.client('operator');
    await expect(op.exportAuditCsv()).rejects.toMatchObject({ status: 403 });
    op.close();
  });
});

describe('accounts and tokens', () => {
  it('accounts: an admin lists and renames its own; a server admin lists, creates and renames any', async () => {
    expect((await admin.listAccounts()).map((a) => a.id)).toEqual([server.contaId]);
    const renamed = await admin.renameAccount(server.contaId, 'Fábrica Norte');
    expect(renamed).toMatchObject({ id: server.contaId, name: 'Fábrica Norte' });
    await expect(admin.renameAccount(other.contaId, 'mine now')).rejects.toMatchObject({ status: 404 });
    await expect(admin.createAccount('not allowed')).rejects.toMatchObject({ status: 403 });
    const created = await serverAdmin.createAccount('Filial Sul');
    expect((await serverAdmin.listAccounts()).map((a) => a.name)).toEqual(expect.arrayContaining(['Fábrica Norte', 'other account', 'Filial Sul']));
    expect((await serverAdmin.renameAccount(created.id, 'Filial Sul 2')).name).toBe('Filial Sul 2');
    expect((await admin.listAudit({ action: 'account.rename' })).results[0]?.detail).toMatch(/name=Fábrica Norte/);
  });

  it('tokens: listed without secrets, created with a role (secret shown once, works), revoked at once', async () => {
    const made = await admin.createToken({ role: 'auditor', label: 'console test' });
    expect(made.token).toMatch(/^tds_/);
    expect(made).toMatchObject({ role: 'auditor', label: 'console test', conta_id: server.contaId, server_admin: false, revoked_at: null });
    const list = await admin.listTokens();
    expect(JSON.stringify(list)).not.toContain(made.token);
    expect(JSON.stringify(list)).not.toMatch(/hash|tds_[A-Za-z0-9_-]{43}/);
    expect(list.find((t) => t.id === made.id)).toMatchObject({ role: 'auditor', label: 'console test' });
    const asAuditor = new ApiClient({ baseUrl: server.apiUrl, caPem: server.caPem, token: made.token });
    expect((await asAuditor.listAudit()).count).toBeGreaterThan(0);
    await expect(asAuditor.provision({ mac_address: '02:ad:00:00:00:09', codigo: 'X', nome: 'x', conta_id: server.contaId })).rejects.toMatchObject({ status: 403 });
    await admin.revokeToken(made.id);
    await expect(asAuditor.listAudit()).rejects.toMatchObject({ status: 401 });
    asAuditor.close();
    await expect(admin.revokeToken(made.id)).rejects.toMatchObject({ status: 409 });
    // Server admin tokens only from a server admin; another account's tokens only for a server admin.
    await expect(admin.createToken({ role: 'admin', server_admin: true })).rejects.toMatchObject({ status: 403, details: { field: 'server_admin' } });
    await expect(admin.createToken({ role: 'operator', conta_id: other.contaId })).rejects.toMatchObject({ status: 403, details: { field: 'conta_id' } });
    const forOther = await serverAdmin.createToken({ role: 'operator', conta_id: other.contaId, label: 'for B' });
    expect(forOther.conta_id).toBe(other.contaId);
    expect((await serverAdmin.listTokens({ conta_id: other.contaId })).map((t) => t.id)).toContain(forOther.id);
    await expect(admin.revokeToken(forOther.id)).rejects.toMatchObject({ status: 404 });
    await expect(serverAdmin.createToken({ role: 'operator', server_admin: true })).rejects.toMatchObject({ status: 400, details: { field: 'server_admin' } });
    await expect(serverAdmin.listTokens({ conta_id: 999_999 })).rejects.toMatchObject({ status: 404 });
  });

  it('whoami: each token learns its own id, account, role and server-admin flag, and nothing is audited', async () => {
    const op = server.client('operator');
    const auditor = server.client('auditor');
    const me = await serverAdmin.whoami();
    expect(me).toEqual({ token_id: expect.any(Number) as number, conta_id: server.contaId, role: 'admin', server_admin: true });
    expect((await serverAdmin.listTokens({ conta_id: server.contaId })).find((t) => t.id === me.token_id)).toMatchObject({ role: 'admin', server_admin: true });
    const clients = [serverAdmin, admin, op, auditor];
    const ids = await Promise.all(clients.map(async (c) => (await c.whoami()).token_id));
    expect(new Set(ids).size).toBe(4);
    expect(await admin.whoami()).toMatchObject({ conta_id: server.contaId, role: 'admin', server_admin: false });
    expect(await op.whoami()).toMatchObject({ conta_id: server.contaId, role: 'operator', server_admin: false });
    expect(await auditor.whoami()).toMatchObject({ role: 'auditor', server_admin: false });
    // Asking leaves no trace: the tokens' own audit events are the same before and after.
    const trail = async (): Promise<number[]> => Promise.all(ids.map(async (id) => (await serverAdmin.listAudit({ actor: `token:${id}`, page_size: 1 })).count));
    const before = await trail();
    for (const c of clients) await c.whoami();
    expect(await trail()).toEqual(before);
    op.close();
    auditor.close();
    // No token: 401 as everywhere.
    const anonymous = new ApiClient({ baseUrl: server.apiUrl, caPem: server.caPem });
    await expect(anonymous.whoami()).rejects.toMatchObject({ status: 401 });
    anonymous.close();
  });

  it('hostile input to the console: each refused with its field and message, nothing written', async () => {
    const cases: { method: string; path: string; body?: string; status: number; field?: string; message: RegExp; token?: string }[] = [
      { method: 'POST', path: '/accounts/', body: JSON.stringify({ name: 'a\u202eb' }), status: 400, field: 'name', message: /printable/ },
      { method: 'POST', path: '/accounts/', body: JSON.stringify({ name: 'x'.repeat(101) }), status: 400, field: 'name', message: /1-100/ },
      { method: 'POST', path: '/accounts/', body: JSON.stringify({ name: '   ' }), status: 400, field: 'name', message: /1-100/ },
      { method: 'POST', path: '/accounts/', body: JSON.stringify({ name: 'line\nbreak' }), status: 400, field: 'name', message: /printable/ },
      { method: 'POST', path: '/accounts/', body: JSON.stringify({ name: 7 }), status: 400, field: 'name', message: /name/ },
      { method: 'PATCH', path: '/accounts/0/', body: JSON.stringify({ name: 'x' }), status: 400, field: 'id', message: /positive integer/ },
      { method: 'PATCH', path: "/accounts/1'%20OR%201=1/", body: JSON.stringify({ name: 'x' }), status: 400, field: 'id', message: /positive integer/ },
      { method: 'PATCH', path: '/accounts/999999/', body: JSON.stringify({ name: 'x' }), status: 404, message: /account 999999 not found/ },
      { method: 'POST', path: '/tokens/', body: JSON.stringify({ role: 'root' }), status: 400, field: 'role', message: /admin, operator or auditor/ },
      { method: 'POST', path: '/tokens/', body: JSON.stringify({ role: 'admin', server_admin: 'yes' }), status: 400, field: 'server_admin', message: /true or false/ },
      { method: 'POST', path: '/tokens/', body: JSON.stringify({ role: 'auditor', conta_id: -1 }), status: 400, field: 'conta_id', message: /positive/ },
      { method: 'POST', path: '/tokens/', body: JSON.stringify({ role: 'auditor', label: '\u0000' }), status: 400, field: 'label', message: /printable/ },
      { method: 'POST', path: '/tokens/', body: '{"role":"auditor","__proto__":{"x":1}}', status: 400, message: /__proto__/ },
      { method: 'POST', path: '/tokens/abc/revoke/', body: '{}', status: 400, field: 'id', message: /positive integer/ },
      { method: 'POST', path: '/tokens/999999/revoke/', body: '{}', status: 404, message: /token 999999 not found/ },
      { method: 'GET', path: '/audit/?since=yesterday', status: 400, field: 'since', message: /ISO-8601/ },
      { method: 'GET', path: '/audit/?until=2026-13-01T00:00:00Z', status: 400, field: 'until', message: /ISO-8601/ },
      { method: 'GET', path: "/audit/?actor=x'%20OR%20'1'='1", status: 400, field: 'actor', message: /actor must look like/ },
      { method: 'GET', path: '/audit/?result=maybe', status: 400, field: 'result', message: /ok, denied or error/ },
      { method: 'GET', path: '/audit/?gateway_id=1e3', status: 400, field: 'gateway_id', message: /positive integer/ },
      { method: 'GET', path: '/audit/export.csv?action=DROP%20TABLE', status: 400, field: 'action', message: /gateway\.provision/ },
      { method: 'GET', path: '/gateways/?expires_within_days=0', status: 400, field: 'expires_within_days', message: /positive integer/ },
      { method: 'GET', path: '/gateways/?expires_within_days=99999999', status: 400, field: 'expires_within_days', message: /at most 36500/ },
      { method: 'GET', path: `/gateways/${gatewayId}/presence/?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z`, status: 400, field: 'until', message: /after since/ },
      { method: 'GET', path: `/gateways/${gatewayId}/presence/?since=../../etc`, status: 400, field: 'since', message: /ISO-8601/ },
      { method: 'POST', path: `/gateways/${gatewayId}/renew/`, body: JSON.stringify({ deliver: true, ask_device: true }), status: 400, field: 'deliver', message: /cannot be combined/ },
      { method: 'POST', path: `/gateways/${gatewayId}/renew/`, body: JSON.stringify({ deliver: 1 }), status: 400, field: 'deliver', message: /true or false/ },
      { method: 'POST', path: `/gateways/${gatewayId}/renew/`, body: JSON.stringify({ deliver: true }), status: 409, message: /no active certificate/, token: server.tokens.operator },
    ];
    for (const c of cases) {
      const before = snapshot(server.dataDir);
      const r = await rawRequest(server.apiUrl, server.caPem, { method: c.method, path: c.path, token: c.token ?? serverAdminToken, ...(c.body !== undefined ? { body: c.body } : {}) });
      expect(r.status, `${c.method} ${c.path}: ${r.text}`).toBe(c.status);
      expect(r.json.error, c.path).toMatch(c.message);
      if (c.field) expect(r.json.details?.field, c.path).toBe(c.field);
      expect(snapshot(server.dataDir), c.path).toEqual(before);
    }
    // Every table is intact after the SQL-shaped inputs.
    const d = db();
    expect(d.prepare('PRAGMA integrity_check').pluck().get()).toBe('ok');
    d.close();
  });
});

describe('CRL, broker, presence, schedule', () => {
  it('CRL state matches the published CRL; server admins see the publications; broker state is for server admins', async () => {
    const state = await admin.crlState();
    expect(state.publications).toBeUndefined();
    const ossl = new OpenSsl(work.path);
    const text = (await ossl.crlText(await admin.getCrlPem(), server.caPem)).text;
    const published = Number(/X509v3 CRL Number:\s*\n\s*(\d+)/.exec(text)?.[1]);
    expect(Math.abs(published - state.crl_number)).toBeLessThanOrEqual(1); // the scheduler may re-sign in between
    expect(state.revoked_count).toBeGreaterThanOrEqual(1);
    expect(Date.parse(state.next_update)).toBeGreaterThan(Date.now());
    const full = await serverAdmin.crlState();
    expect(full.publications).toEqual({ mosquitto: null, embedded: null });
    await expect(admin.brokerState()).rejects.toMatchObject({ status: 403 });
    expect(await serverAdmin.brokerState()).toMatchObject({ mosquitto: { configured: false }, embedded: { running: false }, mqtt_client: { enabled: false, connected: false } });
  });

  it("a gateway's presence history and its uptime over a window", async () => {
    const d = db();
    const ins = d.prepare('INSERT INTO presence_events (gateway_id, online, at) VALUES (?, ?, ?)');
    ins.run(gatewayId, 1, '2025-01-01T00:00:00Z');
    ins.run(gatewayId, 0, '2025-01-01T06:00:00Z');
    ins.run(gatewayId, 1, '2025-01-01T12:00:00Z');
    ins.run(gatewayId, 0, '2025-01-01T18:00:00Z');
    d.close();
    const op = server.client('operator');
    // Window 03:00–15:00: online 03–06 and 12–15 = 6 h of 12 h.
    const h = await op.presenceHistory(gatewayId, { since: '2025-01-01T03:00:00Z', until: '2025-01-01T15:00:00Z' });
    expect(h).toMatchObject({
      state_at_start: 'online',
      transitions: [
        { status: 'offline', at: '2025-01-01T06:00:00Z' },
        { status: 'online', at: '2025-01-01T12:00:00Z' },
      ],
      online_seconds: 6 * 3600,
      window_seconds: 12 * 3600,
      uptime_percent: 50,
    });
    const before = await op.presenceHistory(gatewayId, { since: '2024-12-31T00:00:00Z', until: '2024-12-31T12:00:00Z' });
    expect(before).toMatchObject({ state_at_start: null, transitions: [], online_seconds: 0, uptime_percent: 0 });
    // Retention: what is older than the cut-off goes; the state at the window's start is then unknown.
    const repo = new SqliteRepository(path.join(server.dataDir, 'tds-server.db'));
    expect(await repo.purgePresenceEvents('2025-01-01T07:00:00Z')).toBe(2);
    await repo.close();
    const pruned = await op.presenceHistory(gatewayId, { since: '2025-01-01T03:00:00Z', until: '2025-01-01T15:00:00Z' });
    expect(pruned).toMatchObject({ state_at_start: null, transitions: [{ status: 'online', at: '2025-01-01T12:00:00Z' }], online_seconds: 3 * 3600 });
    op.close();
  });

  it('the scheduler runs the sweep and the CRL re-sign, records and audits each run, and /healthz shows last and next run', async () => {
    const c = server.client(null);
    let h = await c.healthz();
    for (let i = 0; i < 60 && (h.schedule.renewal.lastRun === null || h.schedule.crl.lastRun === null); i++) {
      await new Promise((r) => setTimeout(r, 500));
      h = await c.healthz();
    }
    expect(h).toMatchObject({ status: 'ok', version: expect.any(String) as string });
    for (const job of ['renewal', 'crl'] as const) {
      expect(h.schedule[job]).toMatchObject({ enabled: true, lastResult: 'ok' });
      expect(Date.parse(h.schedule[job].nextRun!)).toBeGreaterThanOrEqual(Date.parse(h.schedule[job].lastRun!));
    }
    const runs = await serverAdmin.listAudit({ actor: 'scheduler' });
    expect(runs.results.map((e) => e.action)).toEqual(expect.arrayContaining(['schedule.renewal', 'schedule.crl']));
    c.close();
  });

  it('schedule flags are validated before anything starts', async () => {
    for (const [flag, value, message] of [
      ['--renewal-every', '2s', /from 5s/],
      ['--crl-every', 'daily', /not a duration/],
      ['--renew-within', '5m', /from 1d/],
      ['--presence-history-days', '0', /positive integer/],
    ] as const) {
      const r = await server.cli(['serve', '--port', '0', flag, value], { allowFailure: true });
      expect(r.code, r.output).toBe(1);
      expect(r.output).toMatch(message);
    }
  });
});

