import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebStation } from '../../src/main/web/web-station.js';
import { freePort } from '../support/ports.js';
import { filesContaining, tempDir } from '../support/temp.js';
import { launchBrowser, screenshot, type TestBrowser } from './support/browser.js';
import { BUNDLE_DIR, invoke, startTestStation } from './support/station.js';
import { expectFieldError, fill, goTo, saveAndWait, settingsTab } from './support/ui.js';

// Standalone mode (bundled server + embedded broker made by the first-run wizard), every form's
// answer to bad input, the language switch, and settings that survive a restart of the station.
describe('E2E: first run, forms, language, restart (web mode, standalone, Chromium)', () => {
  const tmp = tempDir('tds-e2e-forms-');
  const shots = tempDir('tds-e2e-shots-');
  const dataDir = path.join(tmp.path, 'station');
  let station: WebStation;
  let b: TestBrowser;

  // No keychain here: the bundled server's CA passphrase is given at start, as an operator would
  // with TDS_STATION_CA_PASSPHRASE_FILE, and is never written into the data folder.
  const caPassphrase = 'e2e CA passphrase, given at start';
  function start(): Promise<WebStation> {
    return startTestStation({ dataDir, bundledServer: true, caPassphrase });
  }

  beforeAll(async () => {
    station = await start();
    b = await launchBrowser();
    await b.page.goto(station.url);
  }, 60_000);

  afterAll(async () => {
    await b?.close();
    await station?.close();
    tmp.remove();
    shots.remove();
  });

  it('first run: refuses bad input, then makes CA, account, token, monitor identity and the embedded broker', async () => {
    const { page } = b;
    const form = '#first-run-form';
    await page.locator(form).waitFor();
    await fill(page, form, { accountName: '', operator: '', deviceBrokerHost: 'not a host', brokerPort: '99999' });
    await page.click(`${form} button[type=submit]`);
    await expectFieldError(page, form, 'accountName', /required/);
    await expectFieldError(page, form, 'deviceBrokerHost', /host name or IP/);
    await expectFieldError(page, form, 'brokerPort', /1 to 65535/);
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute('data-field'))).toBe('accountName');
    await screenshot(page, 'first-run', shots.path);
    await fill(page, form, { accountName: 'Fábrica Norte', operator: 'Rita', deviceBrokerHost: '127.0.0.1', brokerPort: String(await freePort()) });
    await page.click(`${form} button[type=submit]`);
    await page.getByRole('button', { name: 'Continue to the Bench' }).click({ timeout: 60_000 });
    await page.locator('.statusbar', { hasText: 'Broker monitor: connected' }).waitFor({ timeout: 20_000 });
    expect((await invoke(station, 'settings.get')).broker.embedded?.running).toBe(true);
    expect(filesContaining(dataDir, caPassphrase)).toEqual([]);
  }, 90_000);

  it('every settings form answers bad input with a message at the field', async () => {
    const { page } = b;
    await settingsTab(page, 'general');
    await fill(page, '#general-form', { operator: '', stationId: 'Bench 7!' });
    await page.click('#general-form button[type=submit]');
    await expectFieldError(page, '#general-form', 'operator', /required/);
    await expectFieldError(page, '#general-form', 'stationId', /lowercase letters, digits or dashes/);
    await fill(page, '#general-form', { operator: 'Rita Alves', stationId: 'bench-7' });
    await saveAndWait(page, 'general-form');

    await settingsTab(page, 'server');
    await page.check('input[name=server-mode][value=remote]');
    await fill(page, '#server-form', { url: 'ftp://x', token: 'short', accountId: '-3', caPem: 'hello' });
    await page.click('#server-form button[type=submit]');
    await expectFieldError(page, '#server-form', 'url', /http\(s\) URL/);
    await expectFieldError(page, '#server-form', 'token', /at least 16/);
    await expectFieldError(page, '#server-form', 'accountId', /greater than zero/);
    await expectFieldError(page, '#server-form', 'caPem', /PEM/);
    // Unreachable server: the test button says so (the core checks, not only the form).
    await fill(page, '#server-form', { url: `https://127.0.0.1:${await freePort()}`, token: 'tds_aaaaaaaaaaaaaaaaaaaaaaaa', accountId: '1', caPem: '' });
    await page.getByRole('button', { name: 'Test connection' }).click();
    await page.locator('#server-form [role=alert]', { hasText: 'could not be reached' }).waitFor({ timeout: 20_000 });
    await page.check('input[name=server-mode][value=bundled]');
    await saveAndWait(page, 'server-form');

    await settingsTab(page, 'broker');
    await fill(page, '#broker-form', { port: '0', 'monitor.certPem': '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----', 'monitor.keyPem': 'nope' });
    await page.click('#broker-form button[type=submit]');
    await expectFieldError(page, '#broker-form', 'port', /1 to 65535/);
    await expectFieldError(page, '#broker-form', 'monitor.keyPem', /PEM/);
    await fill(page, '#broker-form', { port: String((await invoke(station, 'settings.get')).broker.port), 'monitor.keyPem': '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----' });
    await page.click('#broker-form button[type=submit]');
    // Passes the form's shape check; the core then says what is wrong with the certificate.
    await expectFieldError(page, '#broker-form', 'monitor.certPem', /not a PEM certificate/);
    await screenshot(page, 'settings-errors', shots.path, { fullPage: true });

    await settingsTab(page, 'profiles');
    await page.getByRole('button', { name: 'Edit' }).first().click();
    await page.locator('#profile-form [data-field=esp32]').check();
    await fill(page, '#profile-form', { name: '', brokerPort: 'abc', 'esp32.bundlePath': 'firmware/bundle', 'esp32.wifiSsid': '', 'esp32.wifiPassword': 'short', validityDays: '0' });
    await page.click('#profile-form button[type=submit]');
    await expectFieldError(page, '#profile-form', 'name', /required/);
    await expectFieldError(page, '#profile-form', 'brokerPort', /port number/);
    await expectFieldError(page, '#profile-form', 'esp32.bundlePath', /full path/);
    await expectFieldError(page, '#profile-form', 'esp32.wifiSsid', /1 to 32 characters/);
    await expectFieldError(page, '#profile-form', 'esp32.wifiPassword', /8 to 63 characters/);
    await expectFieldError(page, '#profile-form', 'validityDays', /from 1 to 36500/);
    // The Pi agent's settings: python, Modbus RTU readings, agent defaults.
    await page.locator('#profile-form [data-field="pi.modbusEnabled"]').check();
    await page.locator('[data-testid=pi-modbus]').getByRole('button', { name: 'Add a reading' }).click();
    await page.locator('#profile-form [data-field="pi.agentEnabled"]').check();
    await fill(page, '#profile-form', {
      'pi.python': 'python3',
      'pi.modbus.port': '',
      'pi.modbus.timeout_s': '0.01',
      'pi.modbus.slaves.0.slave': '300',
      'pi.modbus.slaves.0.scale': 'x',
      'pi.modbus.slaves.0.unit': '',
      'pi.agent.keepaliveSec': '1',
    });
    await page.click('#profile-form button[type=submit]');
    await expectFieldError(page, '#profile-form', 'pi.python', /full path on the Pi/);
    await expectFieldError(page, '#profile-form', 'pi.modbus.port', /required/);
    await expectFieldError(page, '#profile-form', 'pi.modbus.timeout_s', /number from 0.05 to 30/);
    await expectFieldError(page, '#profile-form', 'pi.modbus.slaves.0.slave', /from 1 to 247/);
    await expectFieldError(page, '#profile-form', 'pi.modbus.slaves.0.scale', /number from -1000000000 to 1000000000/);
    await expectFieldError(page, '#profile-form', 'pi.modbus.slaves.0.unit', /required/);
    await expectFieldError(page, '#profile-form', 'pi.agent.keepaliveSec', /from 5 to 3600/);
    // The ESP32's Modbus readings: the same reading fields (one form component), the firmware's limits,
    // and the devices a gateway takes (qte_max_dispositivos).
    await page.locator('#profile-form [data-field="esp32.modbusEnabled"]').check();
    const espModbus = page.locator('[data-testid=esp32-modbus]');
    expect(await espModbus.locator('[data-field="esp32.modbus.maxDevices"]').inputValue()).toBe('8');
    expect(await espModbus.locator('[data-field="esp32.modbus.port"]').count()).toBe(0);
    await espModbus.getByRole('button', { name: 'Add a reading' }).click();
    await espModbus.getByRole('button', { name: 'Add a reading' }).click();
    await fill(page, '#profile-form', {
      'esp32.modbus.baudrate': '4000000',
      'esp32.modbus.timeout_s': '9',
      'esp32.modbus.maxDevices': '1',
      'esp32.modbus.slaves.0.unit': 'kWh',
      'esp32.modbus.slaves.0.interval': '0.5',
      'esp32.modbus.slaves.1.slave': '2',
      'esp32.modbus.slaves.1.register': '30',
      'esp32.modbus.slaves.1.unit': 'V',
    });
    await page.click('#profile-form button[type=submit]');
    await expectFieldError(page, '#profile-form', 'esp32.modbus.baudrate', /from 1200 to 115200/);
    await expectFieldError(page, '#profile-form', 'esp32.modbus.timeout_s', /number from 0.05 to 5/);
    await expectFieldError(page, '#profile-form', 'esp32.modbus.slaves.0.interval', /number from 1 to 86400/);
    await fill(page, '#profile-form', { 'esp32.modbus.baudrate': '19200', 'esp32.modbus.timeout_s': '0.5', 'esp32.modbus.slaves.0.interval': '5' });
    await page.click('#profile-form button[type=submit]');
    await expectFieldError(page, '#profile-form', 'esp32.modbus.maxDevices', /more devices \(slave addresses\) than this/);
    await fill(page, '#profile-form', { 'esp32.modbus.maxDevices': '2' });
    await fill(page, '#profile-form', {
      'pi.python': '/usr/local/bin/python3',
      'pi.modbus.port': '/dev/ttyAMA0',
      'pi.modbus.timeout_s': '0.5',
      'pi.modbus.slaves.0.slave': '7',
      'pi.modbus.slaves.0.register': '100',
      'pi.modbus.slaves.0.scale': '0.1',
      'pi.modbus.slaves.0.unit': '°C',
      'pi.agent.keepaliveSec': '15',
    });
    await fill(page, '#profile-form', { name: 'line-a', brokerPort: String((await invoke(station, 'settings.get')).broker.port), 'esp32.bundlePath': '/nonexistent/bundle', 'esp32.wifiSsid': 'fabrica', 'esp32.wifiPassword': 'senha-segura-1', validityDays: '' });
    await page.getByRole('button', { name: 'Check bundle' }).click();
    await page.locator('#profile-form [role=alert]', { hasText: 'does not exist' }).waitFor();
    await fill(page, '#profile-form', { 'esp32.bundlePath': BUNDLE_DIR });
    await page.getByRole('button', { name: 'Check bundle' }).click();
    await page.locator('#profile-form [role=status]', { hasText: 'ESP32' }).waitFor();
    // The flashing speed is never typed: "Automatic" or a cap from the station's ladder rates.
    const speed = page.locator('#profile-form [data-field="esp32.maxBaud"]');
    expect(await speed.inputValue()).toBe('');
    expect(await speed.locator('option').allTextContents()).toEqual(['Automatic', '2,000,000 baud', '921,600 baud', '460,800 baud', '230,400 baud', '115,200 baud']);
    await speed.selectOption('921600');
    await screenshot(page, 'settings', shots.path, { fullPage: true });
    await page.click('#profile-form button[type=submit]');
    await page.locator('[data-testid=profile-item]', { hasText: 'line-a' }).waitFor();
    expect((await invoke(station, 'profiles.list')).find((p) => p.name === 'line-a')?.esp32?.maxBaud).toBe(921600);
  }, 90_000);

  it('log filters, CSV import and the field form refuse bad input too', async () => {
    const { page } = b;
    await goTo(page, 'log');
    await fill(page, '#log-filters', { mac: 'aa:bb:zz', serial: 'xyz!' });
    await page.click('#log-filters button[type=submit]');
    await expectFieldError(page, '#log-filters', 'mac', /part of a MAC address/);
    await expectFieldError(page, '#log-filters', 'serial', /hexadecimal/);

    await goTo(page, 'gateways');
    await page.getByRole('button', { name: 'Import CSV…' }).click();
    await fill(page, '#import-form', { csv: 'mac,code\n1,2' });
    await page.click('#import-form button[type=submit]');
    await expectFieldError(page, '#import-form', 'csv', /header line mac_address,codigo,nome/);
    // A row the server refuses comes back with its line and reason; nothing is imported.
    await fill(page, '#import-form', { csv: 'mac_address,codigo,nome\n24:6f:28:11:22:33,GW-A,Linha A\nff:ff:ff:ff:ff:ff,GW-B,Linha B\n' });
    await page.click('#import-form button[type=submit]');
    await page.locator('dialog[open] [role=status]', { hasText: '0 created' }).waitFor({ timeout: 15_000 });
    expect(await page.locator('dialog[open] tr.row--bad').count()).toBeGreaterThan(0);
    await fill(page, '#import-form', { csv: 'mac_address,codigo,nome\n24:6f:28:11:22:33,GW-A,Linha A\n24:6f:28:11:22:34,GW-B,Linha B\n' });
    await page.click('#import-form button[type=submit]');
    await page.locator('dialog[open] [role=status]', { hasText: '2 created' }).waitFor({ timeout: 15_000 });
    await page.keyboard.press('Escape');
    await page.getByRole('button', { name: 'Refresh' }).click();
    await expect.poll(() => page.locator('[data-testid=gw-table] tbody tr').count()).toBe(2);
  });

  it('switches language (Settings, and the browser’s language in "auto")', async () => {
    const { page } = b;
    await settingsTab(page, 'general');
    await page.selectOption('#general-form [data-field=language]', 'pt-BR');
    await page.click('#general-form button[type=submit]');
    await page.locator('[data-screen=bench]', { hasText: 'Bancada' }).waitFor();
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('pt-BR');
    await goTo(page, 'bench');
    await page.getByRole('heading', { name: 'Bancada' }).waitFor();
    await screenshot(page, 'bench-pt-BR', shots.path);
    // Validation messages follow the language too.
    await goTo(page, 'field');
    await fill(page, '#add-host', { host: '' });
    await page.click('#add-host button[type=submit]');
    await expectFieldError(page, '#add-host', 'host', /Este campo é obrigatório/);

    await settingsTab(page, 'general');
    await page.selectOption('#general-form [data-field=language]', 'auto');
    await page.click('#general-form button[type=submit]');
    await page.locator('[data-screen=bench]', { hasText: 'Bench' }).waitFor();
    const pt = await launchBrowser({ locale: 'pt-BR' });
    try {
      await pt.page.goto(station.url);
      await pt.page.locator('[data-screen=settings]', { hasText: 'Configurações' }).waitFor();
    } finally {
      await pt.close();
    }
  });

  it('keeps settings, profiles and the bundled server across a restart', async () => {
    await station.close();
    station = await start();
    const { page } = b;
    await page.goto(station.url);
    await page.locator('.shell').waitFor();
    await page.locator('.statusbar', { hasText: 'Operator: Rita Alves' }).waitFor();
    await page.locator('.statusbar', { hasText: 'Broker monitor: connected' }).waitFor({ timeout: 30_000 });
    await settingsTab(page, 'profiles');
    await page.locator('[data-testid=profile-item]', { hasText: 'line-a' }).waitFor();
    await page.locator('[data-testid=profile-item]', { hasText: 'line-a' }).getByRole('button', { name: 'Edit' }).click();
    expect(await page.locator('#profile-form [data-field="esp32.wifiPassword"]').getAttribute('aria-describedby')).toBeTruthy();
    await page.locator('#profile-form', { hasText: 'A password is stored' }).waitFor();
    const value = (name: string) => page.locator(`#profile-form [data-field="${name}"]`).inputValue();
    expect(await value('pi.python')).toBe('/usr/local/bin/python3');
    expect(await value('pi.modbus.port')).toBe('/dev/ttyAMA0');
    expect(await value('pi.modbus.slaves.0.register')).toBe('100');
    expect(await value('pi.modbus.slaves.0.unit')).toBe('°C');
    expect(await value('pi.agent.keepaliveSec')).toBe('15');
    expect(await value('esp32.modbus.maxDevices')).toBe('2');
    expect(await value('esp32.modbus.slaves.1.unit')).toBe('V');
    expect((await invoke(station, 'profiles.list')).find((p) => p.name === 'line-a')?.esp32?.modbus).toEqual({
      baudrate: 19200,
      parity: 'N',
      stopbits: 1,
      timeout_s: 0.5,
      maxDevices: 2,
      slaves: [
        { slave: 1, register: 0, unit: 'kWh', scale: 1, interval: 5, function: 'holding', count: 1, signed: false },
        { slave: 2, register: 30, unit: 'V', scale: 1, interval: 60, function: 'holding', count: 1, signed: false },
      ],
    });
    expect((await invoke(station, 'profiles.list')).find((p) => p.name === 'line-a')?.pi).toMatchObject({
      python: '/usr/local/bin/python3',
      modbus: { port: '/dev/ttyAMA0', timeout_s: 0.5, slaves: [{ slave: 7, register: 100, scale: 0.1, unit: '°C', interval: 60, function: 'holding', count: 1, signed: false }] },
      agent: { keepaliveSec: 15, bufferMaxMessages: 10_000, renewBeforeDays: 30 },
    });
    await goTo(page, 'gateways');
    await expect.poll(() => page.locator('[data-testid=gw-table] tbody tr').count()).toBe(2);
  }, 60_000);
});
