/**
 * The whole `migrate-store` run: the SQLite store brought to the current schema and read in one
 * snapshot, the PostgreSQL database migrated and found empty (else refused, naming what it holds),
 * then copy + check + the CA it now belongs to, all in one PostgreSQL transaction.
 */
import { existsSync } from 'node:fs';
import { migrations } from '../migrations/index.js';
import { SqliteRepository } from '../sqlite/repository.js';
import { caFingerprint, describePostgresUrl } from '../backend.js';
import { copySqliteToPostgres, nonEmptyTables, type CopyReport } from './copy-from-sqlite.js';
import { migratePostgres } from './migrate.js';
import { checkout, createPool, describeError } from './pool.js';

export async function migrateSqliteStore(o: { sqliteFile: string; postgresUrl: string; caPem: string; onTable?: (name: string, rows: number) => void }): Promise<CopyReport> {
  if (!existsSync(o.sqliteFile)) throw new Error(`${o.sqliteFile} does not exist: nothing to migrate`);
  const target = describePostgresUrl(o.postgresUrl);
  const sqlite = new SqliteRepository(o.sqliteFile);
  const pool = createPool({ url: o.postgresUrl, poolSize: 2 }, () => undefined);
  try {
    await migratePostgres(pool, migrations, { database: `the target database (${target})`, program: 'tds-server', upgrade: 'upgrade tds-server' }).catch((err: unknown) => {
      throw new Error(`cannot prepare ${target}: ${describeError(err)}`);
    });
    const { client, release } = await checkout(pool);
    let failed: Error | undefined;
    try {
      await client.query('BEGIN');
      // Nobody else may write the target meanwhile (another migrate-store, a server started too early).
      await client.query('LOCK TABLE accounts, certificates, crl_state IN EXCLUSIVE MODE');
      const busy = await nonEmptyTables(client);
      if (busy.length > 0) throw new Error(`${target} is not empty (${busy.join(', ')} hold data); migrate-store only fills an empty database`);
      // One snapshot of the source: the copy and its check see the same rows.
      sqlite.db.exec('BEGIN');
      try {
        const report = await copySqliteToPostgres(sqlite.db, client, o.onTable);
        await client.query(`INSERT INTO installation (key, value) VALUES ('ca_sha256', $1)`, [caFingerprint(o.caPem)]);
        await client.query('COMMIT');
        return report;
      } finally {
        sqlite.db.exec('ROLLBACK');
      }
    } catch (err) {
      await client.query('ROLLBACK').catch((e: unknown) => (failed = e as Error));
      throw err;
    } finally {
      release(failed);
    }
  } finally {
    await pool.end().catch(() => undefined);
    await sqlite.close();
  }
}
