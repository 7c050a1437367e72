/**
 * A store for @fastify/rate-limit on the server's `RateCounters`, so the public endpoints' limits
 * are counted per address across every instance (PostgreSQL) or in memory (SQLite). One counter
 * scope per route, as the plugin's own store keeps one table per route.
 */
import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { RateCounters } from '../store/counters.js';

type Callback = (err: Error | null, result?: { current: number; ttl: number }) => void;

/** What the plugin really passes to the constructor and to child(): its merged options, with the route. */
interface RouteParams {
  routeInfo?: { method?: string | string[]; url?: string };
}

export function counterStore(counters: RateCounters): FastifyRateLimitStoreCtor {
  class CounterStore implements FastifyRateLimitStore {
    private readonly scope: string;

    constructor(options: unknown) {
      const params = (options ?? {}) as RouteParams;
      const method = params.routeInfo?.method;
      this.scope = `public:${Array.isArray(method) ? method.join(',') : (method ?? '*')} ${params.routeInfo?.url ?? '*'}`;
    }

    incr(key: string, callback: Callback, timeWindow: number): void {
      counters.hit(this.scope, key, timeWindow).then(
        (w) => callback(null, { current: w.count, ttl: w.resetInMs }),
        (err: unknown) => callback(err as Error),
      );
    }

    read(key: string, callback: Callback, timeWindow: number): void {
      counters.peek(this.scope, key, timeWindow).then(
        (w) => callback(null, { current: w.count, ttl: w.resetInMs }),
        (err: unknown) => callback(err as Error),
      );
    }

    child(params: unknown): CounterStore {
      return new CounterStore(params);
    }
  }
  return CounterStore;
}
