/**
 * The Bench's auto-start: a board plugged into a slot starts its job by itself (when the technician
 * turned it on). A board that comes back to the same slot within a few seconds is not a new board
 * but a USB re-enumeration (a USB-Serial/JTAG chip resets that way): it is left alone.
 */
export interface AutoStartOptions {
  enabled: () => boolean;
  /** Starts the job for the board (errors are the caller's to report). */
  start: (deviceId: string) => Promise<void>;
  /** Wait after the board appears, so its bridge and power settle before the reset. Default 1500 ms. */
  settleMs?: number;
  /** Back in the same slot within this long = the same board re-enumerating. Default 4000 ms. */
  reenumerationMs?: number;
}

export class AutoStarter {
  private readonly removedAt = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(private readonly options: AutoStartOptions) {}

  /** A board was unplugged from `slot`. */
  removed(deviceId: string, slot: string): void {
    this.removedAt.set(slot, Date.now());
    this.cancel(deviceId);
  }

  /** A board was plugged into `slot` (hot-plug, not the boards found at start). */
  added(deviceId: string, slot: string): void {
    const gone = this.removedAt.get(slot);
    this.removedAt.delete(slot);
    if (!this.options.enabled()) return;
    if (gone !== undefined && Date.now() - gone < (this.options.reenumerationMs ?? 4000)) return;
    this.cancel(deviceId);
    this.timers.set(
      deviceId,
      setTimeout(() => {
        this.timers.delete(deviceId);
        if (this.options.enabled()) void this.options.start(deviceId);
      }, this.options.settleMs ?? 1500),
    );
  }

  close(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private cancel(deviceId: string): void {
    const t = this.timers.get(deviceId);
    if (t) clearTimeout(t);
    this.timers.delete(deviceId);
  }
}
