/**
 * Web-mode UI benchmark (npx tsx bench/ui-web.ts, after npm run build):
 *  1. navigation → Bench interactive (target ≤ 1 s): from page.goto to the scan field focused and
 *     every board card drawn, over several fresh loads;
 *  2. renderer bundle size, gzipped (target ≤ 500 KB), total and first load;
 *  3. responsiveness while 8 simulated boards flash in parallel (target: no frame over 100 ms),
 *     from requestAnimationFrame gaps and Long Tasks observed in Chromium for the whole batch.
 * The station is web mode as shipped: the real core in its own process (bundled server, embedded
 * broker, simulated boards through a device-source module), the web UI in this one.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { randomBytes } from 'node:crypto';
import { defaultRendererDir, startWebStation } from '../src/main/web/web-station.js';
import { startEsp32Sim, type Esp32Sim } from '../test/sim/esp32/launch.js';
import { invoke, SIM_SOURCE_MODULE } from '../test/support/station-core.js';
import { freePort } from '../test/support/ports.js';
import { tempDir } from '../test/support/temp.js';

const { values: opts } = parseArgs({ options: { boards: { type: 'string', default: '8' }, loads: { type: 'string', default: '7' }, realistic: { type: 'boolean', default: false } } });
const BOARDS = Number(opts.boards);
const LOADS = Number(opts.loads);
const ROOT = path.resolve(import.meta.dirname, '..');

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function bundleSize(): { totalGz: number; firstLoadGz: number; files: number } {
  const dir = defaultRendererDir();
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const f of readdirSync(d)) {
      const p = path.join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(js|css|html)$/.test(f)) files.push(p);
    }
  };
  walk(dir);
  const gz = (f: string): number => gzipSync(readFileSync(f), { level: 9 }).length;
  const totalGz = files.reduce((n, f) => n + gz(f), 0);
  // First load: index.html and what it references directly (lazy screen chunks come later).
  const html = readFileSync(path.join(dir, 'index.html'), 'utf8');
  const direct = [...html.matchAll(/(?:src|href)="\.?\/?(assets\/[^"]+)"/g)].map((m) => path.join(dir, m[1]!));
  const firstLoadGz = gz(path.join(dir, 'index.html')) + direct.reduce((n, f) => n + gz(f), 0);
  return { totalGz, firstLoadGz, files: files.length };
}

const data = tempDir('tds-bench-ui-');
const sims: Esp32Sim[] = await Promise.all(
  Array.from({ length: BOARDS }, (_, i) => startEsp32Sim({ mac: `24:6f:28:be:00:${String(i + 1).padStart(2, '0')}`, throttle: opts.realistic, telemetryIntervalMs: 10_000 })),
);
const ws = await startWebStation({
  dataDir: data.path,
  version: 'bench',
  bundledServer: true,
  caPassphrase: randomBytes(24).toString('base64url'),
  keychain: null,
  discovery: 'none',
  deviceSourceModule: SIM_SOURCE_MODULE,
  deviceSourceOptions: { boards: sims.map((s) => ({ hostPath: s.hostPath, controlPath: s.controlPath, mac: s.mac })) },
  jobOverrides: { bootLogMs: 500 },
});
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
try {
  await invoke(ws, 'firstRun.run', { accountName: 'Bench', operator: 'bench', startBroker: true, brokerPort: await freePort(), deviceBrokerHost: '127.0.0.1' });
  const s = await invoke(ws, 'settings.get');
  await invoke(ws, 'profiles.save', {
    profile: {
      name: 'bench',
      accountId: s.server.accountId ?? 1,
      codeTemplate: 'GW-{mac12}',
      nameTemplate: 'Gateway {MAC12}',
      brokerHost: '127.0.0.1',
      brokerPort: s.broker.port,
      keyType: 'ec',
      keyMode: 'station',
      esp32: { bundlePath: path.join(ROOT, 'test/fixtures/bundle-arduino'), wifiSsid: 'bench', wifiPassword: 'bench-pass-1', resetMode: 'auto', onlineTimeoutSec: 120 },
    },
  });

  // 1. navigation → Bench interactive
  const times: number[] = [];
  for (let i = 0; i < LOADS; i++) {
    const ctx = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    const page = await ctx.newPage();
    const t0 = Date.now();
    await page.goto(ws.url);
    await page.waitForFunction((n) => document.activeElement?.getAttribute('data-testid') === 'scan-input' && document.querySelectorAll('[data-testid=board-card]').length === n, BOARDS);
    times.push(Date.now() - t0);
    await ctx.close();
  }

  // 3. responsiveness during a batch of BOARDS boards
  const ctx = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  const page = await ctx.newPage();
  await page.goto(ws.url);
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=board-card]').length === n, BOARDS);
  // Plain-text script: tsx would wrap named functions in a helper the page does not have.
  await page.evaluate(`(() => {
    window.__frames = []; window.__long = []; window.__stop = false;
    new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__long.push(e.duration); }).observe({ type: 'longtask', buffered: false });
    let last = performance.now();
    const tick = (now) => { window.__frames.push(now - last); last = now; if (!window.__stop) requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
  })()`);
  const t0 = Date.now();
  await page.locator('[data-testid=scan-input]').press('Enter');
  await page.waitForFunction(
    (n) => document.querySelectorAll('[data-testid=board-card][data-state=succeeded], [data-testid=board-card][data-state=failed]').length === n,
    BOARDS,
    { timeout: 600_000, polling: 500 },
  );
  const batchMs = Date.now() - t0;
  const { frames, long } = (await page.evaluate('(() => { window.__stop = true; return { frames: window.__frames, long: window.__long }; })()')) as { frames: number[]; long: number[] };
  const states = await page.$$eval('[data-testid=board-card]', (els) => els.map((e) => e.getAttribute('data-state')));
  const sorted = [...frames].sort((a, b) => a - b);
  const p99 = sorted[Math.floor(sorted.length * 0.99)] ?? 0;
  const size = bundleSize();

  const kb = (n: number): string => `${(n / 1024).toFixed(1)} KB`;
  console.log(`\nWeb-mode UI benchmark (${BOARDS} simulated boards${opts.realistic ? ', wire-rate' : ''}, Chromium ${browser.version()})`);
  console.log(`  navigation → Bench interactive: median ${median(times)} ms, max ${Math.max(...times)} ms over ${LOADS} loads   (target ≤ 1000 ms)`);
  console.log(`  renderer bundle: first load ${kb(size.firstLoadGz)} gzipped, all ${size.files} files ${kb(size.totalGz)} gzipped   (target ≤ 500 KB)`);
  console.log(`  batch of ${BOARDS}: ${(batchMs / 1000).toFixed(1)} s, results ${JSON.stringify(states.reduce<Record<string, number>>((m, s2) => ({ ...m, [s2 ?? '?']: (m[s2 ?? '?'] ?? 0) + 1 }), {}))}`);
  console.log(`  frames during the batch: ${frames.length}, longest ${Math.max(...frames).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, over 100 ms: ${frames.filter((f) => f > 100).length}   (target: none over 100 ms)`);
  console.log(`  long tasks (> 50 ms): ${long.length}${long.length ? `, longest ${Math.max(...long).toFixed(1)} ms` : ''}`);
  await ctx.close();
} finally {
  await browser.close();
  await ws.close();
  await Promise.all(sims.map((s2) => s2.stop()));
  data.remove();
}
