/** Opens the server's store on the configured backend (see backend.ts). */
import { migrations as defaultMigrations } from './migrations/index.js';
import type { DatabaseConfig, OpenStoreOptions, StoreBackend } from './backend.js';
import { MemoryRateCounters } from './counters.js';
import { SqliteMqttRepository } from './sqlite/mqtt-repository.js';
import { SqliteRepository } from './sqlite/repository.js';

export async function openStore(config: DatabaseConfig, options: OpenStoreOptions = {}): Promise<StoreBackend> {
  if (config.kind === 'sqlite') {
    const repo = new SqliteRepository(config.file, { ...(config.durability ? { durability: config.durability } : {}), ...(options.migrations ? { migrations: options.migrations } : {}) });
    return {
      kind: 'sqlite',
      description: `SQLite ${config.file}`,
      repo,
      mqtt: new SqliteMqttRepository(repo.db),
      counters: new MemoryRateCounters(),
      cluster: undefined,
      async ping() {
        repo.db.prepare('SELECT 1').get();
      },
      async bindCa() {},
      close: () => repo.close(),
    };
  }
  // Loaded only when used: a SQLite installation (the desktop app) never loads pg.
  const { openPostgres } = await import('./postgres/backend.js');
  return openPostgres(config, options, defaultMigrations);
}
