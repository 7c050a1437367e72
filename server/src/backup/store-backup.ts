/**
 * The store side of a backup, one implementation per store backend (the seam: store-seam.ts). The
 * backup takes a consistent snapshot of the store into a private staging folder (the files end up
 * in the manifest marked `store: true`), the restore puts them back and checks them.
 *
 * SQLite: better-sqlite3's `backup()` (SQLite's online backup API) on its own connection, copying
 * every page in one step, so the snapshot is one read transaction — consistent while the server
 * keeps writing in WAL mode (a step-wise copy would restart on every write of another connection).
 * PostgreSQL (`postgres-backup.ts`, loaded only for such a store): `pg_dump --format=custom` into the
 * staging folder, `pg_restore` into a new, empty database on restore. The data folder's store
 * settings (config/database.ts) pick the backend of a backup; the manifest's `store.kind` that of a
 * restore.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { resolveDatabase } from '../config/database.js';
import { DATA_FILES, loadSettings } from '../config/data-dir.js';
import { BackupRefused } from './container.js';
import type { StoreBackup } from './store-seam.js';

export type { RestoreOptions, StoreBackup } from './store-seam.js';

const SQLITE_FILES = [DATA_FILES.database, `${DATA_FILES.database}-wal`, `${DATA_FILES.database}-shm`, `${DATA_FILES.database}-journal`];

export const sqliteStoreBackup: StoreBackup = {
  kind: 'sqlite',
  ownedFiles: SQLITE_FILES,

  async snapshot(dataDir, stagingDir) {
    const source = path.join(dataDir, DATA_FILES.database);
    if (!existsSync(source)) throw new Error(`${dataDir} has no database (${DATA_FILES.database}): is it a data folder made by "tds-server init"?`);
    const db = new Database(source, { readonly: true, fileMustExist: true });
    try {
      db.pragma('busy_timeout = 10000');
      const target = path.join(stagingDir, DATA_FILES.database);
      // Returning more pages than the database has copies it in a single step (one read snapshot).
      await db.backup(target, { progress: () => 1_000_000_000 });
      const copy = new Database(target, { fileMustExist: true });
      try {
        const version = copy.pragma('user_version', { simple: true }) as number;
        // The copy is a plain rollback-journal file; the restored server turns WAL back on.
        copy.pragma('journal_mode = DELETE');
        return { files: [DATA_FILES.database], schemaVersion: version };
      } finally {
        copy.close();
      }
    } finally {
      db.close();
    }
  },

  async restore(targetDir) {
    const file = path.join(targetDir, DATA_FILES.database);
    let db: Database.Database;
    try {
      db = new Database(file, { readonly: true, fileMustExist: true });
    } catch (err) {
      throw new BackupRefused(`the backup's database cannot be opened: ${(err as Error).message}`);
    }
    try {
      const check = db.pragma('integrity_check', { simple: true });
      if (check !== 'ok') throw new BackupRefused(`the backup's database fails SQLite's integrity check: ${String(check)}`);
      const fk = db.pragma('foreign_key_check') as unknown[];
      if (fk.length > 0) throw new BackupRefused(`the backup's database has ${fk.length} foreign-key violations`);
    } finally {
      db.close();
    }
  },
};

const BACKENDS: Record<string, () => Promise<StoreBackup>> = {
  sqlite: async () => sqliteStoreBackup,
  postgres: async () => (await import('./postgres-backup.js')).postgresStoreBackup(),
};

/** The backend of this data folder's store (`database`: the --database option). */
export async function storeBackupFor(dataDir: string, database?: string): Promise<StoreBackup> {
  let config;
  try {
    config = resolveDatabase({ dataDir, settings: await loadSettings(dataDir), ...(database !== undefined ? { option: database } : {}) });
  } catch (err) {
    throw new BackupRefused((err as Error).message);
  }
  if (config.kind === 'sqlite') return sqliteStoreBackup;
  return (await import('./postgres-backup.js')).postgresStoreBackup(config.url);
}

export async function storeBackupOfKind(kind: string): Promise<StoreBackup> {
  const b = BACKENDS[kind];
  if (!b) throw new BackupRefused(`the backup holds a "${kind}" store, which this tds-server cannot restore`);
  return b();
}
