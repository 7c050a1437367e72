export * from './repository.js';
export { SqliteRepository, ImportRowError, migrate, type SqliteOptions } from './sqlite.js';
export { migrations, type Migration } from './migrations/index.js';
// Token creation stores only the hash; exported here for tools that prepare a database (tests).
export { createApiToken, hashToken } from '../service/tokens.js';
