import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { ApiClient } from '@tds/server';
import { SqliteRepository, createApiToken } from '@tds/server/store';
import { startTestServer, type TestServer } from '../../test/support/server.js';
import { snapshot } from './support/db.js';
import { rawRequest } from './support/http.js';

/**
 * Account isolation and roles: every endpoint × role × own/other account, against the real server
 * (the renewal endpoints too: B has a renewal in flight that A must not confirm or cancel).
 * Account A's tokens act on A's objects ("own") and on B's ("other"). Other-account objects are
 * 404 (their existence is not revealed), role refusals are 403 whatever the target, and nothing
 * of B ever changes.
 */
type Role = 'operator' | 'admin' | 'auditor';
const ROLES: Role[] = ['operator', 'admin', 'auditor'];

let server: TestServer;
let b: { contaId: number; tokens: TestServer['tokens'] };
let bClient: ApiClient;
let bGateway: number;
let bSerial: string;
/** B's renewal in flight: A must not confirm or cancel it. */
let bPendingSerial: string;
/** One of B's tokens, which A's admin must not revoke. */
let bTokenId: number;
let macSeq = 0x10;
const mac = (): string => `02:66:00:00:01:${(macSeq++).toString(16).padStart(2, '0')}`;

beforeAll(async () => {
  server = await startTestServer();
  b = await server.createAccount('account B');
  bClient = new ApiClient({ baseUrl: server.apiUrl, caPem: server.caPem, token: b.tokens.operator });
  const r = await bClient.provision({ mac_address: '02:77:00:00:00:01', codigo: 'B1', nome: 'B gateway', conta_id: b.contaId });
  bGateway = r.gateway_id;
  bSerial = r.serial_number;
  // B's own audit trail, which A must never see.
  await bClient.downloadCertificates(bGateway);
  bPendingSerial = (await bClient.renewPending(bGateway)).serial_number;
  const repo = new SqliteRepository(path.join(server.dataDir, 'tds-server.db'));
  try {
    bTokenId = (await repo.listTokens(b.contaId))[0]!.id;
  } finally {
    await repo.close();
  }
});
afterAll(async () => {
  bClient?.close();
  await server?.stop();
});

/** A fresh gateway of account A (so state-changing cases do not depend on each other). */
async function ownGateway(): Promise<number> {
  const a = server.client('operator');
  const r = await a.provision({ mac_address: mac(), codigo: 'A', nome: 'A gateway', conta_id: server.contaId });
  a.close();
  return r.gateway_id;
}

/** A fresh gateway of account A with a renewal waiting for confirmation. */
async function ownPending(): Promise<{ id: number; serial: string }> {
  const id = await ownGateway();
  const a = server.client('operator');
  const r = await a.renewPending(id);
  a.close();
  return { id, serial: r.serial_number };
}

interface Endpoint {
  name: string;
  request: (target: 'own' | 'other') => Promise<{ method: string; path: string; body?: string; contentType?: string }>;
  expected: Record<'own' | 'other', Record<Role, number>>;
}

const json = (v: unknown): string => JSON.stringify(v);

