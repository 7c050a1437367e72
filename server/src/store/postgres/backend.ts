/** The PostgreSQL `StoreBackend`: one pool per process, migrations, the shared counters and the cluster. */
import { caFingerprint, describePostgresUrl, type OpenStoreOptions, type StoreBackend } from '../backend.js';
import type { Migration } from '../sqlite/migrate.js';
import { PgCluster } from './cluster.js';
import { PgRateCounters } from './counters.js';
import { migratePostgres } from './migrate.js';
import { PgMqttRepository } from './mqtt-repository.js';
import { createPool, describeError, rethrow, type PostgresOptions } from './pool.js';
import { PgRepository } from './repository.js';

const PRUNE_EVERY_MS = 60_000;

export async function openPostgres(
  config: { url: string; poolSize?: number; connectTimeoutMs?: number },
  options: OpenStoreOptions,
  defaultMigrations: readonly Migration[],
): Promise<StoreBackend> {
  const log = options.log ?? ((): void => undefined);
  const description = describePostgresUrl(config.url);
  const pgOptions: PostgresOptions = {
    url: config.url,
    ...(config.poolSize ? { poolSize: config.poolSize } : {}),
    ...(config.connectTimeoutMs ? { connectTimeoutMs: config.connectTimeoutMs } : {}),
  };
  const pool = createPool(pgOptions, (err) => log(`[store] an idle database connection failed (${err.message}); it is replaced on next use`));
  try {
    await migratePostgres(pool, options.migrations ?? defaultMigrations, {
      database: `the database (${description})`,
      program: 'tds-server',
      upgrade: 'upgrade tds-server',
    });
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new Error(`cannot open ${description}: ${describeError(err)}`);
  }
  const counters = new PgRateCounters(pool);
  const prune = setInterval(() => {
    counters.prune().catch(() => undefined);
  }, PRUNE_EVERY_MS);
  prune.unref();
  const cluster = new PgCluster(pool, pgOptions, log);
  if (options.listen) await cluster.start();
  const repo = new PgRepository(pool);
  return {
    kind: 'postgres',
    description,
    repo,
    mqtt: new PgMqttRepository(pool),
    counters,
    cluster,
    async ping() {
      await pool.query('SELECT 1').catch(rethrow);
    },
    async bindCa(caPem: string, role: 'device' | 'birth' = 'device') {
      const key = role === 'birth' ? 'birth_ca_sha256' : 'ca_sha256';
      const sha = caFingerprint(caPem);
      await pool.query(`INSERT INTO installation (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, [key, sha]).catch(rethrow);
      const stored = (await pool.query<{ value: string }>(`SELECT value FROM installation WHERE key = $1`, [key]).catch(rethrow)).rows[0]?.value;
      if (stored !== sha) {
        throw new Error(
          role === 'birth'
            ? `${description} belongs to another birth CA (SHA-256 ${stored}) than this data folder's birth-ca.crt (${sha}); every instance must use a copy of the same data folder (copy birth-ca.* from the first instance)`
            : `${description} belongs to another CA (SHA-256 ${stored}) than this data folder's ca.crt (${sha}); every instance must use a copy of the same data folder (ca.crt, ca.key.enc, config.json)`,
        );
      }
    },
    async close() {
      clearInterval(prune);
      await cluster.close();
      await repo.close();
    },
  };
}
