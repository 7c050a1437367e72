/**
 * Crash-safe file replacement, the one helper for every file the project writes (server, broker
 * side and station): a temp file in the same folder, fsync, rename over the target, fsync the
 * folder. A reader sees the old or the new file, never a truncated one. The mode applies from
 * creation, so a secret is never briefly readable by others.
 *
 * Files another program reads (Mosquitto's crl.pem and acl.conf, after it dropped privileges to
 * the `mosquitto` user) are written with `keepExisting`: the replacement gets the old file's mode
 * and owner, so the broker can still read it.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';

export interface AtomicWriteOptions {
  /** Mode of the file (default 0o600). With `keepExisting`, only for a file that does not exist yet. */
  mode?: number;
  /** An existing file keeps its mode and owner (owner: when we are root, or already own it). */
  keepExisting?: boolean;
  /** Create the parent folder (0700) when it is missing. */
  createDir?: boolean;
}

/** A file written next to its target and not yet renamed over it (see stageFile). */
export interface StagedFile {
  /** The file it will replace. */
  readonly target: string;
  /** The staged content, with the final mode and owner; readable for checks before commit. */
  readonly tmp: string;
  /** Renames it over the target and syncs the folder. */
  commit(): Promise<void>;
  /** Removes the staged file; the target is untouched. */
  discard(): Promise<void>;
}

/**
 * Writes the temp file (mode, owner, fsync) without replacing the target yet, so a set of files
 * can be checked together (e.g. "can the broker load them?") and then committed or discarded.
 * `options` may be just the mode (always applied).
 */
export async function stageFile(file: string, data: string | Uint8Array, options: number | AtomicWriteOptions = {}): Promise<StagedFile> {
  const opts: AtomicWriteOptions = typeof options === 'number' ? { mode: options } : options;
  const dir = path.dirname(file);
  if (opts.createDir) await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const existing = opts.keepExisting ? await fs.stat(file).catch(() => undefined) : undefined;
  const mode = existing ? existing.mode & 0o7777 : (opts.mode ?? 0o600);
  const fh = await fs.open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(mode); // umask may have narrowed the mode at creation
    if (existing && typeof process.getuid === 'function') {
      // Only root can give a file away; a non-root writer keeps its own ownership (group may still change).
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
  return {
    target: file,
    tmp,
    async commit() {
      try {
        await fs.rename(tmp, file);
      } catch (err) {
        await fs.rm(tmp, { force: true });
        throw err;
      }
      await syncDir(dir);
    },
    discard: () => fs.rm(tmp, { force: true }),
  };
}

/** `options` may be just the mode (always applied). */
export async function writeFileAtomic(file: string, data: string | Uint8Array, options: number | AtomicWriteOptions = {}): Promise<void> {
  await (await stageFile(file, data, options)).commit();
}

/** Persists a rename. Windows cannot open a folder for fsync; there the rename is already durable enough. */
async function syncDir(dir: string): Promise<void> {
  let dh: fs.FileHandle;
  try {
    dh = await fs.open(dir, 'r');
  } catch (err) {
    if (process.platform === 'win32') return;
    throw err;
  }
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

/** Reads a file as UTF-8, or undefined when it does not exist. */
export async function readFileIfExists(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
