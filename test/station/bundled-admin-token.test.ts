import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ApiClient, createDeviceCsr } from '@tds/server';
import { caPassphrase } from '../../src/main/settings/ca-passphrase.js';
import { FileSecretStore, SECRET } from '../../src/main/settings/secret-store.js';
import { createStandaloneHost } from '../../src/main/standalone/host.js';
import { dispatch } from '../../src/main/station/dispatch.js';
import { StationService } from '../../src/main/station/service.js';
import type { ServerIdentityView, StationSettingsView } from '../../src/shared/views.js';
import { SimDeviceSource } from '../sim/esp32/sim-device-source.js';
import { tempDir } from '../support/temp.js';

/**
 * Bundled mode: the person at the station owns the bundled server, so the station holds a second,
 * server-admin token for it (in the secret store, never in settings.json or the log) and the Admin
 * channels use it, while every other channel keeps the operator token. A station set up before
 * that gets its admin token on its next start; one revoked on the server is replaced.
 */
const tmp = tempDir('tds-bundled-admin-');
const dataDir = path.join(tmp.path, 'station');
const CA_PASS = 'the bundled CA passphrase';
const logLines: string[] = [];
let station: StationService | undefined;

async function start(): Promise<StationService> {
  const secrets = new FileSecretStore(path.join(dataDir, 'secrets.json'));
  const log = (l: string): void => void logLines.push(l);
  station = await StationService.start({
    dataDir,
    shell: 'web',
    version: 'test',
    secrets,
    log,
    deviceSource: new SimDeviceSource(),
    standalone: createStandaloneHost({ dataDir: path.join(dataDir, 'server'), secrets, caPassphrase: caPassphrase({ given: CA_PASS, store: secrets, dataDir }), log }),
  });
  return station;
}

async function call<T>(channel: string, payload?: unknown): Promise<T> {
  const r = (await dispatch(station!.handlers, channel, payload, () => undefined)) as { ok: true; value: T } | { ok: false; error: unknown };
  if (!r.ok) throw new Error(`${channel}: ${JSON.stringify(r.error)}`);
  return r.value;
}

const secrets = (): FileSecretStore => new FileSecretStore(path.join(dataDir, 'secrets.json'));

afterAll(async () => {
  await station?.close();
  tmp.remove();
});

describe('bundled mode: the station’s server-admin token for the Admin screen (station core)', () => {
  it('first run makes it next to the operator token; Admin uses it, everything else the operator token', async () => {
    await start();
    await call('firstRun.run', { accountName: 'Bench', operator: 'Ana', startBroker: false, deviceBrokerHost: '127.0.0.1' });
    const op = await call<ServerIdentityView>('server.identity');
    const admin = await call<ServerIdentityView>('admin.identity');
    expect(op).toMatchObject({ role: 'operator', serverAdmin: false });
    expect(admin).toMatchObject({ role: 'admin', serverAdmin: true, accountId: op.accountId });
    expect(admin.tokenId).not.toBe(op.tokenId);

    // The Admin channels act with it: every account and every token (server admin only).
    const accounts = await call<{ id: number }[]>('admin.accounts');
    expect(accounts.map((a) => a.id)).toContain(op.accountId);
    const tokens = await call<{ id: number; role: string; serverAdmin: boolean; label: string | null }[]>('admin.tokens', {});
    expect(tokens.find((t) => t.id === admin.tokenId)).toMatchObject({ role: 'admin', serverAdmin: true, label: expect.stringMatching(/^station .+ admin$/) });
    expect(tokens.find((t) => t.id === op.tokenId)).toMatchObject({ role: 'operator' });

    // Kept as a secret only: not in settings.json, not in any log line.
    const token = await secrets().get(SECRET.bundledAdminToken);
    expect(token).toMatch(/^tds_/);
    for (const f of readdirSync(dataDir).filter((x) => x.endsWith('.json') && !x.startsWith('secrets'))) {
      expect(readFileSync(path.join(dataDir, f), 'utf8')).not.toContain(token);
    }
    expect(logLines.join('\n')).not.toContain(token);
  }, 120_000);

  it('a station set up before this change (no admin token) gets one on start, made in process; a revoked one is replaced', async () => {
    await station!.close();
    station = undefined;
    await secrets().delete(SECRET.bundledAdminToken);
    logLines.length = 0;
    await start();
    const made = await secrets().get(SECRET.bundledAdminToken);
    expect(made).toMatch(/^tds_/);
    const admin = await call<ServerIdentityView>('admin.identity');
    expect(admin).toMatchObject({ role: 'admin', serverAdmin: true });
    expect(logLines.some((l) => /made a server-admin token \(id \d+\) of the bundled server/.test(l))).toBe(true);

    // Someone revokes it on the server: the next start replaces it; the operator token is untouched.
    const e = await station!.server.endpoint();
    const c = new ApiClient({ baseUrl: e.url, token: made!, ...(e.caPem ? { caPem: e.caPem } : {}) });
    await c.revokeToken(admin.tokenId);
    c.close();
    await station!.close();
    station = undefined;
    await start();
    const again = await secrets().get(SECRET.bundledAdminToken);
    expect(again).not.toBe(made);
    expect(await call<ServerIdentityView>('admin.identity')).toMatchObject({ role: 'admin', serverAdmin: true });
    expect((await call<ServerIdentityView>('admin.identity')).tokenId).not.toBe(admin.tokenId);
    expect(await call<ServerIdentityView>('server.identity')).toMatchObject({ role: 'operator' });
  }, 120_000);
});

