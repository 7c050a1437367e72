import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { _electron as electron } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/temp.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

/**
 * The Electron binary, found without the electron package's own lookup (which downloads it when
 * missing): ELECTRON_OVERRIDE_DIST_PATH, or node_modules/electron/path.txt + dist/.
 */
function electronBinary(): { path?: string; reason?: string } {
  const override = process.env.ELECTRON_OVERRIDE_DIST_PATH;
  const pkg = path.join(ROOT, 'node_modules/electron');
  if (override) {
    const p = path.join(override, process.platform === 'win32' ? 'electron.exe' : 'electron');
    return existsSync(p) ? { path: p } : { reason: `ELECTRON_OVERRIDE_DIST_PATH has no electron binary (${p})` };
  }
  const pathTxt = path.join(pkg, 'path.txt');
  if (!existsSync(pathTxt)) return { reason: 'the Electron binary is not installed (node_modules/electron/path.txt missing; its download is blocked here)' };
  const bin = path.join(pkg, 'dist', readFileSync(pathTxt, 'utf8').trim());
  return existsSync(bin) ? { path: bin } : { reason: `the Electron binary is missing (${bin})` };
}

const found = electronBinary();

describe('Electron shell', () => {
  if (!found.path) {
    console.warn(`[electron] launch test skipped: ${found.reason}. Install Electron (npm i electron, network allowed) and run "npm run app:rebuild-native" to run it.`);
    it.skip(`launches the app (skipped: ${found.reason})`, () => undefined);
    return;
  }
  const data = tempDir('tds-electron-');
  afterAll(() => data.remove());

  it('launches: single window, sandboxed renderer without Node, strict CSP, contract over IPC', async () => {
    execFileSync('npx', ['electron-vite', 'build'], { cwd: ROOT, stdio: 'ignore' });
    const app = await electron.launch({
      executablePath: found.path,
      args: [path.join(ROOT, 'out/main/index.js'), '--no-sandbox'],
      env: { ...process.env, TDS_STATION_DATA: data.path },
      timeout: 60_000,
    });
    try {
      const page = await app.firstWindow();
      // First run: the wizard is drawn from data the core sent over IPC (app.info, settings).
      await page.getByRole('heading', { name: /Set up this station|Configure esta estação/ }).waitFor({ timeout: 30_000 });
      expect(await page.evaluate(() => typeof (window as unknown as { require?: unknown }).require)).toBe('undefined');
      expect(await page.evaluate(() => typeof (globalThis as unknown as { process?: unknown }).process)).toBe('undefined');
      expect(await page.evaluate(() => Object.keys((window as unknown as { tdsStation: object }).tdsStation).sort())).toEqual(['invoke', 'on']);
      expect(await page.evaluate(() => location.origin)).toBe('app://station');
      // No 'unsafe-eval' in the CSP: eval is refused.
      expect(await page.evaluate(() => { try { return String(eval('1 + 1')); } catch { return 'blocked'; } })).toBe('blocked');
      const info = await page.evaluate(() => (window as unknown as { tdsStation: { invoke(c: string, r: unknown): Promise<unknown> } }).tdsStation.invoke('app.info', undefined));
      expect(info).toMatchObject({ ok: true, value: { shell: 'electron', dataDir: data.path } });
      const refused = await page.evaluate(() => (window as unknown as { tdsStation: { invoke(c: string, r: unknown): Promise<unknown> } }).tdsStation.invoke('nope', {}));
      expect(refused).toMatchObject({ ok: false, error: { code: 'UNKNOWN_CHANNEL' } });
      expect(app.windows()).toHaveLength(1);
    } finally {
      await app.close();
    }
  }, 120_000);
});
