/**
 * Atomic file replacement for files a running broker reads: write a temp file in the same folder,
 * fsync it, give it the old file's owner and mode (so the `mosquitto` user can still read it after a
 * privilege drop), rename it over the target, fsync the folder. A reader sees the old or the new
 * file, never a truncated one.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';

export interface AtomicWriteOptions {
  /** Mode for a new file (an existing file keeps its mode unless `forceMode`). */
  mode?: number;
  forceMode?: boolean;
}

export async function writeFileAtomic(target: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): Promise<void> {
  const dir = path.dirname(target);
  const tmp = path.join(dir, `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  const existing = await fs.stat(target).catch(() => undefined);
  const mode = opts.forceMode || !existing ? (opts.mode ?? 0o644) : existing.mode & 0o7777;
  const fh = await fs.open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(mode); // umask may have narrowed the mode at creation
    if (existing && typeof process.getuid === 'function') {
      // Only root can give a file away; a non-root writer keeps its own ownership.
      if (process.getuid() === 0) await fh.chown(existing.uid, existing.gid);
      else if (existing.uid === process.getuid()) await fh.chown(existing.uid, existing.gid).catch(() => undefined);
    }
    await fh.sync();
  } catch (err) {
    await fh.close();
    await fs.rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await fs.rename(tmp, target);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
  const dh = await fs.open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}
