import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Absolute path of an executable on PATH (or in the sbin folders Debian uses), or undefined. */
export function which(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin', '/usr/local/sbin'])) {
    const p = `${dir}/${command}`;
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

/**
 * The README's test command installs every tool the tests use (scripts/ensure-test-deps.sh), so a
 * missing one is an error that says how to fix it, not a silent skip.
 */
export function requireTool(command: string, debianPackage: string): string {
  const p = which(command);
  if (!p) {
    throw new Error(
      `'${command}' is not installed. Run scripts/ensure-test-deps.sh (or apt-get install ${debianPackage}).`,
    );
  }
  return p;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export function commandOutput(command: string, args: readonly string[]): string {
  return execFileSync(command, args, { encoding: 'utf8' });
}
