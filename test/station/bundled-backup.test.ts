import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '@tds/server';
import { caPassphrase } from '../../src/main/settings/ca-passphrase.js';
import { FileSecretStore } from '../../src/main/settings/secret-store.js';
import { createStandaloneHost } from '../../src/main/standalone/host.js';
import { dispatch } from '../../src/main/station/dispatch.js';
import { StationService } from '../../src/main/station/service.js';
import type { BundledBackupContents, BundledBackupView, BundledRestoreView } from '../../src/shared/views.js';
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

type Answer<T> = { ok: true; value: T } | { ok: false; error: { code: string; message: string; issues?: { field: string; key: string }[] } };

async function call<T>(channel: string, payload: unknown): Promise<Answer<T>> {
  return (await dispatch(station.handlers, channel, payload, () => undefined)) as Answer<T>;
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

  it('a backup into a folder is named after the day; a file is read and verified before any restore, and each refusal names its cause and field', async () => {
    const folder = path.join(tmp.path, 'backups');
    mkdirSync(folder);
    const now = new Date();
    const day = `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, '0')}-${String(now.getDate()).padStart(2, '0')}`;
    const first = await call<BundledBackupView>('bundled.backup', { path: folder, passphrase: PASS });
    const second = await call<BundledBackupView>('bundled.backup', { path: folder, passphrase: PASS });
    expect(first.ok && second.ok, JSON.stringify([first, second])).toBe(true);
    if (!first.ok || !second.ok) return;
    expect(first.value.file).toBe(path.join(folder, `tds-server-${day}.tdsbackup`));
    expect(second.value.file).toBe(path.join(folder, `tds-server-${day}-2.tdsbackup`));

    // What the file holds, before anything changes: its files, its store, and that its CA is this server's.
    const checked = await call<BundledBackupContents>('bundled.checkBackup', { path: first.value.file, passphrase: PASS });
    expect(checked.ok, JSON.stringify(checked)).toBe(true);
    if (!checked.ok) return;
    expect(checked.value).toMatchObject({ file: first.value.file, bytes: first.value.bytes, files: first.value.files, sameCa: true, store: { kind: 'sqlite' } });
    expect(checked.value.paths).toEqual(expect.arrayContaining(['ca.crt', 'ca.key.enc', 'config.json', 'crl.pem']));

    // Each refusal: the cause as the issue key, on the field to fix.
    const bytes = readFileSync(first.value.file);
    const truncated = path.join(tmp.path, 'truncated.tdsbackup');
    writeFileSync(truncated, bytes.subarray(0, bytes.length - 1000));
    const modified = path.join(tmp.path, 'modified.tdsbackup');
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 50] = flipped[flipped.length - 50]! ^ 0x10;
    writeFileSync(modified, flipped);
    const notBackup = path.join(tmp.path, 'notes.txt');
    writeFileSync(notBackup, 'just some text, long enough to have a header\n'.repeat(4));
    const cases: [string, string, string, string][] = [
      [first.value.file, 'not the backup passphrase', 'passphrase', 'backup.wrongPassphrase'],
      [truncated, PASS, 'path', 'backup.truncated'],
      [modified, PASS, 'path', 'backup.modified'],
      [notBackup, PASS, 'path', 'backup.notBackup'],
      [path.join(tmp.path, 'missing.tdsbackup'), PASS, 'path', 'backup.notFound'],
    ];
    for (const [file, passphrase, field, key] of cases) {
      for (const channel of ['bundled.checkBackup', 'bundled.restore']) {
        const r = await call(channel, { path: file, passphrase });
        expect(r, `${channel} ${path.basename(file)}`).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT', issues: [{ field, key }] } });
      }
    }
    // A backup never overwrites a file.
    const again = await call('bundled.backup', { path: first.value.file, passphrase: PASS });
    expect(again).toMatchObject({ ok: false, error: { code: 'CONFLICT' } });
  });
});
