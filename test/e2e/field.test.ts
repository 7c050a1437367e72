import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebStation } from '../../src/main/web/web-station.js';
import { stopAgent } from '../pi/helpers.js';
import { SimDeviceSource } from '../sim/esp32/sim-device-source.js';
import { startBackend, type Backend } from '../support/backend.js';
import { makeSshKeyPair, startSshd, type RunningSshd } from '../support/sshd.js';
import { tempDir } from '../support/temp.js';
import { launchBrowser, screenshot, type TestBrowser } from './support/browser.js';
import { configureRemote, createProfile, startTestStation } from './support/station.js';
import { expectFieldError, fill, goTo } from './support/ui.js';

// The field installer's path: a "Pi" that is Debian's OpenSSH server on loopback running as the
// current user (key login, install prefix, no service manager), found by address, credentials,
// host-key confirmation, the SSH steps, and the agent online on Mosquitto.
describe('E2E: field provisioning of the OpenSSH "Pi" (web mode, Chromium)', () => {
  const tmp = tempDir('tds-e2e-field-');
  const shots = tempDir('tds-e2e-shots-');
  const prefix = path.join(tmp.path, 'pi-root');
  const me = userInfo().username;
  let backend: Backend;
  let sshd: RunningSshd;
  let station: WebStation;
  let b: TestBrowser;
  let keyPem: string;

  beforeAll(async () => {
    [backend, sshd] = await Promise.all([startBackend({ broker: 'mosquitto', monitorName: 'e2e-field' }), startSshd()]);
    const key = makeSshKeyPair(tmp.path, 'installer');
    sshd.authorize(me, key.publicKey);
    keyPem = readFileSync(key.privateKeyFile, 'utf8');
    station = await startTestStation({ dataDir: path.join(tmp.path, 'station'), deviceSource: new SimDeviceSource() });
    b = await launchBrowser();
    await b.page.goto(station.url);
    await configureRemote(b.page, backend, 'Carlos Lima');
    await createProfile(b.page, backend, { name: 'field', pi: { installPrefix: prefix, serviceManager: 'none' } });
  }, 180_000);

  afterAll(async () => {
    await b?.close();
    await station?.close();
    await stopAgent(prefix);
    await sshd?.stop();
    await backend?.stop();
    tmp.remove();
    shots.remove();
  });

  it('adds the Pi by address, refusing a bad address or port with a clear message', async () => {
    const { page } = b;
    await goTo(page, 'field');
    await fill(page, '#add-host', { host: 'pi..local', port: '0' });
    await page.click('#add-host button[type=submit]');
    await expectFieldError(page, '#add-host', 'host', /host name or IP address/);
    await expectFieldError(page, '#add-host', 'port', /port number from 1 to 65535/);
    await fill(page, '#add-host', { host: sshd.host, port: String(sshd.port), name: 'Pump house Pi' });
    await page.click('#add-host button[type=submit]');
    await page.locator('[data-testid=pi-target]', { hasText: 'Pump house Pi' }).waitFor();
  });

  it('provisions it: credentials, host-key confirmation, SSH steps, online', async () => {
    const { page } = b;
    await page.locator('[data-testid=pi-target]', { hasText: 'Pump house Pi' }).getByRole('button', { name: 'Provision…' }).click();
    const dialog = page.locator('dialog[open]');
    await fill(page, 'dialog[open]', { username: 'bad user' });
    await page.selectOption('dialog[open] [data-field="auth.method"]', 'key');
    await fill(page, 'dialog[open]', { 'auth.privateKeyPem': 'not a key' });
    await dialog.getByRole('button', { name: 'Start' }).click();
    await expectFieldError(page, 'dialog[open]', 'username', /user name/);
    await expectFieldError(page, 'dialog[open]', 'auth.privateKeyPem', /PEM/);
    await fill(page, 'dialog[open]', { username: me, 'auth.privateKeyPem': keyPem });
    await screenshot(page, 'field-credentials', shots.path);
    await dialog.getByRole('button', { name: 'Start' }).click();

    const job = page.locator('[data-testid=pi-job]');
    await job.getByText('Confirm the host key').waitFor({ timeout: 30_000 });
    // The fingerprint shown is the one sshd's host key really has.
    expect(await job.textContent()).toContain(sshd.hostKeyFingerprint);
    await screenshot(page, 'field-host-key', shots.path);
    await job.getByRole('button', { name: 'Accept and continue' }).click();
    await expect.poll(() => job.getAttribute('data-state'), { timeout: 120_000, interval: 500 }).toMatch(/succeeded|failed/);
    if ((await job.getAttribute('data-state')) !== 'succeeded') console.error(await job.textContent());
    expect(await job.getAttribute('data-state')).toBe('succeeded');
    await job.locator('summary', { hasText: 'SSH step log' }).click();
    expect(await job.locator('pre.console').textContent()).toMatch(/install/i);
    await screenshot(page, 'field', shots.path, { fullPage: true });

    const snap = station.station.hub.list().find((j) => j.kind === 'pi')!;
    expect(snap.mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    const gw = (await backend.server.client('operator').listGateways({ mac: snap.mac! })).results[0];
    expect(gw?.active_certificate?.serial_number).toBe(snap.certificateSerial);
    expect(station.station.monitor.status().online).toContain(snap.mac);
    // The key was made on the "Pi" and stays there: the certificate files exist under the prefix.
    expect(readFileSync(path.join(prefix, 'etc/gateway-iot/certs/client.crt'), 'utf8')).toContain('BEGIN CERTIFICATE');
  }, 180_000);
});
