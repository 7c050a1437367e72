import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESUME_FILE } from '../../src/main/station/service.js';
import type { WebStation } from '../../src/main/web/web-station.js';
import { startEsp32Sim, type Esp32Sim } from '../sim/esp32/launch.js';
import { startBackend, type Backend } from '../support/backend.js';
import { isAlive } from '../support/processes.js';
import { tempDir } from '../support/temp.js';
import { launchBrowser, screenshot, type TestBrowser } from './support/browser.js';
import { configureRemote, createProfile, invoke, startTestStation } from './support/station.js';
import { cardButton, fill, goTo } from './support/ui.js';

// The station core runs in its own process so that a crash in device code cannot take the UI
// with it. Web mode against the simulator: the core is killed (SIGKILL) in the middle of a flash;
// the page stays up, says the core was restarted, shows the job as interrupted with the reason,
// the station log records it so, and the job's retry (run by the new core) takes the board online,
// replacing without a question the certificate the killed job got but never put on the board.
describe('E2E: the station core is killed mid-flash and restarted (web mode, Chromium)', () => {
  const tmp = tempDir('tds-e2e-core-restart-');
  const shots = tempDir('tds-e2e-shots-');
  let backend: Backend;
  let sim: Esp32Sim;
  let station: WebStation;
  let b: TestBrowser;
  /** A job's resume spec as the core keeps it on disk while the job runs. */
  const keptSpec = (id: string) => (JSON.parse(readFileSync(path.join(tmp.path, RESUME_FILE), 'utf8')) as { jobs: Record<string, { identities?: { issuedNotInstalled: string[] } }> }).jobs[id];

  beforeAll(async () => {
    backend = await startBackend({ broker: 'embedded' });
    sim = await startEsp32Sim({ mac: '24:6f:28:e2:d0:01', telemetryIntervalMs: 2000 });
    station = await startTestStation({ dataDir: tmp.path, boards: [sim], supervision: { backoff: { firstMs: 200, maxMs: 2000, stableMs: 60_000 } } });
    b = await launchBrowser();
    b.page.setDefaultTimeout(20_000);
    await b.page.goto(station.url);
    await configureRemote(b.page, backend, 'Dora Reis');
    await createProfile(b.page, backend, { name: 'restart line', esp32: true });
  }, 180_000);

  afterAll(async () => {
    await b?.close();
    await station?.close();
    await sim?.stop();
    await backend?.stop();
    tmp.remove();
    shots.remove();
  });

  it('shows the restart, the interrupted job and its reason; the log says interrupted; the retry goes online', async () => {
    const { page } = b;
    await goTo(page, 'bench');
    const card = page.locator(`[data-testid=board-card][data-port="${sim.hostPath}"]`);
    await card.waitFor();
    // Every erased sector takes 100 ms: the flash step lasts long enough to kill the core inside it.
    await sim.sendControl('FAULT slow-erase=100');
    await cardButton(card, 'Provision').click();
    await card.locator('.board__step', { hasText: 'Flash firmware and config' }).waitFor({ timeout: 60_000 });
    const [job] = (await invoke(station, 'jobs.list')).filter((j) => j.target === sim.hostPath);
    expect(job?.state).toBe('running');
    // The certificate it got is not on the board yet: the core keeps that in the job's resume spec on disk.
    expect(job!.certificateSerial).toBeTruthy();
    await expect.poll(() => keptSpec(job!.id)?.identities?.issuedNotInstalled).toEqual([job!.certificateSerial]);

    const oldPid = station.core.pid!;
    expect(isAlive(oldPid)).toBe(true);
    process.kill(oldPid, 'SIGKILL');

    // The page never went away: it says what happened, once the new core is up.
    const banner = page.locator('[data-testid=core-banner][data-state=restarted]');
    await banner.waitFor({ timeout: 60_000 });
    expect(await banner.textContent()).toContain('The station core stopped unexpectedly and was restarted; 1 running job was interrupted.');
    expect(station.core.pid).not.toBe(oldPid);
    expect(isAlive(oldPid)).toBe(false);
    expect(station.core.status()).toMatchObject({ state: 'running', restarts: 1, interruptedJobs: 1, lastExit: { reason: 'crash', signal: 'SIGKILL' } });

    // The card shows the same job, failed as interrupted, with the reason.
    await expect.poll(() => card.getAttribute('data-state'), { timeout: 20_000 }).toBe('failed');
    const jobError = card.locator('.job-error');
    await expect.poll(() => jobError.textContent()).toContain('The job was interrupted: the station core stopped while it ran.');
    expect(await jobError.textContent()).toMatch(/Interrupted: the station core was killed by signal SIGKILL during the step "flash"/);
    await screenshot(page, 'bench-core-restarted', shots.path);

    // The station log's row says interrupted, with the reason, and the flash step failed.
    const row = await invoke(station, 'log.get', { id: job!.id });
    expect(row).toMatchObject({ result: 'failed', errorCode: 'INTERRUPTED', errorMessage: expect.stringMatching(/^Interrupted: the station core was killed by signal SIGKILL/) });
    expect(row.steps.find((s) => s.name === 'flash')?.status).toBe('failed');
    expect(row.endedAt).not.toBeNull();

    // Retry from the card: the new core rebuilds the job from what it kept and takes the board online.
    await sim.sendControl('FAULT clear slow-erase');
    await cardButton(card, 'Retry').click();
    // The killed job had got its certificate (before the flash), which never reached the board: as a
    // retry in the same core would, the retry replaces it without asking the technician.
    const interrupted = (await invoke(station, 'jobs.list')).find((j) => j.id === job!.id)!;
    expect(interrupted.certificateSerial).toBe(job!.certificateSerial);
    const retryOf = async () => (await invoke(station, 'jobs.list')).find((j) => j.retryOf === job!.id);
    await expect.poll(async () => (await retryOf())?.state, { timeout: 180_000, interval: 1000 }).toMatch(/succeeded|failed|cancelled/);
    const retry = await retryOf();
    if (retry?.state !== 'succeeded') console.error(JSON.stringify(retry, null, 1));
    expect(retry).toMatchObject({ state: 'succeeded', mac: sim.mac, target: sim.hostPath });
    expect(retry!.steps.find((s) => s.name === 'online')?.status).toBe('done');
    const gw = (await backend.server.client('operator').listGateways({ mac: sim.mac })).results;
    expect(gw).toHaveLength(1);
    expect(gw[0]!.active_certificate?.serial_number.toLowerCase()).toBe(retry!.certificateSerial!.toLowerCase());
    expect(retry!.certificateSerial).not.toBe(interrupted.certificateSerial);
    expect(retry!.question).toBeUndefined();
    const retryLog = (await invoke(station, 'jobs.log', { jobId: retry!.id })).map((l) => l.text);
    expect(retryLog).toContainEqual(expect.stringContaining(`certificate ${interrupted.certificateSerial} came from an earlier attempt of this job and never reached the board: replacing it`));
    expect(await card.getByText('This MAC is already provisioned').count()).toBe(0);
    // Once the board was online with the new certificate, the unused one was revoked as superseded.
    const certs = (await backend.server.client('operator').getGateway(gw[0]!.id)).certificados;
    expect(certs.find((c) => c.serial_number.toLowerCase() === interrupted.certificateSerial!.toLowerCase())).toMatchObject({ is_revoked: true, revoke_reason: expect.stringMatching(/^superseded/) });
    // Neither job is in flight any more.
    await expect.poll(() => [keptSpec(job!.id), keptSpec(retry!.id)]).toEqual([undefined, undefined]);
    await sim.waitForLog(/mqtt connected/, 30_000);
    // The card follows its retry.
    await expect.poll(() => card.getAttribute('data-state'), { timeout: 10_000 }).toBe('succeeded');

    // Dismissed, the notice goes away.
    await banner.getByRole('button', { name: 'Dismiss' }).click();
    await expect.poll(() => page.locator('[data-testid=core-banner]').count()).toBe(0);
  }, 300_000);

  it('a Pi job interrupted while logging in: its retry asks for the password again (never stored)', async () => {
    const { page } = b;
    // A "Pi" that accepts the TCP connection and then says nothing: the SSH login step keeps waiting.
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      await createProfile(page, backend, { name: 'restart field', pi: { installPrefix: path.join(tmp.path, 'pi'), serviceManager: 'none' } });
      await goTo(page, 'field');
      await page.selectOption('[data-testid=field-profile]', 'restart field');
      await fill(page, '#add-host', { host: '127.0.0.1', port: String(port), name: 'Silent Pi' });
      await page.click('#add-host button[type=submit]');
      const target = page.locator('[data-testid=pi-target]', { hasText: 'Silent Pi' });
      await target.getByRole('button', { name: 'Provision Silent Pi' }).click();
      await fill(page, 'dialog[open]', { username: 'pi' });
      await page.selectOption('dialog[open] [data-field="auth.method"]', 'password');
      await fill(page, 'dialog[open]', { 'auth.password': 'the-pi-password' });
      await page.locator('dialog[open]').getByRole('button', { name: 'Start' }).click();
      const job = page.locator('[data-testid=pi-job]');
      await job.locator('.step--running').first().waitFor({ timeout: 20_000 });
      // Killed once its resume spec is on disk (written right after the job starts; a loaded machine may take a moment).
      const piJob = (await invoke(station, 'jobs.list')).find((j) => j.kind === 'pi' && j.state === 'running')!;
      await expect.poll(() => keptSpec(piJob.id)).toMatchObject({ kind: 'pi', username: 'pi', auth: 'password' });

      process.kill(station.core.pid!, 'SIGKILL');
      await page.locator('[data-testid=core-banner][data-state=restarted]').waitFor({ timeout: 60_000 });
      await expect.poll(() => job.getAttribute('data-state'), { timeout: 20_000 }).toBe('failed');
      expect(await job.locator('.job-error').textContent()).toContain('The job was interrupted');

      // Retry: the password went with the old core; the Field screen asks for the login again.
      await job.getByRole('button', { name: 'Retry the job on Silent Pi' }).click();
      await page.locator('dialog[open]').waitFor({ timeout: 10_000 });
      expect(await job.textContent()).toContain('is gone (it is never stored)');
      expect(await page.locator('dialog[open] [data-field="auth.password"]').inputValue()).toBe('');
    } finally {
      for (const sock of sockets) sock.destroy();
      await new Promise((r) => silent.close(r));
    }
  }, 180_000);
});
