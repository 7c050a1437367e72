import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startProcess, type StartedProcess } from '../support/processes.js';
import { tempDir } from '../support/temp.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CLI = path.join(ROOT, 'dist/station/main/cli/index.js');

// `tds-station serve` as users run it: the compiled CLI (npm run build), its printed URL, the UI and
// the contract behind it, and a clean stop on SIGTERM.
describe('tds-station serve (compiled)', () => {
  const data = tempDir('tds-serve-');
  let proc: StartedProcess | undefined;
  afterAll(async () => {
    await proc?.stop();
    data.remove();
  });

  it('prints a tokenised 127.0.0.1 URL, serves the UI and the contract, stops cleanly', async () => {
    expect(existsSync(CLI), `${CLI} missing: run "npm run build" first`).toBe(true);
    proc = startProcess('tds-station serve', process.execPath, [CLI, 'serve', '--data-dir', data.path, '--port', '0'], { env: { ...process.env, NO_COLOR: '1' } });
    const m = await proc.waitForOutput(/TDS station UI: (http:\/\/127\.0\.0\.1:(\d+)\/#token=([A-Za-z0-9_-]+))/, 30_000);
    const [, , port, token] = m as unknown as [string, string, string, string];
    const page = await fetch(`http://127.0.0.1:${port}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<div id="root">');
    const info = await new Promise<unknown>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${token}`, { headers: { origin: `http://127.0.0.1:${port}` } });
      ws.once('error', reject);
      ws.once('open', () => ws.send(JSON.stringify({ t: 'req', id: 1, ch: 'app.info' })));
      ws.on('message', (d) => {
        const f = JSON.parse(d.toString()) as { t: string; r?: unknown };
        if (f.t === 'res') {
          ws.close();
          resolve(f.r);
        }
      });
    });
    expect(info).toMatchObject({ ok: true, value: { shell: 'web', dataDir: data.path, features: { bundledServer: true } } });
    proc.child.kill('SIGTERM');
    expect(await proc.exited()).toBe(0);
    expect(proc.output()).toContain('stopping');
  }, 60_000);
});
