/**
 * node-postgres plumbing of the PostgreSQL store: the connection pool (BIGINT/COUNT read as numbers,
 * short connect timeout so requests fail fast while the database is away), transactions with a
 * retry on deadlock/serialisation failures, and the one place that decides that an error means
 * "the database is unavailable" (the API answers 503 for it, not 500).
 */
import pg from 'pg';
import { StoreUnavailableError } from '../repository.js';

export interface PostgresOptions {
  /** postgres://user@host:port/database (the password from PGPASSWORD or ~/.pgpass, or in the URL). */
  url: string;
  /** Connections of this process (default 10). */
  poolSize?: number;
  /**
   * How long a request waits for a connection — a new one, or a free one of the pool — before the
   * database counts as unavailable (503; default 5000 ms).
   */
  connectTimeoutMs?: number;
  /** Shown in pg_stat_activity. */
  applicationName?: string;
}

const INT8_OID = 20;
const NUMERIC_OID = 1700;

function toSafeNumber(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new Error(`integer ${text} from PostgreSQL is beyond Number's safe range`);
  return n;
}

/** BIGINT ids and COUNT(*) as JS numbers (the repository's records use numbers); everything else as pg does. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === INT8_OID && format !== 'binary') return toSafeNumber;
    if (oid === NUMERIC_OID && format !== 'binary') return Number;
    return pg.types.getTypeParser(oid, format);
  }) as typeof pg.types.getTypeParser,
};

export function createPool(o: PostgresOptions, onError: (err: Error) => void): pg.Pool {
  const pool = new pg.Pool({
    connectionString: o.url,
    max: o.poolSize ?? 10,
    connectionTimeoutMillis: o.connectTimeoutMs ?? 5_000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    application_name: o.applicationName ?? 'tds-server',
    types,
  });
  // An idle connection that dies (database restarted) must not crash the process; the pool drops it.
  pool.on('error', onError);
  return pool;
}

/** A single connection outside the pool (LISTEN, advisory locks held across calls). */
export function createClient(o: PostgresOptions): pg.Client {
  return new pg.Client({
    connectionString: o.url,
    connectionTimeoutMillis: o.connectTimeoutMs ?? 5_000,
    keepAlive: true,
    application_name: o.applicationName ?? 'tds-server',
    types,
  });
}

const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
// 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 53300 too_many_connections; class 08: connection exceptions.
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);

/** True when the error says the database cannot be reached right now (not that the request was wrong). */
export function isUnavailable(err: unknown): boolean {
  if (err instanceof StoreUnavailableError) return true;
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || UNAVAILABLE_SQLSTATES.has(code) || code.startsWith('08'))) return true;
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended unexpectedly|not queryable|the database system is (starting up|shutting down)/i.test(
    err.message,
  );
}

/** An error's message for a person, with the connection's own reason when the database is away. */
export function describeError(err: unknown): string {
  if (err instanceof StoreUnavailableError) return `the database cannot be reached (${err.detail})`;
  return err instanceof Error ? err.message : String(err);
}

/** Rethrows `err`, as StoreUnavailableError when the database is away. */
export function rethrow(err: unknown): never {
  if (err instanceof StoreUnavailableError) throw err;
  if (isUnavailable(err)) throw new StoreUnavailableError((err as Error).message);
  throw err;
}

const RETRYABLE = new Set(['40001', '40P01']); // serialization_failure, deadlock_detected

const retryable = (err: unknown): boolean => {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && RETRYABLE.has(code);
};

/** A single statement (its own transaction) retried like `inTransaction` after a deadlock or serialisation failure. */
export async function retrying<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!retryable(err) || attempt >= 4) throw err;
    }
  }
}

/**
 * A pooled connection for several statements. While it is checked out the pool does not listen for
 * its errors: a connection that breaks between two statements (the database shut down) would emit
 * an unhandled 'error' and end the process. The listener here keeps it; the next statement fails,
 * and `release` destroys the connection instead of pooling it.
 */
export async function checkout(pool: pg.Pool): Promise<{ client: pg.PoolClient; release(err?: Error): void }> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    rethrow(err);
  }
  let broken: Error | undefined;
  const onError = (err: Error): void => {
    broken = err;
  };
  client.on('error', onError);
  return {
    client,
    release(err?: Error) {
      client.off('error', onError);
      client.release(err ?? broken);
    },
  };
}

/**
 * Runs `fn` in one transaction on a pooled connection: COMMIT when it resolves, ROLLBACK when it
 * throws. A deadlock or serialisation failure (the whole transaction was rolled back) is retried a
 * few times; a lost connection is StoreUnavailableError and nothing of the transaction remains.
 */
export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const { client, release } = await checkout(pool);
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      if (isUnavailable(err)) broken = err as Error;
      else await client.query('ROLLBACK').catch((e: unknown) => (broken = e as Error));
      if (!broken && retryable(err) && attempt < 4) continue;
      rethrow(err);
    } finally {
      // A connection that failed is destroyed, not handed to the next request.
      release(broken);
    }
  }
}
