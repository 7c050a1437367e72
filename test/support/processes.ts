import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/**
 * Child processes started by tests. Every process is started in its own process group and is
 * stopped by PID (the whole group) when the test asks, when the worker exits, or on a crash,
 * so a failing test leaves nothing running.
 */
export interface StartedProcess {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Resolves with the first match of `pattern` in the output (already seen or future). */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited(): Promise<number | string>;
  /** SIGTERM the group, then SIGKILL after `graceMs`; resolves when it is gone. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL the group now. */
  kill(): Promise<void>;
}

const running = new Set<StartedProcess>();

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

process.once('exit', () => {
  for (const p of running) killGroup(p.pid, 'SIGKILL');
});

export function startProcess(
  name: string,
  command: string,
  args: readonly string[],
  options: SpawnOptions = {},
): StartedProcess {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], ...options, detached: true });
  if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`);
  const pid = child.pid;
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer): void => {
    out += chunk.toString('utf8');
    if (out.length > 4_000_000) out = out.slice(-2_000_000);
    for (const l of listeners) l();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  let exitValue: number | string | undefined;
  const exitPromise = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      exitValue = code ?? signal ?? 'unknown';
      running.delete(handle);
      for (const l of listeners) l();
      resolve(exitValue);
    });
  });
  child.once('error', (err) => {
    out += `\n[spawn error] ${err.message}\n`;
  });

  const handle: StartedProcess = {
    name,
    pid,
    child,
    output: () => out,
    exited: () => exitPromise,
    waitForOutput(pattern, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const m = out.match(pattern);
          if (m) {
            cleanup();
            resolve(m);
            return true;
          }
          if (exitValue !== undefined) {
            cleanup();
            reject(new Error(`${name} exited (${exitValue}) before printing ${pattern}\n--- output ---\n${out.slice(-4000)}`));
            return true;
          }
          return false;
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`${name}: timed out after ${timeoutMs} ms waiting for ${pattern}\n--- output ---\n${out.slice(-4000)}`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          listeners.delete(listener);
        };
        const listener = (): void => {
          check();
        };
        listeners.add(listener);
        check();
      });
    },
    async stop(graceMs = 5_000) {
      if (exitValue !== undefined) return;
      killGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
      await exitPromise;
      clearTimeout(timer);
      killGroup(pid, 'SIGKILL'); // children of the group that ignored SIGTERM
    },
    async kill() {
      if (exitValue !== undefined) return;
      killGroup(pid, 'SIGKILL');
      await exitPromise;
    },
  };
  running.add(handle);
  return handle;
}

/** Stops every process this worker started and that is still running. */
export async function stopAllProcesses(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop(2_000)));
}

/** Whether a process with this id exists (signal 0 only asks). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
