import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Command, InvalidArgumentError } from 'commander';
import { defaultDataDir } from '../log/paths.js';
import { openBrowserPrivately } from '../web/open-browser.js';
import { startWebStation } from '../web/web-station.js';

function stationVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a port number from 0 to 65535');
  return n;
}

/** `tds-station serve`: the station core and its UI for a browser on this machine (127.0.0.1 only). */
export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run the station and serve its UI to a browser on 127.0.0.1 (prints a URL with a one-time access token)')
    .option('--port <port>', 'HTTP port on 127.0.0.1 (0 = any free port)', port, 0)
    .option('--data-dir <dir>', 'station data folder (settings, secrets, log, bundled server)', defaultDataDir())
    .option('--open', 'open the URL in the default browser')
    .action(async (opts: { port: number; dataDir: string; open?: boolean }) => {
      const dataDir = path.resolve(opts.dataDir);
      // The station core runs in a child process of this one (see src/main/core).
      const ws = await startWebStation({ dataDir, version: stationVersion(), bundledServer: true, discovery: 'mdns', port: opts.port });
      console.log(`TDS station UI: ${ws.url}`);
      console.log('(the token in the link is the only key to this station; do not share it)');
      // Never as an argument: every local user can read a process's argv.
      if (opts.open) await openBrowserPrivately(ws.url);
      let closing = false;
      const stop = (): void => {
        if (closing) return;
        closing = true;
        console.log('stopping…');
        ws.close().then(
          () => process.exit(0),
          (err: unknown) => {
            console.error(err);
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
}
