/**
 * The shared fixed-window counters (`RateCounters`) in PostgreSQL's `rate_counters` table: one
 * atomic upsert per event, so concurrent instances count the same window. Time is the database's
 * clock, so instances whose clocks differ still agree on when a window ends. Windows that ended a
 * while ago are deleted by `prune()` (called every minute by the backend).
 */
import type pg from 'pg';
import type { RateCounters, WindowCount } from '../counters.js';
import type { Row } from '../rows.js';
import { rethrow } from './pool.js';

const NOW_MS = `(extract(epoch FROM clock_timestamp()) * 1000)::bigint`;

const SQL = {
  hit: `WITH now AS (SELECT ${NOW_MS} AS ms)
     INSERT INTO rate_counters AS r (scope, key, window_start, window_ms, count)
     SELECT $1::text, $2::text, now.ms, $3::bigint, 1 FROM now
     ON CONFLICT (scope, key) DO UPDATE SET
       count = CASE WHEN r.window_start + r.window_ms <= EXCLUDED.window_start THEN 1 ELSE r.count + 1 END,
       window_start = CASE WHEN r.window_start + r.window_ms <= EXCLUDED.window_start THEN EXCLUDED.window_start ELSE r.window_start END,
       window_ms = EXCLUDED.window_ms
     RETURNING count, window_start + window_ms - ${NOW_MS} AS reset_in`,
  peek: `SELECT count, window_start + window_ms - ${NOW_MS} AS reset_in FROM rate_counters
     WHERE scope = $1 AND key = $2 AND window_start + window_ms > ${NOW_MS}`,
  atLeast: `SELECT key, window_start + window_ms - ${NOW_MS} AS reset_in FROM rate_counters
     WHERE scope = $1 AND count >= $2 AND window_start + window_ms > ${NOW_MS}`,
  prune: `DELETE FROM rate_counters WHERE window_start + window_ms < ${NOW_MS} - 60000`,
} as const;

export class PgRateCounters implements RateCounters {
  constructor(private readonly pool: pg.Pool) {}

  private async q(name: keyof typeof SQL, ...values: unknown[]): Promise<Row[]> {
    try {
      return (await this.pool.query<Row>({ name: `counters_${name}`, text: SQL[name], values })).rows;
    } catch (err) {
      rethrow(err);
    }
  }

  async hit(scope: string, key: string, windowMs: number): Promise<WindowCount> {
    const r = (await this.q('hit', scope, key, windowMs))[0]!;
    return { count: r.count as number, resetInMs: Math.max(0, r.reset_in as number) };
  }

  async peek(scope: string, key: string): Promise<WindowCount> {
    const r = (await this.q('peek', scope, key))[0];
    return r ? { count: r.count as number, resetInMs: Math.max(0, r.reset_in as number) } : { count: 0, resetInMs: 0 };
  }

  async atLeast(scope: string, min: number): Promise<{ key: string; resetInMs: number }[]> {
    return (await this.q('atLeast', scope, min)).map((r) => ({ key: r.key as string, resetInMs: r.reset_in as number }));
  }

  async prune(): Promise<number> {
    return (await this.pool.query(SQL.prune).catch(rethrow)).rowCount ?? 0;
  }
}
