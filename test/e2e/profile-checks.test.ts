import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebStation } from '../../src/main/web/web-station.js';
import { stationAddresses } from '../../src/main/station/station-addresses.js';
import { freePort } from '../support/ports.js';
import { tempDir } from '../support/temp.js';
import { launchBrowser, screenshot, type TestBrowser } from './support/browser.js';
import { BUNDLE_DIR, invoke, startTestStation } from './support/station.js';
import { expectFieldError, fill, settingsTab } from './support/ui.js';

// The first run offers this machine's own addresses for the devices and warns about loopback; a
// profile that cannot work is refused when saved, each problem at its field (the core checks the
// bundle, the Wi-Fi password and that the broker answers TLS); an admin locks the profiles with a PIN.
describe('E2E: device address at first run, profiles refused when they cannot work, profile lock (web mode, standalone, Chromium)', () => {
  const tmp = tempDir('tds-e2e-profiles-');
  const shots = tempDir('tds-e2e-shots-');
  let station: WebStation;
  let b: TestBrowser;
  const lan = stationAddresses().filter((a) => !a.loopback);

  beforeAll(async () => {
    station = await startTestStation({ dataDir: path.join(tmp.path, 'station'), bundledServer: true, caPassphrase: 'profile checks CA passphrase' });
    b = await launchBrowser();
    b.page.setDefaultTimeout(20_000);
    await b.page.goto(station.url);
  }, 60_000);

  afterAll(async () => {
    await b?.close();
    await station?.close();
    tmp.remove();
    shots.remove();
  });

  it('first run: the device address starts as this machine’s LAN address, offers the others, and warns about loopback', async () => {
    const { page } = b;
    const form = '#first-run-form';
    await page.locator(form).waitFor();
    const host = page.locator(`${form} [data-field=deviceBrokerHost]`);
    const warning = page.getByTestId('device-host-loopback');
    if (lan.length > 0) {
      const firstV4 = lan.find((a) => a.family === 'IPv4') ?? lan[0]!;
      await expect.poll(() => host.inputValue()).toBe(firstV4.address);
      expect(await page.getByTestId('device-host-choice').allTextContents()).toEqual(lan.map((a) => `${a.address} (${a.interface})`));
      expect(await warning.count()).toBe(0);
    }
    await host.fill('127.0.0.1');
    await warning.waitFor();
    expect(await warning.textContent()).toContain('real boards cannot reach it');
    await screenshot(page, 'first-run-addresses', shots.path);
    if (lan.length > 0) {
      await page.getByTestId('device-host-choice').first().click();
      expect(await host.inputValue()).toBe(lan[0]!.address);
      await warning.waitFor({ state: 'detached' });
    }
    // Simulated boards on this machine: loopback is what they use here.
    await fill(page, form, { accountName: 'Checks Ltda', operator: 'Rui', deviceBrokerHost: '127.0.0.1', brokerPort: String(await freePort()) });
    await page.click(`${form} button[type=submit]`);
    await page.getByRole('button', { name: 'Continue to the Bench' }).click({ timeout: 90_000 });
    // The first profile is named in the operator's language and is the default.
    const settings = await invoke(station, 'settings.get');
    expect(settings.activeProfile).toBe('Main profile');
  }, 120_000);

  it('refuses a profile that cannot work, each problem at its field; "Test the broker" says whether it answers', async () => {
    const { page } = b;
    const s = await invoke(station, 'settings.get');
    const closedPort = await freePort();
    await settingsTab(page, 'profiles');
    await page.getByRole('button', { name: 'New profile' }).click();
    const form = '#profile-form';
    // The form takes focus when it opens.
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute('data-field'))).toBe('name');
    await fill(page, form, { name: 'line B', codeTemplate: 'GW-FIXED', brokerHost: '127.0.0.1', brokerPort: String(closedPort), 'esp32.bundlePath': path.join(tmp.path, 'missing-bundle'), 'esp32.wifiSsid': 'plant' });
    await page.click(`${form} button[type=submit]`);
    await expectFieldError(page, form, 'codeTemplate', /Include \{mac12\} or \{seq\}/);
    await fill(page, form, { codeTemplate: 'GW-{mac12}' });
    await page.click(`${form} button[type=submit]`);
    await expectFieldError(page, form, 'brokerHost', new RegExp(`Nothing answered at 127\\.0\\.0\\.1:${closedPort} \\(connection refused\\)`));
    await expectFieldError(page, form, 'esp32.bundlePath', /no file or folder at this path/);
    await expectFieldError(page, form, 'esp32.wifiPassword', /Type the Wi-Fi password, or tick “Open network”/);
    // The first bad field has focus.
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute('data-field'))).toBe('brokerHost');
    await screenshot(page, 'settings-profile-refused', shots.path, { fullPage: true });
    expect((await invoke(station, 'profiles.list')).map((p) => p.name)).not.toContain('line B');

    await page.getByTestId('test-broker').click();
    await expectFieldError(page, form, 'brokerHost', /connection refused/);
    await fill(page, form, { brokerPort: String(s.broker.port), 'esp32.bundlePath': BUNDLE_DIR });
    await page.getByTestId('test-broker').click();
    await page.locator(`${form} [role=status]`, { hasText: `The broker answers: 127.0.0.1:${s.broker.port} answers` }).waitFor();
    await page.locator(`${form} [data-field="esp32.open"]`).check();
    await page.click(`${form} button[type=submit]`);
    await page.locator('[data-testid=profile-item]', { hasText: 'line B' }).waitFor();
    expect((await invoke(station, 'profiles.list')).find((p) => p.name === 'line B')?.esp32).toMatchObject({ wifiOpen: true, hasWifiPassword: false });
  }, 120_000);

  it('an admin locks the profiles with a PIN: operators can no longer edit or delete them, until it is unlocked', async () => {
    const { page } = b;
    await settingsTab(page, 'profiles');
    const lock = '#profile-lock-form';
    await fill(page, lock, { pin: '12' });
    await page.getByRole('button', { name: 'Lock profiles' }).click();
    await expectFieldError(page, lock, 'pin', /4 to 12 digits/);
    await fill(page, lock, { pin: '482916' });
    await page.getByRole('button', { name: 'Lock profiles' }).click();
    await page.getByTestId('profile-lock-state').filter({ hasText: 'Locked: operators can use the profiles' }).waitFor();
    expect(await page.locator('[data-testid=profile-item] button', { hasText: /^(Edit|Delete)$/ }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'New profile' }).count()).toBe(0);
    await page.getByText('An admin has locked the profiles').waitFor();
    // The core refuses too, whatever sends the request.
    const saved = (await invoke(station, 'profiles.list')).find((p) => p.name === 'line B')!;
    await expect(invoke(station, 'profiles.delete', { name: saved.name })).rejects.toThrow(/FORBIDDEN/);
    await fill(page, lock, { pin: '111111' });
    await page.getByRole('button', { name: 'Unlock profiles' }).click();
    await expectFieldError(page, lock, 'pin', /not the admin PIN/);
    await fill(page, lock, { pin: '482916' });
    await page.getByRole('button', { name: 'Unlock profiles' }).click();
    await page.getByTestId('profile-lock-state').filter({ hasText: 'Not locked' }).waitFor();
    expect(await page.locator('[data-testid=profile-item] button', { hasText: /^Edit$/ }).count()).toBe(2);
  });

  it('deleting a profile asks in the page, not with the browser’s confirm(); Cancel keeps it', async () => {
    const { page } = b;
    let nativeDialogs = 0;
    page.on('dialog', (d) => {
      nativeDialogs++;
      void d.dismiss();
    });
    const item = page.locator('[data-testid=profile-item]', { hasText: 'line B' });
    await item.getByRole('button', { name: 'Delete profile line B' }).click();
    const dialog = page.locator('dialog[open][role=alertdialog]');
    await dialog.waitFor();
    expect(await dialog.textContent()).toContain('Delete profile “line B”?');
    // A dangerous action starts on Cancel.
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('confirm-cancel');
    await page.keyboard.press('Enter');
    await dialog.waitFor({ state: 'detached' });
    expect((await invoke(station, 'profiles.list')).map((p) => p.name)).toContain('line B');
    await item.getByRole('button', { name: 'Delete profile line B' }).click();
    await page.getByTestId('confirm-ok').click();
    await expect.poll(async () => (await invoke(station, 'profiles.list')).map((p) => p.name)).not.toContain('line B');
    expect(nativeDialogs).toBe(0);
  });
});
