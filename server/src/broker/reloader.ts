/**
 * How the server tells a broker to re-read its CRL and ACL. Mosquitto reloads both on SIGHUP (to
 * its pid, or through `systemctl reload mosquitto`); the embedded broker swaps them in process.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export type ReloadTarget =
  | { kind: 'none' }
  | { kind: 'pid'; pid: number }
  | { kind: 'pidfile'; path: string }
  | { kind: 'command'; argv: string[] };

/**
 * Parses `none`, `pid:1234`, `pidfile:/run/mosquitto/mosquitto.pid` or `command:systemctl reload mosquitto`
 * (a command is split on spaces and run without a shell).
 */
export function parseReloadTarget(spec: string): ReloadTarget {
  const s = spec.trim();
  if (s === 'none' || s === '') return { kind: 'none' };
  const idx = s.indexOf(':');
  const kind = idx < 0 ? s : s.slice(0, idx);
  const value = idx < 0 ? '' : s.slice(idx + 1).trim();
  if (kind === 'pid' && /^[1-9][0-9]*$/.test(value)) return { kind: 'pid', pid: Number(value) };
  if (kind === 'pidfile' && value.startsWith('/')) return { kind: 'pidfile', path: value };
  if (kind === 'command' && value.length > 0) return { kind: 'command', argv: value.split(/\s+/) };
  throw new Error(
    `invalid broker reload '${spec}': use none, pid:<pid>, pidfile:/absolute/path or command:<program args>`,
  );
}

export function formatReloadTarget(t: ReloadTarget): string {
  switch (t.kind) {
    case 'none':
      return 'none';
    case 'pid':
      return `pid:${t.pid}`;
    case 'pidfile':
      return `pidfile:${t.path}`;
    case 'command':
      return `command:${t.argv.join(' ')}`;
  }
}

async function pidFromFile(file: string): Promise<number> {
  const text = (await readFile(file, 'utf8')).trim();
  if (!/^[1-9][0-9]*$/.test(text)) throw new Error(`pid file ${file} does not contain a process id`);
  return Number(text);
}

/** The broker's process id when the reload goes to one (pid or pid file); undefined for none/command. */
export async function pidOf(t: ReloadTarget): Promise<number | undefined> {
  if (t.kind === 'pid') return t.pid;
  if (t.kind === 'pidfile') return pidFromFile(t.path);
  return undefined;
}

/** False when the reload goes to a pid (file) that names no running process: a broker not started yet. */
export async function brokerRunning(t: ReloadTarget): Promise<boolean> {
  if (t.kind !== 'pid' && t.kind !== 'pidfile') return t.kind === 'command';
  const pid = await pidOf(t).catch(() => undefined);
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, owned by someone else
  }
}

/** Sends the reload; throws with a message that says what to fix when it cannot. */
export async function reloadBroker(t: ReloadTarget): Promise<void> {
  switch (t.kind) {
    case 'none':
      return;
    case 'pid':
    case 'pidfile': {
      const pid = (await pidOf(t))!;
      try {
        process.kill(pid, 'SIGHUP');
      } catch (err) {
        throw new Error(`could not send SIGHUP to broker pid ${pid}: ${(err as Error).message}`);
      }
      return;
    }
    case 'command': {
      const [cmd, ...args] = t.argv;
      try {
        await execFileP(cmd!, args, { timeout: 15_000 });
      } catch (err) {
        throw new Error(`broker reload command '${t.argv.join(' ')}' failed: ${(err as Error).message}`);
      }
      return;
    }
  }
}