const endpoints: Endpoint[] = [
  {
    name: 'POST gateways/provision/',
    request: async (t) => ({ method: 'POST', path: '/gateways/provision/', body: json({ mac_address: mac(), codigo: 'M', nome: 'matrix', conta_id: t === 'own' ? server.contaId : b.contaId }) }),
    expected: { own: { operator: 201, admin: 403, auditor: 403 }, other: { operator: 403, admin: 403, auditor: 403 } },
  },
  {
    name: 'GET gateways/',
    request: async (t) => ({ method: 'GET', path: t === 'own' ? '/gateways/' : `/gateways/?conta_id=${b.contaId}` }),
    expected: { own: { operator: 200, admin: 200, auditor: 200 }, other: { operator: 403, admin: 403, auditor: 403 } },
  },
  {
    name: 'GET gateways/{id}/',
    request: async (t) => ({ method: 'GET', path: `/gateways/${t === 'own' ? await ownGateway() : bGateway}/` }),
    expected: { own: { operator: 200, admin: 200, auditor: 200 }, other: { operator: 404, admin: 404, auditor: 404 } },
  },
  {
    name: 'GET gateways/{id}/certificados/',
    request: async (t) => ({ method: 'GET', path: `/gateways/${t === 'own' ? await ownGateway() : bGateway}/certificados/` }),
    expected: { own: { operator: 200, admin: 403, auditor: 403 }, other: { operator: 404, admin: 403, auditor: 403 } },
  },
  {
    name: 'POST gateways/{id}/revoke/',
    request: async (t) => ({ method: 'POST', path: `/gateways/${t === 'own' ? await ownGateway() : bGateway}/revoke/`, body: json({ reason: 'cessationOfOperation' }) }),
    expected: { own: { operator: 200, admin: 200, auditor: 403 }, other: { operator: 404, admin: 404, auditor: 403 } },
  },
  {
    name: 'POST gateways/{id}/renew/',
    request: async (t) => ({ method: 'POST', path: `/gateways/${t === 'own' ? await ownGateway() : bGateway}/renew/`, body: json({}) }),
    expected: { own: { operator: 201, admin: 403, auditor: 403 }, other: { operator: 404, admin: 403, auditor: 403 } },
  },
  {
    name: 'POST gateways/{id}/renew/ {pending}',
    request: async (t) => ({ method: 'POST', path: `/gateways/${t === 'own' ? await ownGateway() : bGateway}/renew/`, body: json({ pending: true }) }),
    expected: { own: { operator: 201, admin: 403, auditor: 403 }, other: { operator: 404, admin: 403, auditor: 403 } },
  },
  {
    name: 'POST gateways/{id}/renew/confirm/',
    request: async (t) => {
      const target = t === 'own' ? await ownPending() : { id: bGateway, serial: bPendingSerial };
      return { method: 'POST', path: `/gateways/${target.id}/renew/confirm/`, body: json({ serial_number: target.serial }) };
    },
    expected: { own: { operator: 200, admin: 403, auditor: 403 }, other: { operator: 404, admin: 403, auditor: 403 } },
  },
  {
    name: 'POST gateways/{id}/renew/cancel/',
    request: async (t) => {
      const target = t === 'own' ? await ownPending() : { id: bGateway, serial: bPendingSerial };
      return { method: 'POST', path: `/gateways/${target.id}/renew/cancel/`, body: json({ serial_number: target.serial }) };
    },
    expected: { own: { operator: 200, admin: 403, auditor: 403 }, other: { operator: 404, admin: 403, auditor: 403 } },
  },
  {
    name: 'POST gateways/import/',
    // "other": a row claiming B's MAC, which is active in account B.
    request: async (t) => ({ method: 'POST', path: '/gateways/import/', contentType: 'text/csv', body: `mac_address,codigo,nome\n${t === 'own' ? mac() : '02:77:00:00:00:01'},I,imported\n` }),
    expected: { own: { operator: 201, admin: 403, auditor: 403 }, other: { operator: 400, admin: 403, auditor: 403 } },
  },
  {
    name: 'GET audit/',
    request: async (t) => ({ method: 'GET', path: t === 'own' ? '/audit/?page_size=200' : '/audit/?page_size=200&action=certificate.download' }),
    expected: { own: { operator: 403, admin: 200, auditor: 200 }, other: { operator: 403, admin: 200, auditor: 200 } },
  },
  // The admin console.
  {
    name: 'GET audit/ by gateway',
    request: async (t) => ({ method: 'GET', path: `/audit/?page_size=200&gateway_id=${t === 'own' ? await ownGateway() : bGateway}` }),
    expected: { own: { operator: 403, admin: 200, auditor: 200 }, other: { operator: 403, admin: 200, auditor: 200 } },
  },
  {
    name: 'GET audit/export.csv',
    request: async (t) => ({ method: 'GET', path: t === 'own' ? '/audit/export.csv' : `/audit/export.csv?conta_id=${b.contaId}` }),
    expected: { own: { operator: 403, admin: 200, auditor: 200 }, other: { operator: 403, admin: 403, auditor: 403 } },
  },
  {
    name: 'GET accounts/',
    request: async () => ({ method: 'GET', path: '/accounts/' }),
    expected: { own: { operator: 403, admin: 200, auditor: 403 }, other: { operator: 403, admin: 200, auditor: 403 } },
  },
  {
    name: 'PATCH accounts/{id}/',
    request: async (t) => ({ method: 'PATCH', path: `/accounts/${t === 'own' ? server.contaId : b.contaId}/`, body: json({ name: 'renamed by A' }) }),
    expected: { own: { operator: 403, admin: 200, auditor: 403 }, other: { operator: 403, admin: 404, auditor: 403 } },
  },
  {
    name: 'POST accounts/',
    request: async () => ({ method: 'POST', path: '/accounts/', body: json({ name: 'made by an account admin' }) }),
    expected: { own: { operator: 403, admin: 403, auditor: 403 }, other: { operator: 403, admin: 403, auditor: 403 } },
  },
  {
    name: 'GET tokens/',
    request: async (t) => ({ method: 'GET', path: t === 'own' ? '/tokens/' : `/tokens/?conta_id=${b.contaId}` }),
    expected: { own: { operator: 403, admin: 200, auditor: 403 }, other: { operator: 403, admin: 403, auditor: 403 } },
  },
  {
    name: 'POST tokens/',
    request: async (t) => ({ method: 'POST', path: '/tokens/', body: json(t === 'own' ? { role: 'auditor', label: 'made in the matrix' } : { role: 'auditor', conta_id: b.contaId }) }),
    expected: { own: { operator: 403, admin: 201, auditor: 403 }, other: { operator: 403, admin: 403, auditor: 403 } },
  },
  {
    name: 'POST tokens/{id}/revoke/',
    request: async (t) => ({ method: 'POST', path: `/tokens/${t === 'own' ? await ownToken() : bTokenId}/revoke/`, body: json({}) }),
    expected: { own: { operator: 403, admin: 200, auditor: 403 }, other: { operator: 403, admin: 404, auditor: 403 } },
  },
  {
    name: 'GET crl/',
    request: async () => ({ method: 'GET', path: '/crl/' }),
    expected: { own: { operator: 403, admin: 200, auditor: 403 }, other: { operator: 403, admin: 200, auditor: 403 } },
  },
  {
    name: 'GET broker/',
    request: async () => ({ method: 'GET', path: '/broker/' }),
    expected: { own: { operator: 403, admin: 403, auditor: 403 }, other: { operator: 403, admin: 403, auditor: 403 } },
  },
  {
    name: 'GET gateways/{id}/presence/',
    request: async (t) => ({ method: 'GET', path: `/gateways/${t === 'own' ? await ownGateway() : bGateway}/presence/` }),
    expected: { own: { operator: 200, admin: 200, auditor: 200 }, other: { operator: 404, admin: 404, auditor: 404 } },
  },
  {
    name: 'POST gateways/{id}/renew/ {deliver}',
    request: async (t) => ({ method: 'POST', path: `/gateways/${t === 'own' ? await ownGateway() : bGateway}/renew/`, body: json({ deliver: true }) }),
    expected: { own: { operator: 201, admin: 403, auditor: 403 }, other: { operator: 404, admin: 403, auditor: 403 } },
  },
  {
    name: 'GET gateways/?expires_within_days',
    request: async (t) => ({ method: 'GET', path: t === 'own' ? '/gateways/?expires_within_days=3660' : `/gateways/?expires_within_days=3660&conta_id=${b.contaId}` }),
    expected: { own: { operator: 200, admin: 200, auditor: 200 }, other: { operator: 403, admin: 403, auditor: 403 } },
  },
];

