import { localText } from '../../shared/local-text.js';
import { JobFailure } from '../jobs/job-failure.js';
import type { ExecOptions, ExecResult, SshSession } from './ssh-session.js';

/** POSIX single-quoting: the remote shell sees exactly this one word. */
export function shQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export function shCommand(argv: readonly string[]): string {
  return argv.map(shQuote).join(' ');
}

/** How privileged commands are run: directly (root), `sudo -n`, or `sudo -S` with a password on stdin. */
export type Privilege = { kind: 'root' } | { kind: 'sudo-nopasswd' } | { kind: 'sudo-password'; password: string } | { kind: 'none' };

export interface RunOptions extends Omit<ExecOptions, 'stdin'> {
  privileged?: boolean;
  stdin?: string;
  /** What this command does, for error messages ("install the agent"). */
  what: string;
}

/**
 * Commands on the Pi through one SSH session. Privileged commands go through sudo unless logged in as
 * root; a sudo password is written to sudo's stdin (never on a command line, never logged).
 */
export class RemoteShell {
  constructor(
    readonly session: SshSession,
    private privilege: Privilege,
  ) {}

  setPrivilege(p: Privilege): void {
    this.privilege = p;
  }

  get privilegeKind(): Privilege['kind'] {
    return this.privilege.kind;
  }

  /** Runs argv; resolves with the result whatever the exit code. */
  async exec(argv: readonly string[], options: RunOptions): Promise<ExecResult> {
    const { privileged, stdin, what: _what, ...rest } = options;
    let command = shCommand(argv);
    let input = stdin;
    if (privileged) {
      switch (this.privilege.kind) {
        case 'root':
          break;
        case 'sudo-nopasswd':
          command = `sudo -n -- ${command}`;
          break;
        case 'sudo-password':
          // -k: never rely on a cached timestamp, so the password given is always the one checked.
          command = `sudo -S -k -p '' -- ${command}`;
          input = `${this.privilege.password}\n${stdin ?? ''}`;
          break;
        case 'none':
          throw new JobFailure('REMOTE_COMMAND_FAILED', `${options.what} needs root, and this user may not use sudo.`, {
            hint: 'Log in as a user with sudo rights (the Pi OS first user has them), or as root.',
            text: localText('core:pi.error.needsRoot', { user: this.session.target.username }),
            hintText: localText('core:pi.error.needsRootHint'),
          });
      }
    }
    return this.session.exec(command, { ...rest, ...(input !== undefined ? { stdin: input } : {}) });
  }

  /** Runs argv and fails the job with the command's own error text when it exits non-zero. */
  async run(argv: readonly string[], options: RunOptions): Promise<string> {
    const r = await this.exec(argv, options);
    if (r.code !== 0) {
      const text = cleanErr(r.stderr) || r.stdout.trim().split('\n').slice(-3).join(' ');
      throw new JobFailure('REMOTE_COMMAND_FAILED', `Could not ${options.what} on the Pi (exit ${r.code ?? r.signal}): ${text.slice(0, 600)}`, {
        text: localText('core:pi.error.remoteCommand', { code: String(r.code ?? r.signal ?? '?'), output: text.slice(0, 600) }),
        // `sh SCRIPT SUBCOMMAND` names the script's action; an inline script (`sh -c`, `sh -s`) is said by `what`.
        ...(argv[0] !== 'sh' ? { where: argv[0] } : argv[1]?.startsWith('-') ? {} : { where: argv.slice(1, 3).join(' ') }),
      });
    }
    return r.stdout;
  }
}

function cleanErr(stderr: string): string {
  return stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^\[sudo\]/.test(l))
    .join(' ')
    .replace(/^ERROR:\s*/, '');
}

/** Checks a sudo password once (`sudo -S -k true`); `wrong` also covers "not in sudoers". */
export async function checkSudoPassword(session: SshSession, password: string, signal?: AbortSignal): Promise<'ok' | 'wrong' | 'not-allowed'> {
  const r = await session.exec(`sudo -S -k -p '' -- true`, { stdin: `${password}\n`, timeoutMs: 20_000, ...(signal ? { signal } : {}) });
  if (r.code === 0) return 'ok';
  if (/not in the sudoers|not allowed to execute|may not run sudo/i.test(r.stderr)) return 'not-allowed';
  return 'wrong';
}
