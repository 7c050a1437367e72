import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '@tds/server';
import { caPassphrase } from '../../src/main/settings/ca-passphrase.js';
import { FileSecretStore } from '../../src/main/settings/secret-store.js';
import { createStandaloneHost } from '../../src/main/standalone/host.js';
import { dispatch } from '../../src/main/station/dispatch.js';
import { StationService } from '../../src/main/station/service.js';
import type { BundledBackupView, BundledRestoreView } from '../../src/shared/views.js';
import { SimDeviceSource } from '../sim/esp32/sim-device-source.js';
import { tempDir } from '../support/temp.js';

/**
 * The station's bundled server: `bundled.backup` while it runs, `bundled.restore` through the
 * contract's dispatch (validated input, station errors): the restored server runs again with the
 * data of the backup — a gateway made after the backup is gone, the one before it is there — and a
 * tampered file or a wrong passphrase changes nothing.
 */
const tmp = tempDir('tds-bundled-backup-');
const dataDir = path.join(tmp.path, 'station');
const PASS = 'the backup passphrase';
const CA_PASS = 'the bundled CA passphrase';
let station: StationService;

async function call<T>(channel: string, payload: unknown): Promise<{ ok: true; value: T } | { ok: false; error: { code: string; message: string } }> {
  return (await dispatch(station.handlers, channel, payload, () => undefined)) as { ok: true; value: T } | { ok: false; error: { code: string; message: string } };
}

async function api(): Promise<ApiClient> {
  const e = await station.server.endpoint();
  return new ApiClient({ baseUrl: e.url, token: e.token, ...(e.caPem ? { caPem: e.caPem } : {}) });
}

beforeAll(async () => {
  const secrets = new FileSecretStore(path.join(dataDir, 'secrets.json'));
  station = await StationService.start({
    dataDir,
    shell: 'web',
    version: 'test',
    secrets,
    deviceSource: new SimDeviceSource(),
    standalone: createStandaloneHost({
      dataDir: path.join(dataDir, 'server'),
      secrets,
      // Web mode without a keychain: the operator gives the CA passphrase at start.
      caPassphrase: caPassphrase({ given: CA_PASS, store: secrets, dataDir }),
      log: () => undefined,
    }),
  });
  const r = await call('firstRun.run', { accountName: 'Bench', operator: 'Ana', startBroker: false, deviceBrokerHost: '127.0.0.1' });
  expect(r.ok, JSON.stringify(r)).toBe(true);
}, 120_000);

afterAll(async () => {
  await station?.close();
  tmp.remove();
});

describe('bundled server backup and restore (station core)', () => {
  it('backs up while running, restores the backup (server stopped, restored, restarted), and refuses bad files', async () => {
    const accountId = station.settings.current.server.accountId!;
    let c = await api();
    const kept = await c.provision({ mac_address: '02:c0:00:00:00:01', codigo: 'KEEP', nome: 'before the backup', conta_id: accountId });
    c.close();

    const file = path.join(tmp.path, 'bundled.tdsbackup');
    const b = await call<BundledBackupView>('bundled.backup', { path: file, passphrase: PASS });
    expect(b.ok, JSON.stringify(b)).toBe(true);
    if (b.ok) expect(b.value).toMatchObject({ file, files: expect.any(Number) as number });
    expect(existsSync(file)).toBe(true);

    // Input checked at the boundary, and the file is never overwritten.
    expect(await call('bundled.backup', { path: 'relative.bak', passphrase: PASS })).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT' } });
    expect(await call('bundled.backup', { path: file, passphrase: 'short' })).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT' } });
    expect(await call('bundled.backup', { path: file, passphrase: PASS })).toMatchObject({ ok: false, error: { code: 'CONFLICT' } });

    c = await api();
    const later = await c.provision({ mac_address: '02:c0:00:00:00:02', codigo: 'LATER', nome: 'after the backup', conta_id: accountId });
    c.close();

    // A tampered file and a wrong passphrase are refused while the server keeps running, unchanged.
    const bad = path.join(tmp.path, 'tampered.tdsbackup');
    const bytes = readFileSync(file);
    bytes[bytes.length - 100] = bytes[bytes.length - 100]! ^ 1;
    writeFileSync(bad, bytes);
    const refusedTampered = await call('bundled.restore', { path: bad, passphrase: PASS });
    expect(refusedTampered).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT', message: expect.stringMatching(/modified or damaged/) as string } });
    const refusedPass = await call('bundled.restore', { path: file, passphrase: 'not the passphrase' });
    expect(refusedPass).toMatchObject({ ok: false, error: { message: expect.stringMatching(/passphrase/) as string } });
    c = await api();
    expect((await c.getGateway(later.gateway_id)).codigo).toBe('LATER');
    c.close();

    // A CA passphrase other than the one the station was started with cannot be kept: refused first.
    const refusedCa = await call('bundled.restore', { path: file, passphrase: PASS, caPassphrase: 'some other CA passphrase' });
    expect(refusedCa).toMatchObject({ ok: false, error: { code: 'NOT_CONFIGURED', message: expect.stringMatching(/differs from the one this station was started with/) as string } });
    c = await api();
    expect((await c.getGateway(later.gateway_id)).codigo).toBe('LATER');
    c.close();

    const r = await call<BundledRestoreView>('bundled.restore', { path: file, passphrase: PASS });
    expect(r.ok, JSON.stringify(r)).toBe(true);
    if (!r.ok) return;
    expect(r.value.running).toBe(true);
    expect(r.value.previousDataDir).toMatch(/before-restore-/);
    expect(existsSync(r.value.previousDataDir!)).toBe(true);
    expect(station.settings.current.server.mode).toBe('bundled');
    // The restarted server has the backup's data: the earlier gateway, not the later one.
    c = await api();
    expect((await c.getGateway(kept.gateway_id)).active_certificate?.serial_number).toBe(kept.serial_number);
    await expect(c.getGateway(later.gateway_id)).rejects.toMatchObject({ status: 404 });
    // ... and its CA still signs.
    const again = await c.provision({ mac_address: '02:c0:00:00:00:03', codigo: 'AFTER', nome: 'after the restore', conta_id: accountId });
    expect(again.serial_number).toMatch(/^[0-9A-F]+$/);
    c.close();
  });
});
