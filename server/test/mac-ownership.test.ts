import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, createApiToken, initServerData, startServer, type RunningServer } from '@tds/server';
import { tempDir } from '../../test/support/temp.js';
import { refusal } from './support/refusal.js';

/**
 * The MAC-ownership rule: a MAC belongs to at most one account while any active or pending
 * certificate exists for it. The attack it stops: account A provisions MAC X and revokes it;
 * account B provisions X and asks for a pending renewal; B's active certificate expires while the
 * pending one is still valid (a device that was offline when `renew-expiring` ran); A then renews
 * its old gateway of X and would get a live identity for X in account A — B's device telemetry
 * would be stored under A. The server runs in process on a clock the test moves.
 */
const DAY = 86_400_000;
const X = '02:7a:00:00:00:01';
const dir = tempDir('tds-mac-owner-');
const dataDir = path.join(dir.path, 'data');
let now = Date.now();
let server: RunningServer;
let a: ApiClient;
let b: ApiClient;
let accountA: number;
let accountB: number;

async function clientFor(name: string): Promise<{ client: ApiClient; accountId: number }> {
  const audit = { at: '2026-01-01T00:00:00Z', accountId: null, actor: 'test', action: 'account.create', object: null, sourceIp: null, result: 'ok' as const, detail: null };
  const account = await server.repo.createAccount(name, audit);
  const { token } = await createApiToken(server.repo, { accountId: account.id, role: 'operator' }, 'test');
  return { client: new ApiClient({ baseUrl: server.url, token }), accountId: account.id };
}

/** Certificates of X straight from the database: account, status. */
function certificatesOfX(): { account_id: number; status: string }[] {
  const db = new Database(path.join(dataDir, 'tds-server.db'), { readonly: true });
  try {
    return db.prepare("SELECT account_id, status FROM certificates WHERE subject_cn = ? ORDER BY id").all(X) as { account_id: number; status: string }[];
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  await initServerData({ dataDir, passphrase: 'mac ownership passphrase' });
  server = await startServer({
    dataDir,
    passphrase: 'mac ownership passphrase',
    tls: 'off',
    port: 0,
    deviceValidityDays: 2,
    clock: () => new Date(now),
    logger: { info() {}, warn() {}, error() {} },
  });
  ({ client: a, accountId: accountA } = await clientFor('A'));
  ({ client: b, accountId: accountB } = await clientFor('B'));
});
afterAll(async () => {
  a?.close();
  b?.close();
  await server?.close();
  dir.remove();
});

describe('MAC ownership across accounts', () => {
  let gatewayA: number;
  let gatewayB: number;
  let pendingB: string;

  it("MAC takeover through renew/: an old gateway of account A cannot renew while account B's pending renewal of the MAC is valid", async () => {
    gatewayA = (await a.provision({ mac_address: X, codigo: 'GWA', nome: 'A', conta_id: accountA })).gateway_id;
    await a.revoke(gatewayA, 'cessationOfOperation');
    const provisionedB = await b.provision({ mac_address: X, codigo: 'GWB', nome: 'B', conta_id: accountB });
    gatewayB = provisionedB.gateway_id;
    now += DAY;
    pendingB = (await b.renewPending(gatewayB)).serial_number;
    // B's active certificate (2 days) has expired; its pending successor (issued a day later) is valid.
    now += DAY + 3_600_000;

    const refused = await refusal(a.renew(gatewayA));
    expect(refused.status).toBe(409);
    expect(refused.error).toBe(`MAC ${X} is not available`);
    expect(refused.details?.field).toBe('mac_address');
    // Nothing was issued to A; B's pending certificate is untouched.
    expect(certificatesOfX().filter((c) => c.account_id === accountA).map((c) => c.status)).toEqual(['revoked']);
    expect(certificatesOfX().filter((c) => c.status === 'pending')).toEqual([{ account_id: accountB, status: 'pending' }]);
    // The refusal is audited for A as denied.
    const audit = server.repo.listAudit(accountA, { limit: 1, offset: 0, action: 'certificate.renew' });
    expect((await audit).rows[0]).toMatchObject({ result: 'denied', object: `gateway:${gatewayA}` });
  });

  it('the same rule holds for provision, pending renewal and CSV import by another account, with one message', async () => {
    const provisioned = await refusal(a.provision({ mac_address: X, codigo: 'GWA', nome: 'A again', conta_id: accountA }));
    expect([provisioned.status, provisioned.error]).toEqual([409, `MAC ${X} is not available`]);
    const imported = await refusal(a.importCsv(`mac_address,codigo,nome\n${X},GWA,A\n`));
    expect(imported.status).toBe(400);
    expect((imported.details?.rows as { error?: string }[])[0]?.error).toBe(`MAC ${X} is not available`);
    expect(certificatesOfX().filter((c) => c.account_id === accountA).map((c) => c.status)).toEqual(['revoked']);
  });

  it("the owner confirms its pending renewal; A still cannot take the MAC; once B revokes, the MAC is free again", async () => {
    const confirmed = await b.confirmRenewal(gatewayB, pendingB);
    expect(confirmed.status).toBe('active');
    expect((await refusal(a.renew(gatewayA))).error).toBe(`MAC ${X} is not available`);
    await b.revoke(gatewayB, 'cessationOfOperation');
    const back = await a.renew(gatewayA);
    expect(back.mac_address).toBe(X);
    expect(certificatesOfX().filter((c) => c.status === 'active')).toEqual([{ account_id: accountA, status: 'active' }]);
  });
});
