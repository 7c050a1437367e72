import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobSnapshot } from '../../src/shared/jobs.js';
import { StationLog } from '../../src/main/log/station-log.js';
import type { WebStation } from '../../src/main/web/web-station.js';
import { tempDir } from '../support/temp.js';
import { launchBrowser, screenshot, type TestBrowser } from './support/browser.js';
import { invoke, startTestStation } from './support/station.js';
import { expectFieldError, fill, goTo, settingsTab } from './support/ui.js';

// A station whose log already holds a long history (written by the station log itself, as its jobs
// write it): 1,100 jobs over thirty days, 50 revocations, and a board that never came online with its
// boot log kept. The Log screen pages past the 1,000th entry, shows the job's own log and boot log,
// and speaks the UI language: numbers, dates and durations in Portuguese, dates typed dd/mm/aaaa.
describe('E2E: the Log screen over a long history (web mode, Chromium)', () => {
  const tmp = tempDir('tds-e2e-log-');
  const shots = tempDir('tds-e2e-shots-');
  const dataDir = path.join(tmp.path, 'station');
  let station: WebStation;
  let b: TestBrowser;
  let failedId = '';
  const now = Date.now();

  function snapshot(i: number, at: number, over: Partial<JobSnapshot> = {}): JobSnapshot {
    const mac = `24:6f:28:${(i >> 16).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
    const iso = (ms: number): string => new Date(ms).toISOString();
    return {
      id: `hist-${i}`,
      kind: 'esp32',
      target: `/dev/ttyUSB${i % 8}`,
      state: 'succeeded',
      progress: 1,
      steps: [
        { name: 'probe', status: 'done', startedAt: iso(at), endedAt: iso(at + 300) },
        { name: 'flash', status: 'done', startedAt: iso(at + 300), endedAt: iso(at + 1300) },
      ],
      mac,
      gatewayCode: `GW-${mac.replace(/:/g, '')}`,
      certificateSerial: `0A${i.toString(16).padStart(6, '0')}`,
      firmware: { name: 'gw-fw', version: i % 2 ? '2.1.0' : '2.0.3', sha256: 'ab'.repeat(32) },
      operator: i % 3 ? 'Ana Souza' : 'Bruno Lima',
      accountId: 1,
      createdAt: iso(at),
      startedAt: iso(at),
      endedAt: iso(at + 1300),
      ...over,
    };
  }

  beforeAll(async () => {
    const log = StationLog.open(path.join(dataDir, 'station-log.sqlite'), { stationId: 'bench-2' });
    for (let i = 0; i < 1100; i++) log.recordSnapshot(snapshot(i, now - 30 * 86_400_000 + i * 2_300_000));
    for (let i = 0; i < 50; i++) log.recordEvent({ kind: 'revocation', operator: 'Ana Souza', mac: snapshot(i, now).mac!, gatewayCode: `GW-${i}`, certSerial: `0A${i.toString(16).padStart(6, '0')}`, reason: 'cessationOfOperation' });
    const at = now - 60_000;
    const failed = snapshot(5000, at, {
      state: 'failed',
      steps: [
        { name: 'flash', status: 'done', startedAt: new Date(at).toISOString(), endedAt: new Date(at + 1300).toISOString() },
        { name: 'online', status: 'failed', startedAt: new Date(at + 1300).toISOString(), endedAt: new Date(at + 41_300).toISOString(), detail: 'the broker never saw the board' },
      ],
      endedAt: new Date(at + 41_300).toISOString(),
      error: {
        code: 'BROKER_NEVER_SAW_DEVICE',
        message: 'The broker never saw 24:6f:28:00:13:88 online within 40 s.',
        attachment: { label: 'Boot log', text: 'rst:0x1 (POWERON_RESET)\nwifi: connect to "plant" failed (AUTH_FAIL)\nmqtt: not connected' },
      },
    });
    failedId = failed.id;
    log.recordSnapshot(failed);
    for (const text of ['step flash started', 'flash: 742192 bytes written, MD5 verified', 'waiting for 24:6f:28:00:13:88 on the broker']) log.appendLine({ jobId: failed.id, at: new Date(at + 500).toISOString(), level: 'info', text });
    log.close();

    station = await startTestStation({ dataDir });
    b = await launchBrowser();
    await b.page.setViewportSize({ width: 1024, height: 700 });
    await b.page.goto(station.url);
    await b.page.locator('.wizard, .shell').first().waitFor();
    const remote = b.page.getByRole('button', { name: 'Connect to a remote server' });
    if (await remote.isVisible()) await remote.click();
    await settingsTab(b.page, 'general');
    await fill(b.page, '#general-form', { operator: 'Ana Souza' });
    await b.page.click('#general-form button[type=submit]');
  }, 120_000);

  afterAll(async () => {
    await b?.close();
    await station?.close();
    tmp.remove();
    shots.remove();
  });

  const total = () => b.page.getByTestId('log-total').textContent();
  const rows = () => b.page.locator('[data-testid=log-table] tbody tr');
  const noSidewaysScroll = () => b.page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);

  it('pages past the 1,000th entry, a hundred at a time, the focus on where the page starts', async () => {
    const { page } = b;
    await goTo(page, 'log');
    await expect.poll(total, { timeout: 15_000 }).toBe('Showing 1–100 of 1,151');
    expect(await rows().count()).toBe(100);
    expect(await noSidewaysScroll()).toBe(true);
    await screenshot(page, 'log-history', shots.path, { fullPage: true });
    for (let p = 1; p <= 11; p++) {
      await page.getByRole('button', { name: 'Next page' }).click();
      await expect.poll(total).toBe(`Showing ${(p * 100 + 1).toLocaleString('en-US')}–${Math.min(1151, p * 100 + 100).toLocaleString('en-US')} of 1,151`);
    }
    expect(await rows().count()).toBe(51);
    expect(await page.getByRole('button', { name: 'Next page' }).isDisabled()).toBe(true);
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('log-total');
    // The oldest entry of all is the first job of the history.
    expect(await rows().last().getAttribute('data-mac')).toBe('24:6f:28:00:00:00');
    await page.getByRole('button', { name: 'First page' }).click();
    await expect.poll(total).toBe('Showing 1–100 of 1,151');
    // Revocations are entries too, with their reason in words.
    await page.selectOption('#log-filters [data-field=kind]', 'revocation');
    await page.click('#log-filters button[type=submit]');
    await expect.poll(total).toBe('Showing 1–50 of 50');
    expect(await rows().first().textContent()).toContain('Revoked (Taken out of service)');
  }, 90_000);

  it('shows a failed job’s reason in words, its own log and the boot log kept with it', async () => {
    const { page } = b;
    await page.getByRole('button', { name: 'Reset' }).click();
    await page.selectOption('#log-filters [data-field=errorCode]', 'BROKER_NEVER_SAW_DEVICE');
    await page.click('#log-filters button[type=submit]');
    await expect.poll(() => rows().count()).toBe(1);
    const open = rows().first().locator('button.link');
    expect(await open.getAttribute('aria-label')).toMatch(/^Details of the ESP32 job on 24:6f:28:00:13:88 · GW-246f28001388, /);
    await open.click();
    const detail = page.getByTestId('job-detail');
    await detail.waitFor();
    expect(await detail.getAttribute('data-job-id')).toBe(failedId);
    const outcome = await detail.locator('.job-error').textContent();
    expect(outcome).toMatch(/^What went wrongThe device was flashed but never came online on the broker\.The broker never saw 24:6f:28:00:13:88 online within 40 s\./);
    // The code is there for whoever needs it, after the words, not in front of them.
    expect(outcome).toMatch(/Error code: BROKER_NEVER_SAW_DEVICE$/);
    await detail.locator('[data-testid=job-lines] summary').click();
    expect(await detail.locator('[data-testid=job-lines] pre').textContent()).toContain('742192 bytes written, MD5 verified');
    await detail.locator('[data-testid=job-attachment] summary').click();
    expect(await detail.locator('[data-testid=job-attachment] pre').textContent()).toContain('wifi: connect to "plant" failed (AUTH_FAIL)');
    expect(await noSidewaysScroll()).toBe(true);
    expect((await invoke(station, 'log.get', { id: failedId })).attachment?.label).toBe('Boot log');
  });

  it('speaks Portuguese: numbers, dates and durations in the locale, dates typed dd/mm/aaaa', async () => {
    const { page } = b;
    await settingsTab(page, 'general');
    await page.selectOption('#general-form [data-field=language]', 'pt-BR');
    await page.click('#general-form button[type=submit]');
    await page.locator('[data-screen=log]', { hasText: 'Registro' }).waitFor();
    await goTo(page, 'log');
    await expect.poll(total, { timeout: 15_000 }).toBe('Mostrando 1–100 de 1.151');
    const first = page.locator('[data-testid=log-table] tbody tr[data-result=succeeded]').first();
    expect(await first.locator('td').nth(4).textContent()).toBe('1,3 s');
    expect(await first.locator('button.link').textContent()).toMatch(/^\d{2}\/\d{2}\/\d{4}, \d{2}:\d{2}:\d{2}$/);
    expect(await page.locator('#log-filters [data-field=from]').getAttribute('placeholder')).toBe('dd/mm/aaaa');
    // A date that does not exist is refused in the language's own format.
    await fill(page, '#log-filters', { from: '31/02/2026' });
    await page.click('#log-filters button[type=submit]');
    await expectFieldError(page, '#log-filters', 'from', /Digite uma data como dd\/mm\/aaaa\./);
    // Today, typed as a Brazilian would: only today's entries.
    const today = new Date(now).toLocaleDateString('pt-BR', { day: '2-digit', month: '2-digit', year: 'numeric' });
    await fill(page, '#log-filters', { from: today, to: today });
    await page.click('#log-filters button[type=submit]');
    const expected = (await invoke(station, 'log.query', { from: new Date(now).toLocaleDateString('sv-SE'), to: new Date(now).toLocaleDateString('sv-SE') })).total;
    await expect.poll(total).toBe(`Mostrando 1–${expected} de ${expected}`);
    expect(expected).toBeGreaterThan(50);
    // And a From after To is pointed out at To.
    const tomorrow = new Date(now + 86_400_000).toLocaleDateString('pt-BR', { day: '2-digit', month: '2-digit', year: 'numeric' });
    await fill(page, '#log-filters', { from: tomorrow, to: today });
    await page.click('#log-filters button[type=submit]');
    await expectFieldError(page, '#log-filters', 'to', /anterior a De/);
    expect(await page.getByTestId('today').textContent()).toMatch(/Dispositivos provisionados\d+Dispositivos com falha1/);
    expect(await noSidewaysScroll()).toBe(true);
    await screenshot(page, 'log-pt-BR', shots.path, { fullPage: true });
  }, 60_000);
});
