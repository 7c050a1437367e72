/**
 * A server-wide token bucket for unauthenticated work that is worth bounding (zero-touch nonce and
 * bootstrap requests): `perSecond` requests per second with a one-second burst, all addresses
 * together. It runs after the per-address limit, so one address flooding spends its own allowance
 * first; what passes both is bounded, whoever sends it.
 */
export class AdmissionLimiter {
  private tokens: number;
  private last: number;

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = perSecond;
    this.last = this.now();
  }

  /** True when a request may proceed (one token taken). */
  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.perSecond, this.tokens + ((t - this.last) / 1000) * this.perSecond);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
