import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebStation } from '../../src/main/web/web-station.js';
import { tempDir } from '../support/temp.js';
import { expectAccessible } from './support/axe.js';
import { launchBrowser, type TestBrowser } from './support/browser.js';
import { invoke, startTestStation } from './support/station.js';
import { goTo, saveAndWait, settingsTab } from './support/ui.js';

// Standalone mode (the bundled server in the station's core): the person at the station owns the
// server, so the Admin screen shows, acting with the station's server-admin token — every account,
// the station's own two tokens — while the station's jobs keep the operator token. Settings → Server
// holds the zero-touch open-enrolment switch: the server's own state shown, the risk explained, and
// applying it restarts the bundled server with the new config. English and Portuguese.
describe('E2E: standalone mode — the Admin screen and the open-enrolment switch (web mode, Chromium)', () => {
  const tmp = tempDir('tds-e2e-bundled-admin-');
  const dataDir = path.join(tmp.path, 'station');
  let station: WebStation;
  let b: TestBrowser;

  beforeAll(async () => {
    station = await startTestStation({ dataDir, bundledServer: true, caPassphrase: 'e2e CA passphrase, given at start' });
    await invoke(station, 'firstRun.run', { accountName: 'Oficina', operator: 'Ana', startBroker: false, deviceBrokerHost: '127.0.0.1' });
    b = await launchBrowser();
    await b.page.goto(station.url);
    await b.page.locator('.shell').waitFor();
  }, 180_000);

  afterAll(async () => {
    await b?.close();
    await station?.close();
    tmp.remove();
  });

  it('shows the Admin screen with the station’s server-admin token; the station itself keeps its operator token', async () => {
    const { page } = b;
    await page.locator('nav [data-screen="admin"]').waitFor({ timeout: 15_000 });
    expect(await page.locator('nav [data-screen]').count()).toBe(7);
    await goTo(page, 'admin');
    expect(await page.locator('#admin-title + p').textContent()).toContain('This token administers the whole server (every account).');
    // Tokens: the station's operator token and its server-admin token, both made at first run.
    await page.click('#admin-tab-tokens');
    const table = page.locator('[data-testid=tokens-table]');
    await table.waitFor();
    const admin = await invoke(station, 'admin.identity');
    const op = await invoke(station, 'server.identity');
    expect(admin).toMatchObject({ role: 'admin', serverAdmin: true });
    expect(op).toMatchObject({ role: 'operator', serverAdmin: false });
    await table.locator(`tr[data-token="${admin!.tokenId}"]`).waitFor();
    await table.locator(`tr[data-token="${op!.tokenId}"]`).waitFor();
    // Server-admin only: the broker state (an account's admin is refused it).
    await page.click('#admin-tab-server');
    await page.locator('[data-testid=broker-state]').waitFor();
    await page.locator('[data-testid=crl-state] [data-testid=crl-number]').waitFor();
    // The admin token is a secret of the station: not in settings.json.
    expect(readFileSync(path.join(dataDir, 'settings.json'), 'utf8')).not.toMatch(/tds_[A-Za-z0-9_-]{20,}/);
  });

  it('Settings → Server: the open-enrolment switch shows the server’s state, explains the risk, and applies with a restart', async () => {
    const { page } = b;
    await settingsTab(page, 'server');
    const form = page.locator('#open-enrolment-form');
    await form.waitFor();
    const box = form.locator('[data-field=openEnrolment]');
    expect(await box.isChecked()).toBe(false);
    expect(await form.locator('label').textContent()).toBe('Allow devices without a birth identity to ask to join (open enrolment)');
    expect(await form.locator('.field__hint').textContent()).toMatch(/Anyone who knows a MAC can then fill its pending requests/);
    // Nothing to apply until it changes.
    expect(await form.locator('button[type=submit]').isDisabled()).toBe(true);
    await box.check();
    await form.locator('button[type=submit]').click();
    await form.locator('[data-testid=open-enrolment-status]', { hasText: 'Open enrolment is on; the bundled server restarted.' }).waitFor({ timeout: 60_000 });
    // The server's config holds it, and the restarted server is what the station shows.
    const config = JSON.parse(readFileSync(path.join(dataDir, 'server', 'config.json'), 'utf8')) as { bootstrap: { openEnrolment: boolean } };
    expect(config.bootstrap.openEnrolment).toBe(true);
    expect((await invoke(station, 'settings.get')).server.bundled).toMatchObject({ running: true, openEnrolment: true });
    // A fresh page reads it from the server again.
    await page.reload();
    await page.locator('.shell').waitFor();
    await settingsTab(page, 'server');
    expect(await page.locator('#open-enrolment-form [data-field=openEnrolment]').isChecked()).toBe(true);
    // The Admin screen still works after the restart (the admin token is the restarted server's too).
    await goTo(page, 'admin');
    await page.click('#admin-tab-tokens');
    await page.locator('[data-testid=tokens-table]').waitFor();
    await expectAccessible(page, 'the Admin screen of the bundled server (tokens)');
  }, 120_000);

  it('in Portuguese: the switch and its risk, turned off again', async () => {
    const { page } = b;
    await settingsTab(page, 'general');
    await page.selectOption('#general-form [data-field=language]', 'pt-BR');
    await saveAndWait(page, 'general-form');
    await page.click('#tab-server');
    const form = page.locator('#open-enrolment-form');
    await form.waitFor();
    expect(await form.locator('h3').textContent()).toBe('Integração zero-touch');
    expect(await form.locator('label').textContent()).toBe('Permitir que dispositivos sem identidade de nascimento peçam para entrar (inscrição aberta)');
    expect(await form.locator('.field__hint').textContent()).toMatch(/Dispositivos nascidos na bancada não têm essas fraquezas/);
    await expectAccessible(page, 'Settings → Server in Portuguese (open enrolment)');
    await form.locator('[data-field=openEnrolment]').uncheck();
    await form.locator('button[type=submit]').click();
    await form.locator('[data-testid=open-enrolment-status]', { hasText: 'A inscrição aberta está desligada; o servidor embutido reiniciou.' }).waitFor({ timeout: 60_000 });
    expect((await invoke(station, 'settings.get')).server.bundled?.openEnrolment).toBe(false);
  }, 120_000);
});
