import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { CoreLauncher } from './supervisor.js';

export interface ForkLauncherOptions {
  /** The core's entry; default: core-main next to this file (.js when built, .ts from the sources). */
  entry?: string;
  /** Node options of the child; default: this process's, plus the TypeScript loader for a .ts entry. */
  execArgv?: string[];
  /** Environment of the child (default: this process's). Secrets go in the start message, never here. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Node options to run the core from its TypeScript sources (tests, the demo): tsx's loader, and the
 * workspace packages' "source" condition, as the test runner resolves them.
 */
function sourceExecArgv(): string[] {
  const loader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return ['--import', loader, '--conditions=source'];
}

/** The default core entry: core-main.js next to this module, or core-main.ts when run from the sources. */
export function defaultCoreEntry(): { entry: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.ts')) return { entry: path.join(path.dirname(here), 'core-main.ts'), execArgv: sourceExecArgv() };
  return { entry: path.join(path.dirname(here), 'core-main.js'), execArgv: process.execArgv };
}

/**
 * Web mode's launcher: the core as a Node child process (child_process.fork) with an IPC channel.
 * Messages are structured clones, as Electron's utilityProcess sends them, so the same supervisor
 * and core code run behind both. Nothing but the entry and Node's own options goes into argv.
 */
export function forkLauncher(options: ForkLauncherOptions = {}): CoreLauncher {
  const d = defaultCoreEntry();
  const entry = options.entry ?? d.entry;
  const execArgv = options.execArgv ?? (options.entry?.endsWith('.ts') ? sourceExecArgv() : d.execArgv);
  return () => {
    const child = fork(entry, [], {
      execArgv,
      env: options.env ?? process.env,
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    // A failed spawn shows as an exit; the supervisor reports it.
    child.on('error', () => undefined);
    return {
      get pid() {
        return child.pid;
      },
      send(message) {
        if (child.connected) child.send(message, (err) => void err);
      },
      onMessage(listener) {
        child.on('message', listener);
      },
      onExit(listener) {
        child.once('exit', (code, signal) => listener(code, signal));
      },
      kill(signal) {
        try {
          child.kill(signal);
        } catch {
          /* already gone */
        }
      },
    };
  };
}
