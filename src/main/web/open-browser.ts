import { spawn } from 'node:child_process';
import { promises as fs, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export interface OpenBrowserOptions {
  /** The opener command (default: xdg-open, open on macOS, start on Windows). */
  command?: string;
  /** How long the redirect page stays before it is deleted (default 60 s: a cold browser start). */
  keepMs?: number;
  /** Where the private folder goes (default: the OS temp folder). */
  tmpDir?: string;
}

export interface OpenedBrowser {
  /** The redirect page handed to the opener (deleted after `keepMs`, or when this process exits). */
  file: string;
  /** Deletes the page now (idempotent). */
  remove(): void;
}

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * Opens `url` in the default browser without putting it into any process's argv, where every local
 * user can read it (`ps`, /proc/PID/cmdline): the URL carries the station's access token. The opener
 * gets the path of a page that redirects to the URL, written 0600 in a fresh 0700 folder, and the
 * page is deleted once the browser has had time to read it.
 */
export async function openBrowserPrivately(url: string, options: OpenBrowserOptions = {}): Promise<OpenedBrowser> {
  const dir = await fs.mkdtemp(path.join(options.tmpDir ?? os.tmpdir(), 'tds-open-'));
  await fs.chmod(dir, 0o700);
  const file = path.join(dir, 'open.html');
  const page = [
    '<!doctype html>',
    '<meta charset="utf-8">',
    '<meta name="referrer" content="no-referrer">',
    `<meta http-equiv="refresh" content="0;url=${escapeHtml(url)}">`,
    '<title>TDS Provisioning Station</title>',
    `<script>location.replace(${JSON.stringify(url).replace(/</g, '\\u003c')})</script>`,
    `<p><a href="${escapeHtml(url)}">Open the TDS Provisioning Station</a></p>`,
  ].join('\n');
  await fs.writeFile(file, page, { mode: 0o600, flag: 'wx' });

  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    clearTimeout(timer);
    process.off('exit', remove);
    rmSync(dir, { recursive: true, force: true });
  };
  const timer = setTimeout(remove, options.keepMs ?? 60_000);
  timer.unref();
  process.once('exit', remove);

  const win = process.platform === 'win32';
  const command = options.command ?? (process.platform === 'darwin' ? 'open' : win ? 'cmd' : 'xdg-open');
  const args = !options.command && win ? ['/c', 'start', '', file] : [pathToFileURL(file).href];
  const child = spawn(command, args, { stdio: 'ignore', detached: true });
  child.on('error', () => console.error('could not open a browser; open the URL printed above yourself'));
  child.unref();
  return { file, remove };
}
