/**
 * A server-wide limit for unauthenticated work that is worth bounding (zero-touch nonce and
 * bootstrap requests): `perSecond` requests per second, all addresses together, admitted in windows
 * of `burst` requests (default a tenth of a second's worth: a crowd arriving at once is spread out
 * instead of landing on the event loop in one go). It runs after the per-address limit, so one
 * address flooding spends its own allowance first; what passes both is bounded, whoever sends it.
 * It counts in the store's `RateCounters`, like the per-address limit: with several instances on
 * PostgreSQL the bound is the server's, not each instance's. A refused crowd is told to come back
 * over the next seconds (Retry-After grows by one second per `perSecond` refusals this instance made
 * in the current second) instead of all in the same second.
 */
import type { RateCounters } from '../store/counters.js';

const SCOPE = 'zero-touch:admission';

export class AdmissionLimiter {
  private readonly windowMs: number;
  private refused = { second: 0, count: 0 };

  constructor(
    private readonly counters: RateCounters,
    private readonly perSecond: number,
    private readonly burst = Math.max(1, Math.ceil(perSecond / 10)),
    private readonly now: () => number = Date.now,
  ) {
    this.windowMs = Math.max(1, Math.round((1000 * burst) / perSecond));
  }

  /** True when a request may proceed (counted in the current window). */
  async take(): Promise<boolean> {
    if ((await this.counters.hit(SCOPE, 'server', this.windowMs)).count <= this.burst) return true;
    const second = Math.floor(this.now() / 1000);
    if (second !== this.refused.second) this.refused = { second, count: 0 };
    this.refused.count++;
    return false;
  }

  /** Retry-After for the request just refused: 1 s for the first `perSecond` refusals of this second, then 2 s, … (at most 60). */
  retryAfterSeconds(): number {
    return Math.min(60, 1 + Math.floor(Math.max(0, this.refused.count - 1) / this.perSecond));
  }
}
