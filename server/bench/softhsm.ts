/**
 * A throwaway SoftHSM2 token for benchmarks: its own config and token folder under `dir`, one token
 * initialised with softhsm2-util. The PIN is a benchmark value, not a secret.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

export function benchToken(dir: string, label: string, pin: string): { env: { SOFTHSM2_CONF: string }; modulePath: string } {
  const tokens = path.join(dir, 'softhsm-tokens');
  mkdirSync(tokens, { recursive: true, mode: 0o700 });
  const conf = path.join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  const env = { SOFTHSM2_CONF: conf };
  try {
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--so-pin', `${pin}${pin}`, '--pin', pin], { env: { ...process.env, ...env }, stdio: 'pipe' });
  } catch (err) {
    throw new Error(`softhsm2-util --init-token failed (apt-get install softhsm2): ${(err as Error).message}`);
  }
  return { env, modulePath: SOFTHSM_MODULE };
}
