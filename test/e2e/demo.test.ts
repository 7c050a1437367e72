/**
 * `npm run demo` is the first thing a newcomer tries: the script starts the bundled server, the
 * embedded broker, simulated boards and a simulated Pi, prints a URL; Enter on the Bench provisions
 * every board to online; Ctrl+C stops everything and deletes the demo's data.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startProcess, type StartedProcess } from '../support/processes.js';
import { launchBrowser, type TestBrowser } from './support/browser.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

describe('npm run demo', () => {
  let demo: StartedProcess | undefined;
  let browser: TestBrowser | undefined;
  afterAll(async () => {
    await browser?.close();
    await demo?.stop();
  });

  it('prints a URL; Enter provisions both boards to online; the Pi is listed; Ctrl+C cleans up', async () => {
    demo = startProcess('demo', process.execPath, ['--import', 'tsx', 'scripts/demo.ts', '--boards', '2'], { cwd: ROOT });
    const [, url] = await demo.waitForOutput(/Open: (http:\/\/127\.0\.0\.1:\d+\/#token=[\w-]+)/, 90_000);
    const [, keyFile] = await demo.waitForOutput(/key file (\S+) \(/, 5_000);
    const dataDir = path.dirname(keyFile!);
    expect(existsSync(dataDir)).toBe(true);

    browser = await launchBrowser();
    const { page } = browser;
    await page.goto(url!);
    // As a person would: both boards on screen and the cursor in the scan field, then Enter.
    await expect.poll(() => page.locator('[data-testid=board-card]').count(), { timeout: 20_000 }).toBe(2);
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute('data-testid')), { timeout: 10_000 }).toBe('scan-input');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.getByText(/^Passed$/).count(), { timeout: 60_000, interval: 500 }).toBe(2);
    await page.getByText('24:6f:28:de:00:01').first().waitFor({ state: 'visible' });
    await page.getByText('24:6f:28:de:00:02').first().waitFor({ state: 'visible' });

    await page.getByRole('link', { name: /^Field$/ }).or(page.getByRole('button', { name: /^Field$/ })).first().click();
    await page.getByText(/Simulated Pi/).first().waitFor({ state: 'visible', timeout: 10_000 });
    await browser.close();
    browser = undefined;

    demo.child.kill('SIGINT');
    expect(await demo.exited()).toBe(0);
    expect(demo.output()).toMatch(/stopping the demo/);
    expect(existsSync(dataDir)).toBe(false);
  }, 180_000);
});
