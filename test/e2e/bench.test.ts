import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebStation } from '../../src/main/web/web-station.js';
import { startEsp32Sim, type Esp32Sim } from '../sim/esp32/launch.js';
import { crlSerials, normSerial } from '../pi/helpers.js';
import { startBackend, type Backend } from '../support/backend.js';
import { tempDir } from '../support/temp.js';
import { requireTool } from '../support/tools.js';
import { download, launchBrowser, screenshot, type TestBrowser } from './support/browser.js';
import { configureRemote, createProfile, invoke, startTestStation } from './support/station.js';
import { cardButton, goTo } from './support/ui.js';

// The technician's and the admin's path through the real UI in web mode: three simulated ESP32
// boards provisioned with one key press against the real server and Mosquitto, their labels, the
// Gateways screen with live presence, a revocation the broker enforces, and the log.
describe('E2E: bench → gateways → revoke → log (web mode, Chromium)', () => {
  const tmp = tempDir('tds-e2e-bench-');
  const shots = tempDir('tds-e2e-shots-');
  const sims: Esp32Sim[] = [];
  let backend: Backend;
  let station: WebStation;
  let b: TestBrowser;

  beforeAll(async () => {
    requireTool('zbarimg', 'zbar-tools');
    backend = await startBackend({ broker: 'mosquitto' });
    for (const mac of ['24:6f:28:e2:e0:01', '24:6f:28:e2:e0:02', '24:6f:28:e2:e0:03']) {
      const sim = await startEsp32Sim({ mac, telemetryIntervalMs: 2000 });
      sims.push(sim);
    }
    station = await startTestStation({ dataDir: tmp.path, boards: sims });
    b = await launchBrowser();
    await b.page.goto(station.url);
  }, 180_000);

  afterAll(async () => {
    await b?.close();
    await station?.close();
    await Promise.all(sims.map((s) => s.stop()));
    await backend?.stop();
    tmp.remove();
    shots.remove();
  });

  it('is configured through Settings (remote server, pinned CA, monitor identity, profile)', async () => {
    const { page } = b;
    await configureRemote(page, backend);
    await page.locator('.statusbar', { hasText: 'Broker monitor: connected' }).waitFor({ timeout: 20_000 });
    await createProfile(page, backend, { name: 'bench line 1', esp32: true });
  });

  it('provisions three boards with one key press, each to online on the broker', async () => {
    const { page } = b;
    await goTo(page, 'bench');
    const cards = page.locator('[data-testid=board-card]');
    await expect.poll(() => cards.count(), { timeout: 10_000 }).toBe(3);
    await screenshot(page, 'bench-ready', shots.path);
    // The scan field has focus; Enter with nothing typed starts the batch.
    await page.locator('[data-testid=scan-input]').focus();
    await page.keyboard.press('Enter');
    await page.locator('[data-testid=board-card][data-state=running]').first().waitFor({ timeout: 20_000 });
    await screenshot(page, 'bench-flashing', shots.path);
    const finished = '[data-testid=board-card][data-state=succeeded], [data-testid=board-card][data-state=failed], [data-testid=board-card][data-state=cancelled]';
    await expect.poll(() => page.locator(finished).count(), { timeout: 240_000, interval: 1000 }).toBe(3);
    const failed = (await invoke(station, 'jobs.list')).filter((j) => j.state !== 'succeeded');
    // Say which board failed and why.
    for (const j of failed) {
      console.error(JSON.stringify({ target: j.target, state: j.state, error: j.error, steps: j.steps.map((x) => `${x.name}:${x.status}:${x.detail ?? ''}`) }));
      console.error((await invoke(station, 'jobs.log', { jobId: j.id })).slice(-40).map((l) => `${l.at.slice(11, 23)} [${l.step ?? '-'}] ${l.level} ${l.text}`).join('\n'));
    }
    expect(failed).toEqual([]);
    await screenshot(page, 'bench', shots.path, { fullPage: true });
    for (const sim of sims) {
      await sim.waitForLog(/mqtt connected/, 5_000);
      const gw = (await backend.server.client('operator').listGateways({ mac: sim.mac })).results[0];
      expect(gw?.active_certificate?.is_revoked).toBe(false);
      const card = page.locator('[data-testid=board-card]', { hasText: sim.mac });
      expect(await card.count()).toBe(1);
      // The rate the station picked for the port (the simulator's default bridge tops out at 921600).
      const job = (await invoke(station, 'jobs.list')).find((j) => j.mac === sim.mac)!;
      expect(job.facts?.baud).toBe('921600');
      // Engineering detail is behind "Details".
      await cardButton(card, 'Details').click();
      expect(await card.getByTestId('board-speed').textContent()).toBe('921,600 baud');
      await cardButton(card, 'Hide details').click();
    }
  }, 300_000);

  it('prints a label whose QR code decodes to the board’s MAC, gateway code and certificate serial', async () => {
    const { page } = b;
    const card = page.locator('[data-testid=board-card]', { hasText: sims[0]!.mac });
    await cardButton(card, 'Label').click();
    const png = await download(page, () => page.click('[data-testid=label-png]'), b.downloads);
    const qr = JSON.parse(execFileSync('zbarimg', ['--raw', '-q', png], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()) as Record<string, string>;
    const gw = (await backend.server.client('operator').listGateways({ mac: sims[0]!.mac })).results[0]!;
    expect(qr).toEqual({ mac_address: sims[0]!.mac, codigo: gw.codigo, serial_number: gw.active_certificate!.serial_number });
    const pdf = await download(page, () => page.click('[data-testid=label-pdf]'), b.downloads);
    expect(execFileSync('pdftotext', [pdf, '-'], { encoding: 'utf8' })).toContain(sims[0]!.mac);
    await screenshot(page, 'label', shots.path);
    await page.keyboard.press('Escape');
  });

  it('lists the gateways online, and a revocation there gets the device refused by the broker', async () => {
    const { page } = b;
    await goTo(page, 'gateways');
    const rows = page.locator('[data-testid=gw-table] tbody tr');
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(3);
    await expect.poll(() => page.locator('[data-testid=gw-table] tbody tr[data-online=true]').count(), { timeout: 30_000 }).toBe(3);
    await screenshot(page, 'gateways', shots.path);
    const victim = sims[2]!;
    await page.locator(`tr[data-mac="${victim.mac}"] button.link`).click();
    await page.locator('[data-testid=gateway-detail]').waitFor();
    // Its latest readings, from the server's telemetry store, with a small chart (the simulated firmware sends °C every 2 s).
    const readings = page.locator('[data-testid=gateway-readings]');
    const chart = readings.locator('svg[role=img]');
    await expect
      .poll(async () => {
        await readings.getByRole('button', { name: 'Refresh readings' }).click();
        return (await chart.count()) === 1 ? Number(await chart.getAttribute('data-points')) : 0;
      }, { timeout: 30_000, interval: 1000 })
      .toBeGreaterThanOrEqual(3);
    expect(await readings.locator('[data-testid=reading-row]').count()).toBe(1);
    expect(await readings.locator('[data-testid=reading-value]').textContent()).toMatch(/^[\d.,]+ °C$/);
    expect(await chart.getAttribute('aria-label')).toMatch(/^Last \d+ readings of Gateway reading, from [\d.,]+ to [\d.,]+ °C$/);
    expect(await chart.locator('polyline').count()).toBe(1);
    // The seed's certificate ZIP: client.crt + ca.crt (+ README), never a key the station made.
    const zip = await download(page, () => page.getByRole('button', { name: 'Download certificate ZIP' }).click(), b.downloads);
    const names = execFileSync('python3', ['-c', 'import sys, zipfile; print(*zipfile.ZipFile(sys.argv[1]).namelist(), sep=chr(10))', zip], { encoding: 'utf8' }).trim().split(/\r?\n/);
    expect(names).toEqual(expect.arrayContaining(['client.crt', 'ca.crt']));
    expect(names).not.toContain('client.key');
    await page.getByRole('button', { name: 'Revoke certificate…' }).click();
    await page.selectOption('dialog [data-field=reason]', 'keyCompromise');
    await page.locator('dialog').getByRole('button', { name: 'Revoke', exact: true }).click();
    await page.locator('[data-testid=gateway-detail] [role=status]', { hasText: 'Certificate revoked' }).waitFor({ timeout: 15_000 });
    // A live session outlasts a CRL reload; a broker restart (or the device rebooting) makes every
    // device connect again, and now the broker refuses the revoked certificate and only that one.
    const connects = (sim: Esp32Sim): number => sim.output().match(/mqtt connected/g)?.length ?? 0;
    const before = sims.map(connects);
    // The API answers once the CRL is signed; the broker's copy in the kit is written right after,
    // asynchronously: restart the broker only once its CRL file lists the victim (else, on a busy
    // machine, the restarted broker may still load the previous CRL).
    const victimSerial = (await invoke(station, 'jobs.list')).find((j) => j.mac === victim.mac && j.state === 'succeeded')!.certificateSerial!;
    await expect.poll(() => crlSerials(readFileSync(path.join(backend.kitDir!, 'crl.pem'), 'utf8')), { timeout: 15_000 }).toContain(normSerial(victimSerial));
    await backend.restartBroker();
    await victim.waitForLog(/mqtt: connect failed/, 60_000);
    for (const [i, s2] of sims.slice(0, 2).entries()) await expect.poll(() => connects(s2), { timeout: 60_000 }).toBeGreaterThan(before[i]!);
    expect(connects(victim)).toBe(before[2]);
    // In the UI: the revoked gateway reads as revoked and why (not as offline), the others stay online.
    await expect.poll(() => page.locator(`tr[data-mac="${victim.mac}"]`).getAttribute('data-online'), { timeout: 60_000 }).toBe('false');
    expect(await page.locator(`tr[data-mac="${victim.mac}"] [data-state]`).textContent()).toBe(' Revoked: Key compromised');
    for (const s2 of sims.slice(0, 2)) await expect.poll(() => page.locator(`tr[data-mac="${s2.mac}"]`).getAttribute('data-online'), { timeout: 30_000 }).toBe('true');
  }, 150_000);

  it('shows the jobs and the revocation in the log: filter, details with steps and timings, CSV export', async () => {
    const { page } = b;
    await goTo(page, 'log');
    await expect.poll(() => page.locator('[data-testid=today-provisioned]').textContent(), { timeout: 10_000 }).toBe('3');
    // Three jobs and the revocation made from the Gateways screen, with its reason in words.
    await expect.poll(() => page.locator('[data-testid=log-table] tbody tr').count()).toBe(4);
    const revocation = page.locator('[data-testid=log-table] tbody tr[data-entry=event]');
    expect(await revocation.getAttribute('data-mac')).toBe(sims[2]!.mac);
    expect(await revocation.textContent()).toContain('Revoked (Key compromised)');
    await page.fill('[data-field=mac]', sims[1]!.mac.toUpperCase());
    await page.click('#log-filters button[type=submit]');
    await expect.poll(() => page.locator('[data-testid=log-table] tbody tr').count()).toBe(1);
    await page.locator('[data-testid=log-table] tbody tr button.link').click();
    const detail = page.locator('[data-testid=job-detail]');
    await detail.waitFor();
    for (const step of ['Identify the device', 'Flash firmware and config', 'Wait until online']) expect(await detail.getByText(step).isVisible()).toBe(true);
    await screenshot(page, 'log', shots.path, { fullPage: true });
    const csvFile = await download(page, () => page.click('[data-testid=log-export]'), b.downloads);
    const csv = readFileSync(csvFile, 'utf8').trim().split('\n');
    expect(csv[0]).toContain('job_id');
    expect(csv[0]).toContain('event_reason');
    expect(csv).toHaveLength(2);
    expect(csv[1]).toContain(sims[1]!.mac);
    expect(csv[1]).toContain('succeeded');
    expect(csv[1]).toContain('Ana Souza');
  });
});
