/** A step's time limit that can be paused while the job waits for the operator. */
export class StepClock {
  private remaining: number;
  private startedAt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    limitMs: number,
    private readonly onExpire: () => void,
  ) {
    this.remaining = limitMs;
    this.resume();
  }

  pause(): void {
    if (!this.timer) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.remaining -= performance.now() - this.startedAt;
  }

  resume(): void {
    if (this.timer) return;
    this.startedAt = performance.now();
    this.timer = setTimeout(this.onExpire, Math.max(0, this.remaining));
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