describe('bundled mode: open enrolment of zero-touch onboarding from the station (station core)', () => {
  /** A device without a birth identity asks the bundled server to be let in (the open path). */
  async function openRequest(mac: string): Promise<unknown> {
    const e = await station!.server.endpoint();
    const c = new ApiClient({ baseUrl: e.url, ...(e.caPem ? { caPem: e.caPem } : {}) });
    try {
      const { csrPem } = await createDeviceCsr({ mac });
      return await c.bootstrap({ mac_address: mac, csr_pem: csrPem, model: 'test', firmware_version: '1.0.0' }).catch((err: unknown) => err);
    } finally {
      c.close();
    }
  }

  it('shows the server’s own switch; turning it on writes the server config, restarts the server, and the server then lets devices ask', async () => {
    const before = await call<StationSettingsView>('settings.get');
    expect(before.server.bundled).toMatchObject({ running: true, openEnrolment: false });
    expect(await openRequest('02:0e:00:00:00:01')).toMatchObject({ status: 403, error: expect.stringMatching(/open enrolment/i) });

    const on = await call<StationSettingsView>('bundled.setOpenEnrolment', { on: true });
    expect(on.server.bundled).toMatchObject({ running: true, openEnrolment: true });
    const config = JSON.parse(readFileSync(path.join(dataDir, 'server', 'config.json'), 'utf8')) as { bootstrap: { openEnrolment: boolean } };
    expect(config.bootstrap.openEnrolment).toBe(true);
    expect(await openRequest('02:0e:00:00:00:02')).toMatchObject({ status: 'pending', path: 'open' });
    // The restarted server still knows both station tokens.
    expect(await call<ServerIdentityView>('server.identity')).toMatchObject({ role: 'operator' });
    expect(await call<ServerIdentityView>('admin.identity')).toMatchObject({ role: 'admin', serverAdmin: true });

    const off = await call<StationSettingsView>('bundled.setOpenEnrolment', { on: false });
    expect(off.server.bundled?.openEnrolment).toBe(false);
    expect(await openRequest('02:0e:00:00:00:03')).toMatchObject({ status: 403 });
    // Input checked at the boundary.
    const bad = await dispatch(station!.handlers, 'bundled.setOpenEnrolment', { on: 'yes' }, () => undefined);
    expect(bad).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT' } });
  }, 120_000);
});
