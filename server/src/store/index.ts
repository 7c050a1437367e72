export * from './repository.js';
export type * from './mqtt-repository.js';
export type { StoreBackend, DatabaseConfig, OpenStoreOptions } from './backend.js';
export { describePostgresUrl } from './backend.js';
export { openStore } from './open.js';
export type { Cluster, ClusterChannel, ClusterMessage } from './cluster.js';
export { MemoryRateCounters, type RateCounters, type WindowCount } from './counters.js';
export { SqliteRepository, type SqliteOptions } from './sqlite/repository.js';
export { SqliteMqttRepository } from './sqlite/mqtt-repository.js';
export { migrate, type MigrateOptions } from './sqlite/migrate.js';
export { migrations, type Migration } from './migrations/index.js';
// Token creation stores only the hash; exported here for tools that prepare a database (tests).
export { createApiToken, hashToken } from '../service/tokens.js';
// The PostgreSQL classes are not exported here: `openStore` loads them (and pg) only when asked to.
