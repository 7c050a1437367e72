import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebStation } from '../../src/main/web/web-station.js';
import { crlVerdict, normSerial, startTcpRelay, stopAgent, type TcpRelay } from '../pi/helpers.js';
import { startBackend, type Backend } from '../support/backend.js';
import { freePort } from '../support/ports.js';
import { createTestUser, makeSshKeyPair, startSshd, type RunningSshd, type TestUser } from '../support/sshd.js';
import { tempDir } from '../support/temp.js';
import { isRoot } from '../support/tools.js';
import { launchBrowser, screenshot, type TestBrowser } from './support/browser.js';
import { configureRemote, createProfile, invoke, startTestStation } from './support/station.js';
import { expectFieldError, fill, goTo, settingsTab } from './support/ui.js';

// The field installer's path: a "Pi" that is Debian's OpenSSH server on loopback running as the
// current user (key file login, install prefix, no service manager): found by address, checked
// without changes, provisioned with the login remembered, online on Mosquitto; a Pi that does not
// answer yet; a re-imaged Pi whose pinned key is forgotten; the same in Portuguese.
describe('E2E: the Field screen with an OpenSSH "Pi" (web mode, Chromium)', () => {
  const tmp = tempDir('tds-e2e-field-');
  const shots = tempDir('tds-e2e-shots-');
  const prefix = path.join(tmp.path, 'pi-root');
  const me = userInfo().username;
  let backend: Backend;
  let sshd: RunningSshd;
  let reimaged: RunningSshd;
  let relay: TcpRelay | undefined;
  let bootPort: number;
  let station: WebStation;
  let b: TestBrowser;
  let keyFile: string;
  let keyPem: string;
  const nativeDialogs: string[] = [];
  // A second login with a password and a sudo that asks for it (needs root to create the user).
  const testUser: TestUser | undefined = isRoot() ? createTestUser() : undefined;
  if (!testUser) console.warn('[e2e field] the sudo-password case is skipped: creating a test user with a password needs root');

  beforeAll(async () => {
    // The agent may run as the test user: it must reach the install prefix inside.
    execFileSync('chmod', ['755', tmp.path]);
    const users = [me, ...(testUser ? [testUser.name] : [])];
    [backend, sshd, reimaged] = await Promise.all([startBackend({ broker: 'mosquitto', monitorName: 'e2e-field' }), startSshd({ allowUsers: users }), startSshd()]);
    const key = makeSshKeyPair(tmp.path, 'installer');
    keyFile = key.privateKeyFile;
    keyPem = readFileSync(keyFile, 'utf8');
    sshd.authorize(me, key.publicKey);
    reimaged.authorize(me, key.publicKey);
    bootPort = await freePort();
    station = await startTestStation({ dataDir: path.join(tmp.path, 'station') });
    b = await launchBrowser();
    // The station never uses the browser's own confirm()/alert(): any would be recorded here.
    b.page.on('dialog', (d) => {
      nativeDialogs.push(`${d.type()}: ${d.message()}`);
      void d.dismiss();
    });
    await b.page.goto(station.url);
    await configureRemote(b.page, backend, 'Carlos Lima');
    await createProfile(b.page, backend, { name: 'field', pi: { installPrefix: prefix, serviceManager: 'none' } });
  }, 180_000);

  afterAll(async () => {
    await b?.close();
    await station?.close();
    await stopAgent(prefix);
    await relay?.close();
    await sshd?.stop();
    await reimaged?.stop();
    await backend?.stop();
    testUser?.remove();
    tmp.remove();
    shots.remove();
  });

  const target = (name: string): Locator => b.page.locator('[data-testid=pi-target]', { hasText: name });
  async function finished(job: Locator, timeout = 120_000): Promise<string> {
    await expect.poll(() => job.getAttribute('data-state'), { timeout, interval: 300 }).toMatch(/succeeded|failed|skipped|cancelled/);
    return (await job.getAttribute('data-state'))!;
  }
  /** The card of the job `start` starts (the station's job list says which job is new). */
  async function newJob(page: Page, kind: 'pi' | 'pi-probe', start: () => Promise<void>): Promise<Locator> {
    const before = new Set((await invoke(station, 'jobs.list')).map((j) => j.id));
    await start();
    let id: string | undefined;
    await expect
      .poll(async () => (id = (await invoke(station, 'jobs.list')).find((j) => j.kind === kind && !before.has(j.id))?.id), { timeout: 30_000 })
      .toBeDefined()
      .catch(async (err: unknown) => {
        // Say what the page showed instead of a job (an error in the dialog, a refused field).
        const shown = await page.locator('dialog[open]').innerText().catch(() => '(no dialog open)');
        throw new Error(`no ${kind} job started; the page shows: ${shown}`, { cause: err });
      });
    const card = page.locator(`[data-testid=pi-job][data-job-id="${id!}"]`);
    await card.waitFor();
    return card;
  }

  it('adds the Pi by address, refusing a bad address or port with a clear message', async () => {
    const { page } = b;
    await goTo(page, 'field');
    await fill(page, '#add-host', { host: 'pi..local', port: '0' });
    await page.click('#add-host button[type=submit]');
    await expectFieldError(page, '#add-host', 'host', /host name or IP address/);
    await expectFieldError(page, '#add-host', 'port', /port number from 1 to 65535/);
    await fill(page, '#add-host', { host: sshd.host, port: String(sshd.port), name: 'Pump house Pi' });
    await page.click('#add-host button[type=submit]');
    await target('Pump house Pi').waitFor();
  });

  it('checks the Pi without provisioning it: key file login, the host-key question focused and in view, its findings in words', async () => {
    const { page } = b;
    // A small window: the question appears below the list and must come into view by itself.
    await page.setViewportSize({ width: 1024, height: 700 });
    const job = await newJob(page, 'pi-probe', async () => {
      await page.getByRole('button', { name: 'Check Pump house Pi without changing it' }).click();
      const dialog = page.locator('dialog[open]');
      // What is sent where, said plainly; nothing of it kept.
      expect(await dialog.getByTestId('creds-notice').textContent()).toMatch(/A key stays on this station: the Pi only sees a signature made with it\..*None of them is stored/);
      await fill(page, 'dialog[open]', { username: me });
      await page.selectOption('dialog[open] [data-field="auth.method"]', 'keyFile');
      await fill(page, 'dialog[open]', { 'auth.path': path.join(tmp.path, 'no-such-key') });
      await dialog.getByRole('button', { name: 'Check', exact: true }).click();
      await expectFieldError(page, 'dialog[open]', 'auth.path', /no readable file at this path/);
      await fill(page, 'dialog[open]', { 'auth.path': keyFile });
      await dialog.getByRole('button', { name: 'Check', exact: true }).click();
    });
    const question = job.locator('[data-question-kind]');
    await question.waitFor({ timeout: 30_000 });
    await expect.poll(() => page.evaluate(() => !!document.activeElement?.closest('[data-question-kind]'))).toBe(true);
    const box = (await question.boundingBox())!;
    expect(box.y).toBeGreaterThanOrEqual(0);
    expect(box.y + Math.min(box.height, 200)).toBeLessThanOrEqual(700);
    // The fingerprint shown is sshd's real one, under words, not field names.
    expect(await question.textContent()).toContain(sshd.hostKeyFingerprint);
    expect(await question.locator('dt').allTextContents()).toEqual(['Host', 'Key type', 'Fingerprint']);
    await screenshot(page, 'field-host-key', shots.path);
    // The operator compares for a while: that time is kept apart from the step's working time.
    await page.waitForTimeout(2_000);
    await question.getByRole('button', { name: 'Accept and continue' }).click();
    expect(await finished(job)).toBe('succeeded');
    const facts = job.getByTestId('probe-facts');
    expect(await facts.locator('[data-fact=model] dd').textContent()).toBe('not a Raspberry Pi');
    expect(await facts.locator('[data-fact=agent] dd').textContent()).toBe('not installed');
    expect(await facts.locator('[data-fact=python] dd').textContent()).toMatch(/^3\.\d+/);
    expect(await job.locator('.step__detail').first().textContent()).toMatch(new RegExp(`^Connected as ${me}@`));
    // Nothing was installed on the "Pi"; its entry now shows its MAC and pinned host key.
    expect(existsSync(path.join(prefix, 'etc'))).toBe(false);
    expect(await target('Pump house Pi').getByTestId('target-host-key').textContent()).toContain(sshd.hostKeyFingerprint);
    await page.setViewportSize({ width: 1360, height: 900 });
  }, 120_000);

  it('provisions it with the login remembered; the Pi is online after provisioning', async () => {
    const { page } = b;
    const job = await newJob(page, 'pi', async () => {
      await page.getByRole('button', { name: 'Provision Pump house Pi' }).click();
      const dialog = page.locator('dialog[open]');
      // Remembered from the check: the user, the sign-in method and the key file's path (no secret).
      expect(await dialog.locator('[data-field=username]').inputValue()).toBe(me);
      expect(await dialog.locator('[data-field="auth.method"]').inputValue()).toBe('keyFile');
      expect(await dialog.locator('[data-field="auth.path"]').inputValue()).toBe(keyFile);
      // Bad input is refused per field.
      await fill(page, 'dialog[open]', { username: 'bad user' });
      await page.selectOption('dialog[open] [data-field="auth.method"]', 'key');
      await fill(page, 'dialog[open]', { 'auth.privateKeyPem': 'not a key' });
      await dialog.getByRole('button', { name: 'Start' }).click();
      await expectFieldError(page, 'dialog[open]', 'username', /user name/);
      await expectFieldError(page, 'dialog[open]', 'auth.privateKeyPem', /PEM/);
      await fill(page, 'dialog[open]', { username: me, 'auth.privateKeyPem': keyPem });
      await screenshot(page, 'field-credentials', shots.path);
      await dialog.getByRole('button', { name: 'Start' }).click();
    });
    // The focus is back on the button that opened the dialog.
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Provision Pump house Pi');
    // The host key was pinned by the check: no question this time.
    expect(await finished(job)).toBe('succeeded');
    await job.locator('summary', { hasText: 'SSH step log' }).click();
    expect(await job.locator('pre.console').textContent()).toMatch(/install/i);
    const online = job.getByTestId('pi-online');
    await expect.poll(() => online.getAttribute('data-online'), { timeout: 30_000 }).toBe('true');
    expect(await online.textContent()).toContain('The Pi is online on the broker.');
    await expect.poll(() => target('Pump house Pi').getAttribute('data-online')).toBe('online');
    // The Pi is now among the recent ones the address field offers, with the user it was reached as.
    await expect.poll(() => page.locator('#add-host datalist option').evaluateAll((os) => os.map((o) => `${(o as HTMLOptionElement).value} ${o.textContent}`))).toContain(`${sshd.host} ${me}@${sshd.host}:${sshd.port}`);
    await screenshot(page, 'field', shots.path, { fullPage: true });

    const snap = (await invoke(station, 'jobs.list')).find((j) => j.kind === 'pi' && j.state === 'succeeded')!;
    expect(snap.mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    const gw = (await backend.server.client('operator').listGateways({ mac: snap.mac! })).results[0];
    expect(gw?.active_certificate?.serial_number).toBe(snap.certificateSerial);
    expect((await invoke(station, 'monitor.status')).online).toContain(snap.mac);
    expect(readFileSync(path.join(prefix, 'etc/gateway-iot/certs/client.crt'), 'utf8')).toContain('BEGIN CERTIFICATE');
    // The station's data folder holds the key file's path, never the key (pasted this time) itself.
    const dataDir = path.join(tmp.path, 'station');
    const keyBody = keyPem.split('\n')[1]!;
    for (const f of readdirSync(dataDir).filter((n) => /\.(json|sqlite)$/.test(n))) expect(readFileSync(path.join(dataDir, f)).includes(keyBody), f).toBe(false);
    expect(readFileSync(path.join(dataDir, 'settings.json'), 'utf8')).toContain(keyFile);
  }, 180_000);

  it('a re-provision stopped at "already provisioned" ends as skipped, not failed, and changes nothing', async () => {
    const { page } = b;
    const serialBefore = readFileSync(path.join(prefix, 'etc/gateway-iot/certs/client.crt'), 'utf8');
    const job = await newJob(page, 'pi', async () => {
      await page.getByRole('button', { name: 'Provision Pump house Pi' }).click();
      await page.selectOption('dialog[open] [data-field="auth.method"]', 'keyFile');
      await page.locator('dialog[open]').getByRole('button', { name: 'Start' }).click();
    });
    const question = job.locator('[data-question-kind]');
    await question.getByText('This MAC is already provisioned').waitFor({ timeout: 60_000 });
    expect(await question.locator('dt').allTextContents()).toEqual(expect.arrayContaining(['MAC', 'Certificate', 'Valid until']));
    await question.getByRole('button', { name: 'Stop' }).click();
    expect(await finished(job)).toBe('skipped');
    expect(await job.locator('.badge').textContent()).toBe('Stopped, nothing changed');
    expect(await job.getByTestId('pi-skipped').textContent()).toMatch(/already has an active certificate .*; stopped without changing anything\./);
    expect(await job.locator('.job-error').count()).toBe(0);
    expect(readFileSync(path.join(prefix, 'etc/gateway-iot/certs/client.crt'), 'utf8')).toBe(serialBefore);
  }, 120_000);

  it('a Pi that does not answer is tried again with pauses, or waited for while it boots', async () => {
    const { page } = b;
    await fill(page, '#add-host', { host: '127.0.0.1', port: String(bootPort), name: 'Boot Pi' });
    await page.click('#add-host button[type=submit]');
    await target('Boot Pi').waitFor();
    // Not waiting for a boot: a few tries over several seconds, then the reason and what was tried.
    const t0 = Date.now();
    const failed = await newJob(page, 'pi', async () => {
      await page.getByRole('button', { name: 'Provision Boot Pi' }).click();
      await page.locator('dialog[open]').getByRole('button', { name: 'Start' }).click();
    });
    await expect.poll(() => failed.locator('.step__detail').first().textContent(), { timeout: 10_000 }).toMatch(/trying again in/);
    expect(await finished(failed, 60_000)).toBe('failed');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(7_000);
    expect(await failed.locator('.job-error').textContent()).toMatch(new RegExp(`Cannot reach 127\\.0\\.0\\.1:${bootPort} over SSH \\(ECONNREFUSED\\), after 5 attempts over \\d+ s`));
    expect(await failed.getByRole('button', { name: 'Retry the job on Boot Pi' }).isVisible()).toBe(true);

    // Waiting for the boot: the job keeps trying until the "Pi" answers on that port.
    const waiting = await newJob(page, 'pi-probe', async () => {
      await page.getByRole('button', { name: 'Check Boot Pi without changing it' }).click();
      await page.locator('dialog[open] [data-field=waitForBoot]').check();
      await page.locator('dialog[open]').getByRole('button', { name: 'Check', exact: true }).click();
    });
    await expect.poll(() => waiting.locator('.step__detail').first().textContent(), { timeout: 15_000 }).toMatch(new RegExp(`^Waiting for 127\\.0\\.0\\.1:${bootPort} to boot`));
    await page.waitForTimeout(4_000);
    expect(await waiting.getAttribute('data-state')).toBe('running');
    relay = await startTcpRelay(sshd.port, '127.0.0.1', bootPort);
    await waiting.locator('[data-question-kind]').waitFor({ timeout: 30_000 });
    await waiting.getByRole('button', { name: 'Accept and continue' }).click();
    expect(await finished(waiting)).toBe('succeeded');
  }, 150_000);

  it('a re-imaged Pi is refused with a warning until its pinned key is forgotten, after an in-app confirmation', async () => {
    const { page } = b;
    relay!.retarget(reimaged.port);
    const refused = await newJob(page, 'pi-probe', async () => {
      await page.getByRole('button', { name: 'Check Boot Pi without changing it' }).click();
      await page.locator('dialog[open]').getByRole('button', { name: 'Check', exact: true }).click();
    });
    expect(await finished(refused)).toBe('failed');
    expect(await refused.locator('.job-error').textContent()).toMatch(/has CHANGED.*someone may be impersonating the Pi/);
    await refused.getByRole('button', { name: 'Forget the host key of Boot Pi' }).click();
    const confirm = page.locator('dialog[open][role=alertdialog]');
    expect(await confirm.textContent()).toContain(sshd.hostKeyFingerprint);
    await confirm.getByRole('button', { name: 'Forget the host key', exact: true }).click();
    const notice = page.getByTestId('field-notice');
    await notice.waitFor();
    expect(await notice.textContent()).toContain('Host key of Boot Pi forgotten');
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('field-notice');
    expect(await target('Boot Pi').getByTestId('target-host-key').count()).toBe(0);

    const again = await newJob(page, 'pi-probe', async () => {
      await page.getByRole('button', { name: 'Check Boot Pi without changing it' }).click();
      await page.locator('dialog[open]').getByRole('button', { name: 'Check', exact: true }).click();
    });
    const question = again.locator('[data-question-kind]');
    await question.waitFor({ timeout: 30_000 });
    expect(await question.textContent()).toContain(reimaged.hostKeyFingerprint);
    await question.getByRole('button', { name: 'Accept and continue' }).click();
    expect(await finished(again)).toBe('succeeded');
    expect(nativeDialogs).toEqual([]);
  }, 120_000);

  it('says it all in Portuguese: step details, questions, errors and hints', async () => {
    const { page } = b;
    try {
      await portuguese(page);
    } finally {
      await settingsTab(page, 'general');
      await page.selectOption('#general-form [data-field=language]', 'en');
      await page.click('#general-form button[type=submit]');
      await page.locator('[data-screen=field]', { hasText: 'Field' }).waitFor();
    }
  }, 90_000);

  async function portuguese(page: Page): Promise<void> {
    await settingsTab(page, 'general');
    await page.selectOption('#general-form [data-field=language]', 'pt-BR');
    await page.click('#general-form button[type=submit]');
    await page.locator('[data-screen=field]', { hasText: 'Campo' }).waitFor();
    await goTo(page, 'field');
    // The "Pi" answering at Boot Pi's address is the first one again, whose key is no longer pinned there.
    relay!.retarget(sshd.port);
    const changed = await newJob(page, 'pi-probe', async () => {
      await page.getByRole('button', { name: 'Verificar Boot Pi sem mudar nada' }).click();
      await page.locator('dialog[open]').getByRole('button', { name: 'Verificar', exact: true }).click();
    });
    expect(await finished(changed)).toBe('failed');
    expect(await changed.locator('.job-error').textContent()).toMatch(/A chave SSH do host 127\.0\.0\.1:\d+ MUDOU.*O que fazer: Se este Pi foi regravado/);
    const nobody = await freePort();
    await fill(page, '#add-host', { host: '127.0.0.1', port: String(nobody), name: 'Sem resposta' });
    await page.click('#add-host button[type=submit]');
    const unreachable = await newJob(page, 'pi-probe', async () => {
      await page.getByRole('button', { name: 'Verificar Sem resposta sem mudar nada' }).click();
      await page.locator('dialog[open] [data-field=waitForBoot]').uncheck();
      await page.locator('dialog[open]').getByRole('button', { name: 'Verificar', exact: true }).click();
    });
    await expect.poll(() => unreachable.locator('.step__detail').first().textContent(), { timeout: 10_000 }).toMatch(/nova tentativa em/);
    expect(await finished(unreachable, 60_000)).toBe('failed');
    expect(await unreachable.locator('.job-error').textContent()).toMatch(new RegExp(`Não foi possível alcançar 127\\.0\\.0\\.1:${nobody} por SSH \\(ECONNREFUSED\\), depois de 5 tentativas em \\d+ s`));
    // What a person reads on the cards (the SSH step log is the commands' own output, left as it is).
    const text = (
      await page.locator('[data-testid=pi-job]').evaluateAll((cards) =>
        cards.map((c) => {
          const copy = c.cloneNode(true) as HTMLElement;
          copy.querySelectorAll('pre, details').forEach((e) => e.remove());
          return copy.textContent ?? '';
        }),
      )
    ).join('\n');
    expect(text).toContain(`Conectado como ${me}@`);
    expect(text).toContain('Não é um Raspberry Pi');
    expect(text).not.toMatch(/Connected as|Cannot reach|not installed|host key/);
    await screenshot(page, 'field-pt-BR', shots.path, { fullPage: true });
  }

  it('the Log of this field day: devices not jobs, a stop apart from failures, waiting apart, the host-key event, filters and the job’s own log', async () => {
    const { page } = b;
    await page.setViewportSize({ width: 1024, height: 700 });
    await goTo(page, 'log');
    // One Pi provisioned (provisioned, then a stopped re-provision) and one that never answered.
    await expect.poll(() => page.getByTestId('today-provisioned').textContent(), { timeout: 10_000 }).toBe('1');
    expect(await page.getByTestId('today-failed').textContent()).toBe('1');
    const rows = page.locator('[data-testid=log-table] tbody tr');
    expect(await page.locator('[data-testid=log-table] tbody tr[data-result=skipped]').count()).toBe(1);
    expect(await page.locator('[data-testid=log-table] tbody tr[data-kind=host-key]').textContent()).toContain(sshd.hostKeyFingerprint);

    const apply = async (values: Record<string, string>, selects: Record<string, string> = {}): Promise<number> => {
      await page.getByRole('button', { name: 'Reset' }).click();
      await fill(page, '#log-filters', values);
      for (const [k, v] of Object.entries(selects)) await page.selectOption(`#log-filters [data-field=${k}]`, v);
      await page.click('#log-filters button[type=submit]');
      await page.waitForTimeout(300);
      return rows.count();
    };
    const all = await apply({});
    expect(all).toBe((await invoke(station, 'log.query', {})).total);
    expect(await apply({ operator: 'carl' })).toBe(all);
    expect(await apply({ operator: 'nobody' })).toBe(0);
    const mac = (await invoke(station, 'jobs.list')).find((j) => j.kind === 'pi' && j.mac)!.mac!;
    const macJobs = await apply({ mac: mac.slice(-5) });
    expect(macJobs).toBeGreaterThanOrEqual(3);
    // The provisioning that never reached Boot Pi, and the check of a port where nothing answers.
    expect(await apply({}, { errorCode: 'SSH_UNREACHABLE' })).toBe(2);
    expect(await apply({}, { kind: 'host-key' })).toBe(1);
    expect(await apply({ q: String(bootPort) })).toBeGreaterThanOrEqual(4);
    // A From after To is pointed out at To.
    const day = (d: Date): string => d.toLocaleDateString('en-US', { month: '2-digit', day: '2-digit', year: 'numeric' });
    await apply({ from: day(new Date(Date.now() + 86_400_000)), to: day(new Date()) });
    await expectFieldError(page, '#log-filters', 'to', /before From/);

    // The check that waited for the host key: its working time leaves the wait out; its own log is there.
    await apply({}, { kind: 'pi-probe' });
    const probeRow = rows.last();
    await probeRow.locator('button.link').click();
    const detail = page.getByTestId('job-detail');
    await detail.waitFor();
    await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('job-detail-title');
    const probeId = await detail.getAttribute('data-job-id');
    const stored = await invoke(station, 'log.get', { id: probeId! });
    expect(stored.waitedMs).toBeGreaterThanOrEqual(2_000);
    expect(stored.durationMs!).toBeLessThan(Date.parse(stored.endedAt!) - Date.parse(stored.startedAt) - 1_900);
    expect(await detail.textContent()).toMatch(/Waited for you\d/);
    await detail.locator('[data-testid=job-lines] summary').click();
    expect(await detail.locator('[data-testid=job-lines] pre').textContent()).toMatch(/waiting for the operator/);
    // Nothing scrolls sideways at 1024×700, the details open.
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    await detail.getByRole('button', { name: 'Close details' }).click();
    await expect.poll(() => page.evaluate(() => document.activeElement?.closest('tr')?.getAttribute('data-kind'))).toBe('pi-probe');
    await page.setViewportSize({ width: 1360, height: 900 });
  }, 90_000);

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
    await page.locator('[data-screen=field]').waitFor();
    await goTo(page, 'field');
    const job = await newJob(page, 'pi', async () => {
      await page.getByRole('button', { name: 'Provision Pump house Pi' }).click();
      await fill(page, 'dialog[open]', { username: user.name });
      await page.selectOption('dialog[open] [data-field="auth.method"]', 'password');
      await fill(page, 'dialog[open]', { 'auth.password': user.password });
      await page.locator('dialog[open]').getByRole('button', { name: 'Start' }).click();
    });
    const jobId = (await job.getAttribute('data-job-id'))!;
    // sudo asks: a masked field in the job's question (focused), sent beside the choice.
    await job.getByText('sudo password needed').waitFor({ timeout: 60_000 });
    const secretInput = job.locator('input[name=secret]');
    expect(await secretInput.getAttribute('type')).toBe('password');
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute('name'))).toBe('secret');
    await screenshot(page, 'field-sudo', shots.path);
    await secretInput.fill(user.password);
    await job.getByRole('button', { name: 'Send' }).click();
    // The MAC already has a certificate (the first test): replace it.
    await job.getByText('This MAC is already provisioned').waitFor({ timeout: 60_000 });
    await job.getByRole('button', { name: /^Replace/ }).click();
    expect(await finished(job)).toBe('succeeded');

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
