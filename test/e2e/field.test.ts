import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, realpathSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebStation } from '../../src/main/web/web-station.js';
import { crlVerdict, normSerial, stopAgent } from '../pi/helpers.js';
import { startBackend, type Backend } from '../support/backend.js';
import { createTestUser, makeSshKeyPair, startSshd, type RunningSshd, type TestUser } from '../support/sshd.js';
import { tempDir } from '../support/temp.js';
import { isRoot } from '../support/tools.js';
import { launchBrowser, screenshot, type TestBrowser } from './support/browser.js';
import { configureRemote, createProfile, invoke, startTestStation } from './support/station.js';
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
  // A second login with a password and a sudo that asks for it (needs root to create the user).
  const testUser: TestUser | undefined = isRoot() ? createTestUser() : undefined;
  if (!testUser) console.warn('[e2e field] the sudo-password case is skipped: creating a test user with a password needs root');

  beforeAll(async () => {
    // The agent may run as the test user: it must reach the install prefix inside.
    execFileSync('chmod', ['755', tmp.path]);
    [backend, sshd] = await Promise.all([startBackend({ broker: 'mosquitto', monitorName: 'e2e-field' }), startSshd({ allowUsers: [me, ...(testUser ? [testUser.name] : [])] })]);
    const key = makeSshKeyPair(tmp.path, 'installer');
    sshd.authorize(me, key.publicKey);
    keyPem = readFileSync(key.privateKeyFile, 'utf8');
    station = await startTestStation({ dataDir: path.join(tmp.path, 'station') });
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
    testUser?.remove();
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

    const snap = (await invoke(station, 'jobs.list')).find((j) => j.kind === 'pi')!;
    expect(snap.mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    const gw = (await backend.server.client('operator').listGateways({ mac: snap.mac! })).results[0];
    expect(gw?.active_certificate?.serial_number).toBe(snap.certificateSerial);
    expect((await invoke(station, 'monitor.status')).online).toContain(snap.mac);
    // The key was made on the "Pi" and stays there: the certificate files exist under the prefix.
    expect(readFileSync(path.join(prefix, 'etc/gateway-iot/certs/client.crt'), 'utf8')).toContain('BEGIN CERTIFICATE');
  }, 180_000);

  it.skipIf(!testUser)('re-provisions as a user whose sudo asks for a password (a secret answer), with the profile’s Python, Modbus and agent settings; the old certificate is revoked only once online', async () => {
    const { page } = b;
    const user = testUser!;
    const first = (await invoke(station, 'jobs.list')).find((j) => j.kind === 'pi' && j.state === 'succeeded')!;
    const oldCert = readFileSync(path.join(prefix, 'etc/gateway-iot/certs/client.crt'), 'utf8');
    // The profile now names its Python and has Modbus readings and agent settings: they reach the Pi.
    const python = realpathSync('/usr/bin/python3');
    const profile = (await invoke(station, 'profiles.list')).find((p) => p.name === 'field')!;
    await invoke(station, 'profiles.save', {
      previousName: 'field',
      profile: {
        ...profile,
        pi: {
          ...profile.pi!,
          python,
          modbus: { port: '/dev/ttyTDS-none', baudrate: 19200, parity: 'E', bytesize: 8, stopbits: 1, timeout_s: 0.5, slaves: [{ slave: 3, register: 40, unit: 'bar', scale: 0.01, interval: 30, function: 'input', count: 2, signed: true }] },
          agent: { keepaliveSec: 20, bufferMaxMessages: 5000, renewBeforeDays: 45 },
        },
      },
    });
    // Every frame between the browser and the station from here on.
    const fromStation: string[] = [];
    const toStation: string[] = [];
    page.on('websocket', (ws) => {
      ws.on('framereceived', (f) => fromStation.push(String(f.payload)));
      ws.on('framesent', (f) => toStation.push(String(f.payload)));
    });
    await page.reload();
    await goTo(page, 'field');
    await page.locator('[data-testid=pi-target]', { hasText: 'Pump house Pi' }).getByRole('button', { name: 'Provision…' }).click();
    const dialog = page.locator('dialog[open]');
    await fill(page, 'dialog[open]', { username: user.name });
    await page.selectOption('dialog[open] [data-field="auth.method"]', 'password');
    await fill(page, 'dialog[open]', { 'auth.password': user.password });
    await dialog.getByRole('button', { name: 'Start' }).click();

    await expect.poll(async () => (await invoke(station, 'jobs.list')).filter((j) => j.kind === 'pi').length, { timeout: 10_000 }).toBe(2);
    const jobId = (await invoke(station, 'jobs.list')).find((j) => j.kind === 'pi' && j.id !== first.id)!.id;
    const job = page.locator(`[data-testid=pi-job][data-job-id="${jobId}"]`);
    // sudo asks: a masked field in the job's question, sent beside the choice.
    await job.getByText('sudo password needed').waitFor({ timeout: 60_000 });
    const secretInput = job.locator('input[name=secret]');
    expect(await secretInput.getAttribute('type')).toBe('password');
    await screenshot(page, 'field-sudo', shots.path);
    await secretInput.fill(user.password);
    await job.getByRole('button', { name: 'Send' }).click();
    // The MAC already has a certificate (the first test): replace it.
    await job.getByText('This MAC is already provisioned').waitFor({ timeout: 60_000 });
    await job.getByRole('button', { name: /^Replace/ }).click();
    await expect.poll(() => job.getAttribute('data-state'), { timeout: 120_000, interval: 500 }).toMatch(/succeeded|failed/);
    if ((await job.getAttribute('data-state')) !== 'succeeded') console.error(await job.textContent());
    expect(await job.getAttribute('data-state')).toBe('succeeded');

    // The sudo password went to the station once, in the answer; nothing the station sent back
    // (snapshots, job log lines, events) has it, nor does anything in its data folder.
    const answers = toStation.filter((f) => f.includes('"jobs.answer"') && f.includes(user.password));
    expect(answers).toHaveLength(1);
    expect(JSON.parse(answers[0]!).p).toMatchObject({ choice: 'submit', secret: user.password });
    expect(fromStation.length).toBeGreaterThan(10);
    expect(fromStation.some((f) => f.includes('"job.log"'))).toBe(true);
    expect(fromStation.join('\n')).not.toContain(user.password);
    const dataDir = path.join(tmp.path, 'station');
    for (const f of readdirSync(dataDir).filter((n) => /^(station-log\.sqlite|settings\.json|secrets\.json|jobs-in-flight\.json)/.test(n))) {
      expect(readFileSync(path.join(dataDir, f)).includes(Buffer.from(user.password)), f).toBe(false);
    }

    // A new identity for the same gateway; the old certificate was superseded after the Pi came online.
    const snap = (await invoke(station, 'jobs.list')).find((j) => j.id === jobId)!;
    expect(snap.gatewayId).toBe(first.gatewayId);
    expect(normSerial(snap.certificateSerial!)).not.toBe(normSerial(first.certificateSerial!));
    const client = backend.server.client('operator');
    const detail = await client.getGateway(snap.gatewayId!);
    expect(detail.active_certificate?.serial_number).toBe(snap.certificateSerial);
    const old = detail.certificados.find((c) => c.serial_number === first.certificateSerial);
    expect(old).toMatchObject({ is_revoked: true, revoke_reason: expect.stringMatching(/^superseded/) });
    const online = snap.steps.find((st) => st.name === 'online')!;
    // (the server records whole seconds)
    expect(Date.parse(old!.revoked_at!)).toBeGreaterThanOrEqual(Math.floor(Date.parse(online.startedAt!) / 1000) * 1000);
    expect(crlVerdict(oldCert, backend.server.caPem, await client.getCrlPem())).toBe('revoked');

    const config = JSON.parse(readFileSync(path.join(prefix, 'etc/gateway-iot/config.json'), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({
      modbus: { port: '/dev/ttyTDS-none', baudrate: 19200, parity: 'E', timeout_s: 0.5, slaves: [{ slave: 3, register: 40, unit: 'bar', scale: 0.01, interval: 30, function: 'input', count: 2, signed: true }] },
      mqtt: { host: backend.broker.host, port: backend.broker.port, keepalive: 20 },
      buffer: { max_messages: 5000 },
      renewal: { renew_before_days: 45 },
    });
    expect(readFileSync(path.join(prefix, 'etc/systemd/system/gateway-mqtt.service'), 'utf8')).toContain(`ExecStart=${python} /opt/gateway-iot/mqtt_client.py`);
  }, 240_000);
});
