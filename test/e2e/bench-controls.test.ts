import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SerialPortLink } from '../../src/main/devices/serialport-link.js';
import type { WebStation } from '../../src/main/web/web-station.js';
import { startEsp32Sim, type Esp32Sim } from '../sim/esp32/launch.js';
import { startBackend, type Backend } from '../support/backend.js';
import { tempDir } from '../support/temp.js';
import { launchBrowser, type TestBrowser } from './support/browser.js';
import { configureRemote, createProfile, invoke, startTestStation } from './support/station.js';
import { cardButton, goTo } from './support/ui.js';

// The Bench controls a technician uses between batches, in the real UI against the embedded broker:
// the scan field as a barcode scanner drives it (codes to boards, a bad read refused in place), one
// board's cancel and retry, and the live serial console of a board that is not being flashed.
describe('E2E: bench scanner, cancel/retry and live console (web mode, Chromium)', () => {
  const tmp = tempDir('tds-e2e-bench-ctl-');
  const sims: Esp32Sim[] = [];
  let backend: Backend;
  let station: WebStation;
  let b: TestBrowser;

  const card = (sim: Esp32Sim) => b.page.locator(`[data-testid=board-card][data-port="${sim.hostPath}"]`);
  const scan = async (text: string): Promise<void> => {
    const input = b.page.locator('[data-testid=scan-input]');
    await input.fill(text);
    await input.press('Enter');
  };
  const summary = () => b.page.locator('.summary').textContent();
  let victim: Esp32Sim;
  const secondCard = async (): Promise<Esp32Sim> => {
    const port = await b.page.locator('[data-testid=board-card]').nth(1).getAttribute('data-port');
    victim = sims.find((s) => s.hostPath === port)!;
    return victim;
  };

  beforeAll(async () => {
    backend = await startBackend({ broker: 'embedded' });
    for (const mac of ['24:6f:28:e2:c0:01', '24:6f:28:e2:c0:02']) {
      const sim = await startEsp32Sim({ mac, telemetryIntervalMs: 2000 });
      sims.push(sim);
    }
    station = await startTestStation({ dataDir: tmp.path, boards: sims });
    b = await launchBrowser();
    // A missing control fails its step quickly and by name, instead of running out the test's time.
    b.page.setDefaultTimeout(20_000);
    await b.page.goto(station.url);
  }, 180_000);

  afterAll(async () => {
    await b?.close();
    await station?.close();
    await Promise.all(sims.map((s) => s.stop()));
    await backend?.stop();
    tmp.remove();
  });

  it('is configured through Settings and shows both boards ready', async () => {
    await configureRemote(b.page, backend, 'Bruno Lima');
    await createProfile(b.page, backend, { name: 'bench controls', esp32: true });
    await goTo(b.page, 'bench');
    await expect.poll(() => b.page.locator('[data-testid=board-card][data-state=idle]').count(), { timeout: 10_000 }).toBe(2);
  }, 60_000);

  it('takes codes from the scan field: a bad read is refused in place, good ones go to the boards in turn', async () => {
    const { page } = b;
    // Codes go to boards in the order the Bench shows them.
    const ports = await page.locator('[data-testid=board-card]').evaluateAll((els) => els.map((e) => e.getAttribute('data-port')));
    const [a, bb] = ports.map((p) => sims.find((s) => s.hostPath === p)!) as [Esp32Sim, Esp32Sim];
    // A scanner that misreads (a space inside) gets the field marked and the text kept for fixing.
    await scan('GW 0001');
    await expect.poll(() => page.locator('[data-testid=scan-error]').textContent()).toMatch(/1 to 30 letters, digits, - _ or \./);
    expect(await page.locator('[data-testid=scan-input]').inputValue()).toBe('GW 0001');
    expect(await page.locator('[data-testid=scan-input]').getAttribute('aria-invalid')).toBe('true');
    expect(await card(a).getByTestId('board-code').textContent()).toBe('automatic');

    await scan('GW-CTL-0001');
    await expect.poll(() => page.locator('[data-testid=scan-error]').count()).toBe(0);
    await expect.poll(summary).toContain('Code GW-CTL-0001 is on Slot 1');
    await scan('GW-CTL-0002');
    await expect.poll(summary).toContain('Code GW-CTL-0002 is on Slot 2');
    expect(await card(a).textContent()).toContain('GW-CTL-0001');
    expect(await card(bb).textContent()).toContain('GW-CTL-0002');
    // Every board has its code now: a further scan is not silently dropped on one of them.
    await scan('GW-CTL-0003');
    await expect.poll(summary).toContain('No board for GW-CTL-0003: every board has a code.');
    // Selecting a board and scanning replaces its code; "Clear code" takes it back to automatic.
    await cardButton(card(bb), 'Select').click();
    await scan('GW-CTL-0099');
    await expect.poll(() => card(bb).textContent()).toContain('GW-CTL-0099');
    await cardButton(card(bb), 'Clear code').click();
    await expect.poll(() => card(bb).textContent()).toContain('automatic');
    await cardButton(card(bb), 'Select').click();
    await scan('GW-CTL-0002');
    await expect.poll(() => card(bb).textContent()).toContain('GW-CTL-0002');
  });

  it('cancels one board mid-flash without touching the other, and its retry goes online with the scanned code', async () => {
    const { page } = b;
    const victim = await secondCard();
    // Every erased sector takes 100 ms: the flash step lasts long enough to press Cancel in it.
    await victim.sendControl('FAULT slow-erase=100');
    await cardButton(card(victim), 'Provision').click();
    await card(victim).locator('.board__step', { hasText: 'Flash firmware and config' }).waitFor({ timeout: 60_000 });
    await cardButton(card(victim), 'Stop').click();
    // The flash stops at once: the card says so within seconds, and the board's data partition
    // (written last) was never reached.
    await expect.poll(() => card(victim).getAttribute('data-state'), { timeout: 10_000 }).toBe('cancelled');
    expect([...victim.readFlash(0x310000, 4096)].every((x) => x === 0xff)).toBe(true);
    expect(await card(sims.find((x) => x !== victim)!).getAttribute('data-state')).toBe('idle');
    const cancelled = (await invoke(station, 'jobs.list')).find((j) => j.mac === victim.mac)!;
    expect(cancelled.state).toBe('cancelled');
    expect(cancelled.steps.find((s) => s.name === 'flash')?.status).not.toBe('done');

    await victim.sendControl('FAULT clear slow-erase');
    await cardButton(card(victim), 'Retry').click();
    await expect.poll(() => card(victim).getAttribute('data-state'), { timeout: 180_000, interval: 1000 }).toMatch(/succeeded|failed|waiting-input/);
    const jobs = await invoke(station, 'jobs.list');
    const first = jobs.find((j) => j.mac === victim.mac)!;
    const attempts = jobs.filter((j) => j.id === first.id || j.retryOf === first.id);
    // Say what the retry did if it did not succeed.
    for (const j of attempts) if (j.id !== first.id && j.state !== 'succeeded') console.error(JSON.stringify({ id: j.id, retryOf: j.retryOf, state: j.state, error: j.error, question: j.question, steps: j.steps.map((x) => `${x.name}:${x.status}:${x.detail ?? ''}`) }));
    const retried = attempts.filter((j) => j.state === 'succeeded');
    expect(retried).toHaveLength(1);
    const gw = (await backend.server.client('operator').listGateways({ mac: victim.mac })).results;
    expect(gw).toHaveLength(1);
    expect(gw[0]!.codigo).toBe('GW-CTL-0002');
    expect(gw[0]!.active_certificate?.serial_number.toLowerCase()).toBe(retried[0]!.certificateSerial!.toLowerCase());
    expect(gw[0]!.active_certificate?.is_revoked).toBe(false);
    await victim.waitForLog(/mqtt connected/, 10_000);
    expect(await page.locator('[data-testid=board-card][data-state=succeeded]').count()).toBe(1);
  }, 300_000);

  it('shows a board’s serial output live in its console: provisioning log, then a reset’s boot log', async () => {
    const { page } = b;
    const board = sims.find((x) => x !== victim)!;
    await cardButton(card(board), 'Provision').click();
    await expect.poll(() => card(board).getAttribute('data-state'), { timeout: 180_000, interval: 1000 }).toMatch(/succeeded|failed/);
    expect(await card(board).getAttribute('data-state')).toBe('succeeded');
    await cardButton(card(board), 'Console').click();
    const consoleEl = page.locator('dialog[open] [data-testid=console]');
    await consoleEl.waitFor();
    const before = (await consoleEl.textContent()) ?? '';
    // The job's own record comes first (the boot log it read after flashing) …
    expect(before).toMatch(/entry 0x[0-9a-f]{8}/);
    // … then what the board prints now: press its EN button and watch the boot log arrive.
    const boots = (t: string): number => t.match(/rst:0x[0-9a-f]+ /g)?.length ?? 0;
    await board.sendControl('RESET');
    await expect.poll(async () => boots((await consoleEl.textContent()) ?? ''), { timeout: 20_000 }).toBeGreaterThan(boots(before));
    await expect.poll(async () => (await consoleEl.textContent()) ?? '', { timeout: 20_000 }).toMatch(new RegExp(`mqtt: connecting to mqtts://[^\\n]+ as ${board.mac}[\\s\\S]*$`));
    await page.locator('dialog[open]').getByRole('button', { name: /^Close/ }).click();
    await consoleEl.waitFor({ state: 'detached' });
    // With the console closed the station has let go of the port: another program can open it.
    const other = new SerialPortLink(board.hostPath);
    await other.open({ baudRate: 115200 });
    await other.close();
    expect(await page.locator('[data-testid=board-card][data-state=succeeded]').count()).toBe(2);
  }, 240_000);
});
