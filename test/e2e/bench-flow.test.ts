import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Locator } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebStation } from '../../src/main/web/web-station.js';
import { startEsp32Sim, type Esp32Sim } from '../sim/esp32/launch.js';
import { startBackend, type Backend } from '../support/backend.js';
import { tempDir } from '../support/temp.js';
import { requireTool } from '../support/tools.js';
import { download, launchBrowser, screenshot, type TestBrowser } from './support/browser.js';
import { configureRemote, createProfile, invoke, startTestStation } from './support/station.js';
import { cardButton, goTo } from './support/ui.js';

interface Spies {
  beeps: number[];
  notes: { title: string; body: string }[];
  prints: (string | null)[];
}

// The technician's Bench, item by item, in the real UI against the real core, server and broker
// with simulated boards on known hub positions: slots named once and kept by USB position; focus that
// always comes back to the scan field, and scans that land elsewhere caught or announced; the scanned
// code on its board; Enter starting only new boards; the MAC checked before anything is written and
// a stopped board left running its firmware and recorded as skipped; one answer for several boards;
// what a cleared board's MAC is (provisioned, revoked); beep, notification, auto-print, batch labels,
// the console panel, reprint from the Log; auto-start on plug-in; Portuguese on the cards.
describe('E2E: the Bench for a day of boards (web mode, Chromium, real core, simulators)', () => {
  const tmp = tempDir('tds-e2e-bench-flow-');
  const shots = tempDir('tds-e2e-shots-');
  const dataDir = path.join(tmp.path, 'station');
  const sims: Esp32Sim[] = [];
  let backend: Backend;
  let station: WebStation;
  let b: TestBrowser;
  const locations = ['1-1.1', '1-1.2', '1-1.3'];

  const page = () => b.page;
  const card = (sim: Esp32Sim): Locator => page().locator(`[data-testid=board-card][data-port="${sim.hostPath}"]`);
  const scanInput = () => page().locator('[data-testid=scan-input]');
  const focusIsOnScan = () => page().evaluate(() => document.activeElement?.getAttribute('data-testid') === 'scan-input');
  const message = () => page().locator('[data-testid=bench-message]').textContent();
  const spies = () => page().evaluate(() => (window as unknown as { __spy: Spies }).__spy);
  const job = async (sim: Esp32Sim) => (await invoke(station, 'jobs.list')).filter((j) => j.target === sim.hostPath).at(-1);
  const boots = (sim: Esp32Sim): number => sim.output().match(/boot: flash \(SPI_FAST_FLASH_BOOT\)/g)?.length ?? 0;

  async function open(boards: Array<Esp32Sim & { location: string }>): Promise<void> {
    station = await startTestStation({ dataDir, boards });
    await page().goto(station.url);
    await page().locator('.wizard, .shell').first().waitFor();
    if (await page().locator('.shell').count()) await goTo(page(), 'bench');
  }

  beforeAll(async () => {
    requireTool('pdftotext', 'poppler-utils');
    backend = await startBackend({ broker: 'embedded' });
    for (const mac of ['24:6f:28:f1:00:01', '24:6f:28:f1:00:02', '24:6f:28:f1:00:03']) sims.push(await startEsp32Sim({ mac, telemetryIntervalMs: 2000 }));
    b = await launchBrowser();
    page().setDefaultTimeout(20_000);
    await b.context.grantPermissions(['notifications', 'clipboard-read', 'clipboard-write']);
    // Watch what the page asks of the browser (tones, notifications, print) without changing what it does.
    await b.context.addInitScript(() => {
      const spy = { beeps: [] as number[], notes: [] as { title: string; body: string }[], prints: [] as (string | null)[] };
      (window as unknown as { __spy: typeof spy }).__spy = spy;
      const AC = window.AudioContext;
      window.AudioContext = class extends AC {
        override createOscillator(): OscillatorNode {
          const o = super.createOscillator();
          const start = o.start.bind(o);
          o.start = (when?: number) => {
            spy.beeps.push(o.frequency.value);
            start(when);
          };
          return o;
        }
      };
      const N = window.Notification;
      const Spy = class extends N {
        constructor(title: string, options?: NotificationOptions) {
          super(title, options);
          spy.notes.push({ title, body: options?.body ?? '' });
        }
      };
      Object.defineProperty(Spy, 'permission', { get: () => N.permission });
      Object.defineProperty(Spy, 'requestPermission', { value: N.requestPermission.bind(N) });
      window.Notification = Spy as unknown as typeof Notification;
      window.print = () => {
        spy.prints.push(document.querySelector('.print-area--auto img')?.getAttribute('alt') ?? null);
      };
    });
    await open(sims.map((s, i) => Object.assign(s, { location: locations[i]! })));
  }, 180_000);

  afterAll(async () => {
    await b?.close();
    await station?.close();
    await Promise.all(sims.map((s) => s.stop()));
    await backend?.stop();
    tmp.remove();
    shots.remove();
  });

  it('shows boards as slots in hub order; a slot is named once and keeps its name for its USB position, whatever port the board gets', async () => {
    await configureRemote(page(), backend, 'Carla Dias');
    await createProfile(page(), backend, { name: 'line A', esp32: true });
    await goTo(page(), 'bench');
    await expect.poll(() => page().locator('[data-testid=board-card]').count()).toBe(3);
    expect(await page().locator('[data-testid=slot-name]').allTextContents()).toEqual(['Slot 1', 'Slot 2', 'Slot 3']);
    await cardButton(card(sims[1]!), 'Name slot').click();
    await page().locator('.slot-name [data-field=name]').fill('Hub A · 2');
    await page().keyboard.press('Enter');
    await expect.poll(() => card(sims[1]!).getByTestId('slot-name').textContent()).toBe('Hub A · 2');
    await expect.poll(focusIsOnScan).toBe(true);
    expect(JSON.parse(readFileSync(path.join(dataDir, 'settings.json'), 'utf8')).bench.slots).toEqual({ 'usb:1-1.2': 'Hub A · 2' });

    // Restart with the boards moved around the hub: the name stays with the position (1-1.2), not the port.
    await station.close();
    const moved = [
      { sim: sims[0]!, location: '1-1.2' },
      { sim: sims[1]!, location: '1-1.3' },
      { sim: sims[2]!, location: '1-1.1' },
    ];
    await open(moved.map((m) => Object.assign(m.sim, { location: m.location })));
    await expect.poll(() => card(sims[0]!).getByTestId('slot-name').textContent()).toBe('Hub A · 2');
    expect(await page().locator('[data-testid=board-card]').evaluateAll((els) => els.map((e) => e.getAttribute('data-slot')))).toEqual(['usb:1-1.1', 'usb:1-1.2', 'usb:1-1.3']);
    // Back to where they were for the rest of the test.
    await station.close();
    await open(sims.map((s, i) => Object.assign(s, { location: locations[i]! })));
    await expect.poll(() => card(sims[1]!).getByTestId('slot-name').textContent()).toBe('Hub A · 2');
  }, 120_000);

  it('keeps focus on the scan field after every action; a scan typed elsewhere is caught, one during a dialog is announced; the scanned code shows on its board and the selection does not jump', async () => {
    const [a, bb, c] = sims as [Esp32Sim, Esp32Sim, Esp32Sim];
    await cardButton(card(a), 'Details').click();
    await card(a).getByTestId('board-details').waitFor();
    await expect.poll(focusIsOnScan).toBe(true);
    await cardButton(card(a), 'Hide details').click();
    await expect.poll(focusIsOnScan).toBe(true);
    await page().selectOption('[data-testid=bench-profile]', 'line A');
    await expect.poll(focusIsOnScan).toBe(true);

    // A scanner typing while a button has focus: the code is not lost, and Enter presses nothing.
    await cardButton(card(c), 'Console').focus();
    await page().keyboard.type('GW-FLOW-0001');
    await page().keyboard.press('Enter');
    await expect.poll(() => card(a).getByTestId('board-code').textContent()).toBe('GW-FLOW-0001');
    expect(await page().locator('dialog[open]').count()).toBe(0);
    await expect.poll(() => page().getByTestId('announce-polite').textContent()).toMatch(/Code GW-FLOW-0001 is on Slot 1|scan arrived outside the scan field/);
    await expect.poll(focusIsOnScan).toBe(true);
    expect(await card(a).locator('.badge--scanned').count()).toBe(1);

    // While a dialog is open a scan goes nowhere: said aloud, not used.
    await cardButton(card(c), 'Console').click();
    await page().locator('dialog[open] [data-testid=console]').waitFor();
    await page().locator('dialog[open] [data-testid=console]').focus();
    await page().keyboard.type('GW-LOST-0009');
    await page().keyboard.press('Enter');
    await expect.poll(() => page().getByTestId('announce-assertive').textContent()).toContain('A scan (GW-LOST-0009) arrived while a window was open and was not used');
    await page().keyboard.press('Escape');
    await page().locator('dialog[open]').waitFor({ state: 'detached' });
    await expect.poll(focusIsOnScan).toBe(true);
    expect(await page().locator('[data-testid=board-code]').allTextContents()).not.toContain('GW-LOST-0009');

    // A selected board takes the next code; the selection is then used up, not moved to another board.
    await cardButton(card(c), 'Select').click();
    await expect.poll(focusIsOnScan).toBe(true);
    await scanInput().fill('GW-FLOW-0003');
    await scanInput().press('Enter');
    await expect.poll(() => card(c).getByTestId('board-code').textContent()).toBe('GW-FLOW-0003');
    expect(await message()).toContain('Code GW-FLOW-0003 is on Slot 3');
    expect(await card(c).locator('.badge--scanned').count()).toBe(1);
    expect(await card(a).locator('.badge--scanned').count()).toBe(0);
    expect(await page().locator('[data-testid=board-card] button[aria-pressed=true]').count()).toBe(0);
    // Slot 2 keeps no code: it is provisioned with its automatic code.
    expect(await card(bb).getByTestId('board-code').textContent()).toBe('automatic');
    await screenshot(page(), 'bench-scanned', shots.path);
  });

  it('Enter starts only new boards; after "Clear finished" the cards say they are provisioned, and Enter leaves them alone', async () => {
    await scanInput().press('Enter');
    await expect.poll(() => page().locator('[data-testid=board-card][data-state=succeeded]').count(), { timeout: 240_000, interval: 1000 }).toBe(3);
    await expect.poll(focusIsOnScan).toBe(true);
    expect(await page().getByTestId('bench-summary').textContent()).toContain('3 boards · 0 working · 0 waiting for you · 3 passed · 0 failed · 0 skipped');
    const serials = await Promise.all(sims.map(async (sim) => (await job(sim))!.certificateSerial!));
    await page().getByRole('button', { name: 'Clear finished' }).click();
    for (const [i, sim] of sims.entries()) {
      await expect.poll(() => card(sim).getByTestId('board-registration').getAttribute('data-registration'), { timeout: 20_000 }).toBe('provisioned');
      expect(await card(sim).getByTestId('board-registration').textContent()).toContain(serials[i]);
    }
    const before = (await invoke(station, 'jobs.list')).length;
    await scanInput().press('Enter');
    await expect.poll(message).toContain('No new board to start. 3 boards left alone (already provisioned or revoked).');
    expect((await invoke(station, 'jobs.list')).length).toBe(before);
  }, 300_000);

  it('a board started again asks before anything is written; with several asking, one answer for all: "Stop all" leaves them running their firmware, skipped, not failed', async () => {
    const [a, bb] = sims as [Esp32Sim, Esp32Sim];
    const flash = [a.readFlash(0, 0x400000), bb.readFlash(0, 0x400000)];
    const bootsBefore = [boots(a), boots(bb)];
    // Their jobs were cleared from the Bench: the cards offer a plain "Provision".
    await cardButton(card(a), 'Provision').click();
    await cardButton(card(bb), 'Provision').click();
    const bulk = page().getByTestId('bulk-answer');
    await bulk.waitFor({ timeout: 60_000 });
    expect(await bulk.textContent()).toContain('2 boards are already provisioned.');
    expect(await page().getByTestId('bench-summary').textContent()).toContain('0 working · 2 waiting for you');
    // Focus went to the one answer for all of them.
    await expect.poll(() => page().evaluate(() => document.activeElement?.textContent)).toBe('Replace all');
    for (const sim of [a, bb]) {
      const j = (await job(sim))!;
      expect(j.question?.kind).toBe('reprovision');
      expect(j.steps.filter((s) => s.status !== 'pending').map((s) => `${s.name}:${s.status}`)).toEqual(['probe:running']);
    }
    await screenshot(page(), 'bench-question', shots.path);
    await bulk.getByRole('button', { name: 'Stop all' }).click();
    for (const sim of [a, bb]) {
      await expect.poll(() => card(sim).getAttribute('data-state'), { timeout: 30_000 }).toBe('skipped');
      expect(await card(sim).locator('.job-error').textContent()).toContain(`${sim.mac} is already provisioned`);
    }
    await expect.poll(focusIsOnScan).toBe(true);
    // Nothing was written, and each board was reset into its firmware (not left in the bootloader).
    expect(Buffer.compare(a.readFlash(0, 0x400000), flash[0]!)).toBe(0);
    expect(Buffer.compare(bb.readFlash(0, 0x400000), flash[1]!)).toBe(0);
    await expect.poll(() => [boots(a) > bootsBefore[0]!, boots(bb) > bootsBefore[1]!], { timeout: 15_000 }).toEqual([true, true]);
    const skipped = await invoke(station, 'log.query', { result: 'skipped' });
    expect(skipped.rows.map((r) => r.mac).sort()).toEqual([a.mac, bb.mac]);
    expect(skipped.rows.every((r) => r.type === 'job' && r.errorCode === 'MAC_ALREADY_PROVISIONED')).toBe(true);
    expect(await page().getByTestId('bench-summary').textContent()).toContain('2 skipped');
  }, 180_000);

  it('a revoked board says so on its card, with the reason in words, and Enter leaves it alone', async () => {
    const c = sims[2]!;
    const gw = (await backend.server.client('operator').listGateways({ mac: c.mac })).results[0]!;
    await invoke(station, 'gateways.revoke', { id: gw.id, reason: 'keyCompromise' });
    const line = card(c).getByTestId('board-registration');
    await expect.poll(() => line.getAttribute('data-registration'), { timeout: 20_000 }).toBe('revoked');
    expect(await line.textContent()).toMatch(/^Revoked on \d\d\/\d\d\/\d{4}: its key may be compromised\./);
    await page().getByRole('button', { name: 'Clear finished' }).click();
    await scanInput().press('Enter');
    await expect.poll(message).toContain('3 boards left alone');
  });

  it('beeps, notifies and prints the label when a board passes; labels for the batch in one PDF; the console in its own panel with copy and save; a label again from the Log', async () => {
    const a = sims[0]!;
    await page().getByRole('button', { name: 'Options' }).click();
    for (const option of ['sound', 'notify', 'autoPrint']) {
      await page().locator(`[data-testid=bench-options] [data-field=${option}]`).check();
      await expect.poll(async () => (await invoke(station, 'settings.get')).bench[option as 'sound']).toBe(true);
    }
    await page().getByRole('button', { name: 'Options' }).click();
    const beepsBefore = (await spies()).beeps.length;
    await cardButton(card(a), 'Provision').click();
    // One board asking: focus goes to its question; Enter answers with its first choice (replace).
    await card(a).locator('[data-question-kind=reprovision]').waitFor({ timeout: 60_000 });
    await expect.poll(() => page().evaluate(() => document.activeElement?.closest('[data-question-kind]') !== null)).toBe(true);
    await page().keyboard.press('Enter');
    await expect.poll(() => card(a).getAttribute('data-state'), { timeout: 180_000, interval: 1000 }).toBe('succeeded');
    const passed = (await job(a))!;
    await expect.poll(async () => (await spies()).prints).toContain(`Label preview: MAC ${a.mac}, gateway ${passed.gatewayCode}, certificate ${passed.certificateSerial}`);
    const s = await spies();
    expect(s.beeps.slice(beepsBefore)).toEqual(expect.arrayContaining([880, 1320]));
    expect(s.notes).toContainEqual({ title: 'Board passed', body: `Slot 1 passed: ${passed.gatewayCode} is online.` });

    // The batch's labels: one PDF sheet with every board that passed and is on the Bench.
    const sheet = await download(page(), () => page().getByTestId('labels-batch').click(), b.downloads);
    expect(execFileSync('pdftotext', [sheet, '-'], { encoding: 'utf8' })).toContain(passed.gatewayCode!);

    // The console in its own panel: the job's log and boot log, copied and saved.
    await cardButton(card(a), 'Console').click();
    const consoleEl = page().locator('dialog[open] [data-testid=console]');
    await expect.poll(() => consoleEl.textContent(), { timeout: 20_000 }).toMatch(/entry 0x[0-9a-f]{8}/);
    await page().getByTestId('console-copy').click();
    const copied = await page().evaluate(() => navigator.clipboard.readText());
    expect(copied).toMatch(/entry 0x[0-9a-f]{8}/);
    const saved = await download(page(), () => page().getByTestId('console-save').click(), b.downloads);
    expect(readFileSync(saved, 'utf8')).toContain('mqtt connected');
    await screenshot(page(), 'bench-console', shots.path);
    await page().getByRole('button', { name: /^Close/ }).click();
    await expect.poll(focusIsOnScan).toBe(true);

    // A label again, from the Log's job detail.
    await goTo(page(), 'log');
    await page().fill('[data-field=mac]', a.mac);
    await page().click('#log-filters button[type=submit]');
    await page().locator('[data-testid=log-table] tbody tr', { hasText: 'Succeeded' }).first().locator('button.link').click();
    await page().getByTestId('reprint-label').click();
    await expect.poll(() => page().locator('dialog[open] img.label-preview').getAttribute('alt')).toContain(a.mac);
    await page().keyboard.press('Escape');
    await goTo(page(), 'bench');
  }, 300_000);

  it('auto-start: a board plugged in starts by itself (a quick re-plug, a USB reset, does not)', async () => {
    const bb = sims[1]!;
    await invoke(station, 'bench.setOptions', { autoStart: true, sound: false, notify: false, autoPrint: false });
    const jobsBefore = (await invoke(station, 'jobs.list')).filter((j) => j.target === bb.hostPath).length;
    // Unplugged and back within a second: a re-enumeration, left alone.
    await bb.sendControl('UNPLUG');
    await bb.sendControl('PLUG');
    await new Promise((r) => setTimeout(r, 3000));
    expect((await invoke(station, 'jobs.list')).filter((j) => j.target === bb.hostPath).length).toBe(jobsBefore);
    // Unplugged for a while and plugged in: a new board in the slot, started with the default profile.
    await bb.sendControl('UNPLUG');
    await new Promise((r) => setTimeout(r, 4500));
    await bb.sendControl('PLUG');
    await card(bb).locator('[data-question-kind=reprovision]').waitFor({ timeout: 60_000 });
    await card(bb).locator('[data-question-kind=reprovision]').getByRole('button', { name: /^Stop/ }).click();
    await expect.poll(() => card(bb).getAttribute('data-state'), { timeout: 30_000 }).toBe('skipped');
    await invoke(station, 'bench.setOptions', { autoStart: false });
  }, 120_000);

  it('says it in Portuguese: states, what was found, step details with decimal commas, dates as dd/mm/aaaa', async () => {
    await invoke(station, 'settings.update', { language: 'pt-BR' });
    await page().locator('html[lang="pt-BR"]').waitFor();
    const [a, bb, c] = sims as [Esp32Sim, Esp32Sim, Esp32Sim];
    await expect.poll(() => card(a).getByTestId('board-state').textContent()).toBe('Aprovada');
    expect(await card(bb).getByTestId('board-state').textContent()).toBe('Pulada');
    expect(await card(bb).locator('.job-error').textContent()).toContain(`${bb.mac} já está provisionada`);
    expect(await card(c).getByTestId('board-registration').textContent()).toMatch(/^Revogada em \d\d\/\d\d\/\d{4}: a chave pode ter sido comprometida\./);
    await cardButton(card(a), 'Detalhes').click();
    const details = card(a).getByTestId('board-details');
    const text = (await details.textContent()) ?? '';
    // "… KiB gravados em 1,3 s a 921.600 baud, conferidos (MD5)", step times as "2,4 s".
    expect(text).toMatch(/KiB gravados em \d+(,\d)? s a 921\.600 baud, conferidos \(MD5\)/);
    expect(text).toMatch(/\d+,\d s/);
    expect(text).toMatch(/Certificado [0-9A-Fa-f]+, válido até \d\d\/\d\d\/\d{4}/);
    expect(await page().getByTestId('bench-summary').textContent()).toMatch(/^3 placas · 0 em andamento · 0 aguardando você · 1 aprovadas · 0 com falha · 1 puladas/);
    await screenshot(page(), 'bench-pt-cards', shots.path);
    await invoke(station, 'settings.update', { language: 'en' });
  });
});
