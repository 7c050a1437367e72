import path from 'node:path';
import type pg from 'pg';
import { openStore, type DatabaseConfig, type Migration, type StoreBackend } from '@tds/server/store';
import type { PgRepository } from '../../src/store/postgres/repository.js';
import type { SqliteRepository } from '../../src/store/sqlite/repository.js';
import { startPostgres, type PostgresCluster } from '../../../test/support/postgres.js';
import { tempDir } from '../../../test/support/temp.js';

/**
 * The two store backends for suites that run once per backend: SQLite in a temp folder, and a
 * fresh database on a PostgreSQL cluster shared by the file (started by `start()`, stopped by
 * `stop()`). `raw` runs SQL behind the repository's back (`?` placeholders, translated for
 * PostgreSQL), to show what the database itself refuses.
 */
export type BackendName = 'sqlite' | 'postgres';

export interface TestStore {
  name: BackendName;
  store: StoreBackend;
  config: DatabaseConfig;
  /** Another connection (pool) on the same database, as a second server instance has. */
  openAgain(migrations?: readonly Migration[]): Promise<StoreBackend>;
  raw(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  count(table: string, where?: string): Promise<number>;
  close(): Promise<void>;
}

export class Backends {
  private cluster: PostgresCluster | undefined;

  async start(): Promise<void> {
    this.cluster = await startPostgres();
  }

  async stop(): Promise<void> {
    await this.cluster?.stop();
  }

  get postgres(): PostgresCluster {
    if (!this.cluster) throw new Error('Backends.start() first');
    return this.cluster;
  }

  /** A fresh, migrated store of that backend. */
  async open(name: BackendName, migrations?: readonly Migration[]): Promise<TestStore> {
    const opened: StoreBackend[] = [];
    const open = async (config: DatabaseConfig, m?: readonly Migration[]): Promise<StoreBackend> => {
      const s = await openStore(config, m ? { migrations: m } : {});
      opened.push(s);
      return s;
    };
    let config: DatabaseConfig;
    let removeDir = (): void => undefined;
    if (name === 'sqlite') {
      const dir = tempDir('tds-store-');
      removeDir = dir.remove;
      config = { kind: 'sqlite', file: path.join(dir.path, 'tds-server.db') };
    } else {
      config = { kind: 'postgres', url: await this.postgres.createDatabase('store') };
    }
    const store = await open(config, migrations);
    const raw = async (sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> => {
      if (store.kind === 'sqlite') {
        const st = (store.repo as SqliteRepository).db.prepare(sql);
        return st.reader ? (st.all(...params) as Record<string, unknown>[]) : (st.run(...params), []);
      }
      let n = 0;
      const text = sql.replace(/\?/g, () => `$${++n}`);
      return (await ((store.repo as PgRepository).pool as pg.Pool).query(text, params)).rows as Record<string, unknown>[];
    };
    return {
      name,
      store,
      config,
      openAgain: (m) => open(config, m),
      raw,
      count: async (table, where = 'TRUE') => Number((await raw(`SELECT count(*) AS n FROM ${table} WHERE ${name === 'sqlite' ? where.replace(/\bTRUE\b/g, '1') : where}`))[0]!.n),
      async close() {
        for (const s of opened.splice(0)) await s.close().catch(() => undefined);
        removeDir();
      },
    };
  }
}
