/**
 * A server-wide limit for unauthenticated work that is worth bounding (zero-touch nonce and
 * bootstrap requests): `perSecond` requests per second, all addresses together, admitted in windows
 * of `burst` requests (default a tenth of a second's worth: a crowd arriving at once is spread out
 * instead of landing on the event loop in one go). It runs after the per-address limit, so one
 * address flooding spends its own allowance first; what passes both is bounded, whoever sends it.
 * It counts in the store's `RateCounters`, like the per-address limit: with several instances on
 * PostgreSQL the bound is the server's, not each instance's.
 */
import type { RateCounters } from '../store/counters.js';

const SCOPE = 'zero-touch:admission';

export class AdmissionLimiter {
  private readonly windowMs: number;

  constructor(
    private readonly counters: RateCounters,
    perSecond: number,
    private readonly burst = Math.max(1, Math.ceil(perSecond / 10)),
  ) {
    this.windowMs = Math.max(1, Math.round((1000 * burst) / perSecond));
  }

  /** True when a request may proceed (counted in the current window). */
  async take(): Promise<boolean> {
    return (await this.counters.hit(SCOPE, 'server', this.windowMs)).count <= this.burst;
  }
}
