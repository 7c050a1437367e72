import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { WebStation } from '../../src/main/web/web-station.js';
import { tempDir } from '../support/temp.js';
import { seriousViolations } from './support/axe-interim.js';
import { launchBrowser, screenshot, type TestBrowser } from './support/browser.js';
import { invoke, startTestStation } from './support/station.js';
import { expectFieldError, fill, saveAndWait, settingsTab } from './support/ui.js';

// Settings → Backup, in standalone mode (the bundled server in the station's core): a backup made
// into a folder the user names, with the passphrase typed twice; a restore that reads and verifies
// the whole file first and shows what it holds, asks in-app, and says what happened; every refusal
// (wrong passphrase, truncated, not a backup, no such file) in words, in English and Portuguese.
describe('E2E: backup and restore of the bundled server from Settings (web mode, Chromium)', () => {
  const tmp = tempDir('tds-e2e-backup-');
  const shots = tempDir('tds-e2e-backup-shots-');
  const dataDir = path.join(tmp.path, 'station');
  const folder = path.join(tmp.path, 'usb');
  const PASS = 'correct horse battery staple';
  let station: WebStation;
  let b: TestBrowser;
  let backupFile: string;

  const codes = async (): Promise<string[]> => (await invoke(station, 'gateways.list', { page: 1 })).results.map((g) => g.code).sort();
  const importGateway = async (mac: string, code: string): Promise<void> => {
    const r = await invoke(station, 'gateways.importCsv', { csv: `mac_address,codigo,nome\n${mac},${code},${code.toLowerCase()}\n` });
    expect(r.created).toBe(1);
  };

  async function restoreForm(page: Page, file: string, passphrase: string): Promise<void> {
    await fill(page, '#restore-form', { path: file, passphrase });
    await page.locator('#restore-form button[type=submit]').click();
  }

  beforeAll(async () => {
    mkdirSync(folder);
    station = await startTestStation({ dataDir, bundledServer: true, caPassphrase: 'e2e CA passphrase, given at start' });
    await invoke(station, 'firstRun.run', { accountName: 'Fábrica', operator: 'Ana', startBroker: false, deviceBrokerHost: '127.0.0.1' });
    await importGateway('02:bb:00:00:00:01', 'KEEP');
    b = await launchBrowser();
    await b.page.goto(station.url);
    await b.page.locator('.shell').waitFor();
  }, 180_000);

  afterAll(async () => {
    await b?.close();
    await station?.close();
    tmp.remove();
    shots.remove();
  });

  it('makes a backup into a folder the user names, with the passphrase typed twice', async () => {
    const { page } = b;
    await settingsTab(page, 'backup');
    await page.locator('#backup-form').waitFor();
    // Short, then typed differently the second time: each said under its field.
    await fill(page, '#backup-form', { path: folder, passphrase: 'short', again: 'short' });
    await page.click('#backup-form button[type=submit]');
    await expectFieldError(page, '#backup-form', 'passphrase', /Too short \(at least 12 characters\)/);
    await fill(page, '#backup-form', { passphrase: PASS, again: `${PASS}!` });
    await page.click('#backup-form button[type=submit]');
    await expectFieldError(page, '#backup-form', 'again', /^The two passphrases differ\.$/);
    expect(await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.field)).toBe('again');
    await fill(page, '#backup-form', { again: PASS });
    await page.click('#backup-form button[type=submit]');
    const status = page.locator('[data-testid=backup-status]');
    await status.filter({ hasText: 'Backup written to' }).waitFor({ timeout: 60_000 });
    const now = new Date();
    backupFile = path.join(folder, `tds-server-${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, '0')}-${String(now.getDate()).padStart(2, '0')}.tdsbackup`);
    expect(await status.textContent()).toMatch(new RegExp(`^Backup written to ${backupFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\([\\d.]+ (KB|MB), \\d+ files\\)\\.$`));
    expect(existsSync(backupFile)).toBe(true);
    // The passphrase fields are emptied once it is written.
    expect(await page.locator('#backup-form [data-field=passphrase]').inputValue()).toBe('');
    await importGateway('02:bb:00:00:00:02', 'LATER');
    expect(await codes()).toEqual(['KEEP', 'LATER']);
  }, 90_000);

  it('refuses a bad file or passphrase in words before anything changes', async () => {
    const { page } = b;
    const bytes = readFileSync(backupFile);
    const truncated = path.join(folder, 'cut.tdsbackup');
    writeFileSync(truncated, bytes.subarray(0, bytes.length - 2000));
    const notes = path.join(folder, 'notes.txt');
    writeFileSync(notes, 'shopping list\n'.repeat(20));
    const cases: [string, string, string, RegExp][] = [
      [backupFile, 'not the right passphrase', 'passphrase', /^This passphrase does not open the backup\.$/],
      [truncated, PASS, 'path', /^This backup is incomplete \(cut short while copying\): copy it again\.$/],
      [notes, PASS, 'path', /^This file is not a backup of a TDS server\.$/],
      [path.join(folder, 'missing.tdsbackup'), PASS, 'path', /^There is no file at this path/],
    ];
    for (const [file, passphrase, field, message] of cases) {
      await restoreForm(page, file, passphrase);
      await expectFieldError(page, '#restore-form', field, message);
      expect(await page.locator('[data-testid=backup-contents]').count()).toBe(0);
    }
    expect(await codes()).toEqual(['KEEP', 'LATER']);
  });

  it('shows what the file holds, asks in-app, restores, and says where the previous data is kept', async () => {
    const { page } = b;
    await restoreForm(page, backupFile, PASS);
    const contents = page.locator('[data-testid=backup-contents]');
    await contents.waitFor({ timeout: 30_000 });
    expect(await contents.getAttribute('data-same-ca')).toBe('true');
    expect(await contents.textContent()).toContain('A backup of this station’s server (the same CA).');
    for (const f of ['ca.crt', 'ca.key.enc', 'config.json', 'crl.pem']) expect(await contents.locator('li', { hasText: new RegExp(`^${f.replace('.', '\\.')}$`) }).count()).toBe(1);
    await screenshot(page, 'settings-backup', shots.path, { fullPage: true });
    expect(await seriousViolations(page), 'en backup tab').toEqual([]);
    // The question: in-app, Cancel first; cancelling changes nothing and gives the focus back.
    await page.getByRole('button', { name: 'Restore…' }).click();
    const ask = page.locator('dialog[open]');
    await ask.waitFor();
    expect(await ask.textContent()).toContain(backupFile);
    await expect.poll(() => page.evaluate(() => document.activeElement?.textContent)).toBe('Cancel');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.evaluate(() => document.activeElement?.textContent)).toBe('Restore…');
    expect(await codes()).toEqual(['KEEP', 'LATER']);
    await page.getByRole('button', { name: 'Restore…' }).click();
    await page.locator('dialog[open]').getByRole('button', { name: 'Restore', exact: true }).click();
    const result = page.locator('[data-testid=restore-status]');
    await result.filter({ hasText: 'Restored: the server runs again with the backup made' }).waitFor({ timeout: 60_000 });
    const kept = /The previous data is kept in (\S+); delete it/.exec((await result.textContent()) ?? '')?.[1];
    expect(kept).toMatch(/server\.before-restore-/);
    expect(existsSync(kept!)).toBe(true);
    // The server runs with the backup's data: the gateway made after it is gone.
    expect(await codes()).toEqual(['KEEP']);
  }, 120_000);

  it('in Portuguese: the form, the contents and the refusals in words', async () => {
    const { page } = b;
    await settingsTab(page, 'general');
    await page.selectOption('#general-form [data-field=language]', 'pt-BR');
    await saveAndWait(page, 'general-form');
    await page.click('#tab-backup');
    expect(await page.locator('#tab-backup').textContent()).toBe('Backup');
    expect(await page.locator('#backup-make-title').textContent()).toBe('Fazer backup do servidor embutido');
    await restoreForm(page, backupFile, 'senha que não é esta');
    await expectFieldError(page, '#restore-form', 'passphrase', /^Esta senha não abre o backup\.$/);
    await restoreForm(page, backupFile, PASS);
    const contents = page.locator('[data-testid=backup-contents]');
    await contents.waitFor({ timeout: 30_000 });
    expect(await contents.textContent()).toContain('Um backup do servidor desta estação (a mesma AC).');
    expect(await contents.textContent()).toMatch(/Feito\d{2}\/\d{2}\/\d{4}/);
    expect(await seriousViolations(page), 'pt-BR backup tab').toEqual([]);
    await fill(page, '#backup-form', { path: backupFile, passphrase: PASS, again: PASS });
    await page.click('#backup-form button[type=submit]');
    await expectFieldError(page, '#backup-form', 'path', /^Já existe um arquivo com este nome; um backup nunca sobrescreve outro\.$/);
  }, 90_000);
});