/** A fresh token of account A, to be revoked. */
async function ownToken(): Promise<number> {
  const repo = new SqliteRepository(path.join(server.dataDir, 'tds-server.db'));
  try {
    return (await createApiToken(repo, { accountId: server.contaId, role: 'auditor', label: 'to revoke' }, 'test')).record.id;
  } finally {
    await repo.close();
  }
}

describe('endpoint × role × own/other account', () => {
  for (const ep of endpoints) {
    for (const target of ['own', 'other'] as const) {
      for (const role of ROLES) {
        const expected = ep.expected[target][role];
        it(`${ep.name} as ${role} on ${target} account → ${expected}`, async () => {
          const req = await ep.request(target);
          const bBefore = await bClient.getGateway(bGateway);
          const dbBefore = target === 'other' ? snapshot(server.dataDir) : undefined;
          const r = await rawRequest(server.apiUrl, server.caPem, {
            method: req.method,
            path: req.path,
            token: server.tokens[role],
            ...(req.body !== undefined ? { body: req.body, headers: { 'content-type': req.contentType ?? 'application/json' } } : {}),
          });
          expect(r.status, r.text).toBe(expected);
          if (r.status >= 400) expect(typeof r.json.error).toBe('string');
          // Nothing of B leaks into A's answers, and nothing of B changes.
          if (!req.body?.includes('02:77:00:00:00:01')) expect(r.text).not.toContain('02:77:00:00:00:01');
          expect(r.text).not.toContain(bSerial);
          if (!req.body?.includes(bPendingSerial)) expect(r.text).not.toContain(bPendingSerial);
          if (ep.name === 'GET gateways/' && r.status === 200) {
            expect((r.json.results as { conta_id: number }[]).every((g) => g.conta_id === server.contaId)).toBe(true);
          }
          // No other account's name, token or events in any answer of the admin console.
          expect(r.text).not.toContain('account B');
          if (ep.name.startsWith('GET tokens/') && r.status === 200) expect((r.json as unknown as { conta_id: number }[]).every((x) => x.conta_id === server.contaId)).toBe(true);
          if (ep.name === 'GET audit/export.csv' && r.status === 200) {
            const rows = r.text.trim().split('\n').slice(1);
            expect(rows.length).toBeGreaterThan(0);
            expect(rows.every((line) => line.split(',')[2] === String(server.contaId))).toBe(true);
          }
          if (ep.name.startsWith('GET audit/') && r.status === 200 && !ep.name.includes('csv')) {
            const events = r.json.results as { conta_id: number | null; object: string | null; result: string }[];
            if (target === 'own') expect(events.length).toBeGreaterThan(0);
            expect(events.every((e) => e.conta_id === server.contaId)).toBe(true);
            // A's own refused attempts on B's gateway are in A's trail; B's successful actions are not.
            expect(events.some((e) => e.object === `gateway:${bGateway}` && e.result === 'ok')).toBe(false);
          }
          if (target === 'other') expect(snapshot(server.dataDir)).toEqual(dbBefore);
          expect(await bClient.getGateway(bGateway)).toEqual(bBefore);
        });
      }
    }
  }

  it("confirming or cancelling with another account's serial on an own gateway is a 404 like an unknown serial; B's renewal is untouched", async () => {
    const own = await ownPending();
    for (const action of ['confirm', 'cancel']) {
      const foreign = await rawRequest(server.apiUrl, server.caPem, { method: 'POST', path: `/gateways/${own.id}/renew/${action}/`, token: server.tokens.operator, body: json({ serial_number: bPendingSerial }) });
      const unknown = await rawRequest(server.apiUrl, server.caPem, { method: 'POST', path: `/gateways/${own.id}/renew/${action}/`, token: server.tokens.operator, body: json({ serial_number: 'ABCDEF0123' }) });
      expect(foreign.status).toBe(404);
      expect(foreign.json.error?.replace(bPendingSerial, 'S')).toBe(unknown.json.error?.replace('ABCDEF0123', 'S'));
    }
    const detail = await bClient.getGateway(bGateway);
    expect(detail.certificados.find((c) => c.serial_number === bPendingSerial)?.status).toBe('pending');
    expect(detail.active_certificate?.serial_number).toBe(bSerial);
  });

  it("a 404 for another account's gateway is identical to one for a gateway that does not exist", async () => {
    const other = await rawRequest(server.apiUrl, server.caPem, { path: `/gateways/${bGateway}/`, token: server.tokens.operator });
    const missing = await rawRequest(server.apiUrl, server.caPem, { path: '/gateways/999999/', token: server.tokens.operator });
    expect(other.status).toBe(404);
    expect(other.json.error?.replace(String(bGateway), 'N')).toBe(missing.json.error?.replace('999999', 'N'));
  });
});
