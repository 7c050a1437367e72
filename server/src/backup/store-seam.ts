/**
 * The seam between a backup and the store backend it holds (store-backup.ts picks one): what a
 * backend must do to put a consistent snapshot of its store into a backup, and to make the restored
 * files a usable store again. A backend never sees the encryption or the other data-folder files.
 */

export interface RestoreOptions {
  /** PostgreSQL: the database to restore into (else $TDS_DATABASE_URL, else the backup's config.json); recorded in config.json. */
  database?: string;
  /** The schema version the manifest recorded. */
  schemaVersion?: number | null;
}

export interface StoreBackup {
  /** Recorded in the manifest; restore picks the backend by it. */
  readonly kind: string;
  /** Data-folder entries the backend owns (never copied as plain files). */
  readonly ownedFiles: readonly string[];
  /** Writes a consistent snapshot into `stagingDir`; returns the file names it wrote there and the schema version. */
  snapshot(dataDir: string, stagingDir: string): Promise<{ files: string[]; schemaVersion: number | null }>;
  /**
   * The restored files are in `targetDir` (a temp folder, renamed into place after): make them a
   * usable store and check it (SQLite: the file is the store; PostgreSQL: the dump is loaded into an
   * empty database, then removed from the folder). Refuses (BackupRefused) with what to fix.
   */
  restore(targetDir: string, options: RestoreOptions): Promise<void>;
}
