import { promises as fs } from 'node:fs';
import path from 'node:path';
import { StationError } from '../../shared/ipc-errors.js';

export const LOCK_FILE = 'station.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One station core per data folder: at start a core treats the jobs its station log shows running
 * as interrupted, which is only true when no other core is running them. The lock names the owner's
 * process; a lock left by a process that is gone (a crashed core) is taken over.
 */
export async function lockDataDir(dataDir: string): Promise<{ release(): Promise<void> }> {
  const file = path.join(dataDir, LOCK_FILE);
  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const h = await fs.open(file, 'wx', 0o600);
      await h.writeFile(String(process.pid));
      await h.close();
      return {
        async release() {
          const owner = Number((await fs.readFile(file, 'utf8').catch(() => '')).trim());
          if (owner === process.pid) await fs.rm(file, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number((await fs.readFile(file, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
      throw new StationError('BUSY', `Another station (process ${owner}) is running on the data folder ${dataDir}.`, {
        hint: 'Stop it first, or give this one its own data folder (--data-dir or TDS_STATION_DATA).',
      });
    }
    await fs.rm(file, { force: true });
  }
  throw new Error(`cannot take the lock ${file}`);
}
