import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openBrowserPrivately } from '../../src/main/web/open-browser.js';
import { startProcess, type StartedProcess } from '../support/processes.js';
import { tempDir } from '../support/temp.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CLI = path.join(ROOT, 'dist/station/main/cli/index.js');

/** A stand-in for xdg-open that records what it was given: its argv, and the page it was pointed at. */
function fakeOpener(dir: string): { bin: string; record: string } {
  const bin = path.join(dir, 'bin');
  const record = path.join(dir, 'record');
  mkdirSync(bin, { recursive: true });
  mkdirSync(record, { recursive: true });
  const script = [
    '#!/bin/sh',
    'printf "%s\\n" "$@" > "$OPEN_RECORD/argv"',
    'f=$(printf %s "$1" | sed "s|^file://||")',
    'stat -c %a "$f" > "$OPEN_RECORD/file-mode"',
    'stat -c %a "$(dirname "$f")" > "$OPEN_RECORD/dir-mode"',
    'cat "$f" > "$OPEN_RECORD/page"',
    'printf "%s" "$f" > "$OPEN_RECORD/path"',
  ].join('\n');
  writeFileSync(path.join(bin, 'xdg-open'), script);
  chmodSync(path.join(bin, 'xdg-open'), 0o755);
  return { bin, record };
}

async function waitFor(file: string, timeoutMs = 15_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  while (!existsSync(file) || readFileSync(file, 'utf8') === '') {
    if (Date.now() > end) throw new Error(`${file} never written`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return readFileSync(file, 'utf8');
}

/** Every process's command line that contains `text` (what any local user can read in /proc). */
function cmdlinesContaining(text: string): string[] {
  const hits: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(text)) hits.push(`${pid}: ${cmd}`);
    } catch {
      /* gone */
    }
  }
  return hits;
}

// The web mode's URL carries the station's access token. Handed to xdg-open as an argument, it was
// readable by every local user in the process list. Now the opener gets a private redirect page.
describe('tds-station serve --open keeps the access token out of every process\'s argv', () => {
  const tmp = tempDir('tds-open-');
  let proc: StartedProcess | undefined;
  afterAll(async () => {
    await proc?.stop();
    tmp.remove();
  });

  it('hands the opener a 0600 redirect page in a 0700 folder, and deletes it afterwards', async () => {
    const { bin, record } = fakeOpener(path.join(tmp.path, 'unit'));
    const token = 'tok_secret_for_the_unit_case_0123456789abcdef';
    const url = `http://127.0.0.1:5555/#token=${token}`;
    const prevPath = process.env.PATH;
    process.env.PATH = `${bin}:${prevPath}`;
    process.env.OPEN_RECORD = record;
    let opened;
    try {
      opened = await openBrowserPrivately(url, { keepMs: 3000 });
    } finally {
      process.env.PATH = prevPath;
    }
    const argv = await waitFor(path.join(record, 'argv'));
    expect(argv).not.toContain(token);
    expect(argv.trim()).toBe(`file://${opened.file}`);
    expect((await waitFor(path.join(record, 'file-mode'))).trim()).toBe('600');
    expect((await waitFor(path.join(record, 'dir-mode'))).trim()).toBe('700');
    const page = await waitFor(path.join(record, 'page'));
    expect(page).toContain(`<meta http-equiv="refresh" content="0;url=${url}">`);
    expect(page).toContain(`location.replace(${JSON.stringify(url)})`);
    // Gone once the browser has had its time.
    await new Promise((r) => setTimeout(r, 3500));
    expect(existsSync(opened.file)).toBe(false);
    expect(existsSync(path.dirname(opened.file))).toBe(false);
  }, 30_000);

  it('the compiled CLI opens the browser that way: the token is in no process\'s command line', async () => {
    expect(existsSync(CLI), `${CLI} missing: run "npm run build" first`).toBe(true);
    const { bin, record } = fakeOpener(path.join(tmp.path, 'cli'));
    proc = startProcess('tds-station serve --open', process.execPath, [CLI, 'serve', '--data-dir', path.join(tmp.path, 'data'), '--port', '0', '--open'], {
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, OPEN_RECORD: record, NO_COLOR: '1' },
    });
    const m = await proc.waitForOutput(/TDS station UI: (http:\/\/127\.0\.0\.1:\d+\/#token=([A-Za-z0-9_-]+))/, 30_000);
    const [, url, token] = m as unknown as [string, string, string];
    const argv = await waitFor(path.join(record, 'argv'));
    expect(argv).not.toContain(token);
    expect(argv).toMatch(/^file:\/\/.*\/tds-open-[^/]+\/open\.html\n$/);
    expect(await waitFor(path.join(record, 'page'))).toContain(url);
    // Nothing running shows the token: not the opener, not `tds-station serve`, not its core process.
    expect(cmdlinesContaining(token)).toEqual([]);
    proc.child.kill('SIGTERM');
    expect(await proc.exited()).toBe(0);
    // Stopping deletes the page at once.
    expect(existsSync(readFileSync(path.join(record, 'path'), 'utf8'))).toBe(false);
  }, 60_000);
});
