import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { tempDir } from '../../support/temp.js';
import { requireTool } from '../../support/tools.js';

const ROOT = path.resolve(import.meta.dirname, '../../..');

export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  /** Where downloads are saved. */
  downloads: string;
  close(): Promise<void>;
}

/**
 * Debian's Chromium through playwright-core (never `playwright install`), fresh profile per run.
 * `locale` sets navigator.language, i.e. what the UI follows in "auto" language mode; `args` are more
 * Chromium switches (e.g. a fake camera), `permissions` are granted to every origin.
 */
export async function launchBrowser(options: { locale?: string; args?: string[]; permissions?: string[] } = {}): Promise<TestBrowser> {
  const executablePath = requireTool('chromium', 'chromium');
  const profile = tempDir('tds-chromium-');
  const downloads = path.join(profile.path, 'downloads');
  mkdirSync(downloads);
  // A persistent context is how playwright takes a fresh --user-data-dir.
  const context = await chromium.launchPersistentContext(path.join(profile.path, 'chrome'), {
    executablePath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', ...(options.args ?? [])],
    ...(options.permissions ? { permissions: options.permissions } : {}),
    viewport: { width: 1360, height: 900 },
    locale: options.locale ?? 'en-US',
    acceptDownloads: true,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  return {
    context,
    page,
    downloads,
    async close() {
      await context.close().catch(() => undefined);
      profile.remove();
    },
  };
}

/**
 * Screenshots for the README go to docs/screenshots/ only when TDS_SCREENSHOTS=1 (a normal test run
 * writes nothing outside temp folders); otherwise into `fallbackDir`.
 */
export async function screenshot(page: Page, name: string, fallbackDir: string, options: { fullPage?: boolean } = {}): Promise<string> {
  const dir = process.env.TDS_SCREENSHOTS === '1' ? path.join(ROOT, 'docs/screenshots') : fallbackDir;
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.png`);
  // The top bar is sticky: scroll to the top so a full-page shot has it where it belongs.
  if (options.fullPage) await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: file, fullPage: options.fullPage ?? false, animations: 'disabled', caret: 'hide' });
  return file;
}

/** Clicks and saves the download it starts; returns the saved path. */
export async function download(page: Page, click: () => Promise<void>, dir: string): Promise<string> {
  const [dl] = await Promise.all([page.waitForEvent('download'), click()]);
  const file = path.join(dir, dl.suggestedFilename());
  await dl.saveAs(file);
  return file;
}
