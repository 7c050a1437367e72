/**
 * Fixed-window counters: failed authentications per address, requests per address to the public
 * endpoints. Backend-neutral: in memory for one instance (SQLite, the desktop app), in PostgreSQL
 * when several instances must share them (`postgres/counters.ts`), so a client cannot multiply its
 * allowance by spreading its attempts over the instances behind a load balancer.
 */

export interface WindowCount {
  /** Events of this key in the current window (including this one for `hit`). */
  count: number;
  /** Milliseconds until the window ends (0 when no window is running). */
  resetInMs: number;
}

export interface RateCounters {
  /** Counts one event of (scope, key) in the current window of `windowMs`, starting a new window when the last one ended. */
  hit(scope: string, key: string, windowMs: number): Promise<WindowCount>;
  /** The current window's count, without counting. */
  peek(scope: string, key: string, windowMs: number): Promise<WindowCount>;
  /** Keys of `scope` whose current window has reached `min` events (to rebuild lockouts after a restart). */
  atLeast(scope: string, min: number): Promise<{ key: string; resetInMs: number }[]>;
}

const MAX_KEYS = 100_000;

export class MemoryRateCounters implements RateCounters {
  private readonly windows = new Map<string, { scope: string; key: string; start: number; windowMs: number; count: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  async hit(scope: string, key: string, windowMs: number): Promise<WindowCount> {
    const now = this.now();
    const id = `${scope}\u0000${key}`;
    let w = this.windows.get(id);
    if (!w || now - w.start >= w.windowMs) {
      w = { scope, key, start: now, windowMs, count: 0 };
      this.windows.set(id, w);
      if (this.windows.size > MAX_KEYS) this.prune(now);
    }
    w.count++;
    return { count: w.count, resetInMs: w.start + w.windowMs - now };
  }

  async peek(scope: string, key: string): Promise<WindowCount> {
    const now = this.now();
    const w = this.windows.get(`${scope}\u0000${key}`);
    if (!w || now - w.start >= w.windowMs) return { count: 0, resetInMs: 0 };
    return { count: w.count, resetInMs: w.start + w.windowMs - now };
  }

  async atLeast(scope: string, min: number): Promise<{ key: string; resetInMs: number }[]> {
    const now = this.now();
    return [...this.windows.values()].filter((w) => w.scope === scope && w.count >= min && now - w.start < w.windowMs).map((w) => ({ key: w.key, resetInMs: w.start + w.windowMs - now }));
  }

  private prune(now: number): void {
    for (const [id, w] of this.windows) if (now - w.start >= w.windowMs) this.windows.delete(id);
  }
}
