export * from './repository.js';
export { SqliteRepository, type SqliteOptions } from './sqlite/repository.js';
export { migrate, type MigrateOptions } from './sqlite/migrate.js';
export { migrations, type Migration } from './migrations/index.js';
// Token creation stores only the hash; exported here for tools that prepare a database (tests).
export { createApiToken, hashToken } from '../service/tokens.js';
