/**
 * A server-wide token bucket for unauthenticated work that is worth bounding (zero-touch nonce and
 * bootstrap requests): `perSecond` requests per second, all addresses together, with a burst of
 * `burst` (default a tenth of a second's worth: a crowd arriving at once is spread out instead of
 * landing on the event loop in one go). It runs after the per-address limit, so one address
 * flooding spends its own allowance first; what passes both is bounded, whoever sends it.
 */
export class AdmissionLimiter {
  private tokens: number;
  private last: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst = Math.max(1, Math.ceil(perSecond / 10)),
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = this.now();
  }

  /** True when a request may proceed (one token taken). */
  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.perSecond);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
