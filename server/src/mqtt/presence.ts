/**
 * Gateway presence (docs/broker.md): the retained `status` + Last Will is a hint, not the truth.
 * - Evidence of life: a live (non-retained) message from the device, or a retained `online` seen
 *   when the server (re)subscribes. Evidence expires after `freshnessMs`: a frozen device, or one
 *   whose retained `online` is stale after a broker crash, turns offline when it runs out.
 * - `offline` (Last Will or a clean goodbye) wins over older evidence.
 * - `last_seen` only moves on live device messages; it is written at most every `lastSeenWriteMs`
 *   per gateway so a telemetry flood does not become a write flood; online/offline changes are
 *   written at once.
 * - Several server instances (`timeoutsInStore`): each sees only the messages a shared subscription
 *   hands it, so none may decide a timeout from what it saw alone. Each writes what it sees; the
 *   timeout is decided from the stored `last_seen` (the sink's `expireStale`), and nothing is reset
 *   at start-up (the other instances' picture stays).
 */
import { EventEmitter } from 'node:events';

export interface PresenceUpdate {
  mac: string;
  isOnline: boolean;
  lastSeen: Date | null;
  firmwareVersion: string | null;
}

/** Where presence is persisted (the gateways table). */
export interface PresenceSink {
  /** Marks every gateway offline: at start-up nothing is known until the broker speaks. */
  resetAll(): void | Promise<void>;
  update(u: PresenceUpdate): void | Promise<void>;
  /** Online gateways not seen since `before` go offline (timeouts decided in the store). */
  expireStale?(before: Date): void | Promise<void>;
}

export interface PresenceOptions {
  freshnessMs: number;
  sink?: PresenceSink;
  lastSeenWriteMs?: number;
  sweepEveryMs?: number;
  /** Several instances share the devices' messages: timeouts are decided from the stored last_seen. */
  timeoutsInStore?: boolean;
  now?: () => number;
  log?: (line: string) => void;
}

interface Entry {
  online: boolean;
  lastSeen: number | null;
  evidenceAt: number | null;
  evidenceSeq: number;
  offlineSeq: number;
  firmwareVersion: string | null;
  lastSeenWritten: number | null;
}

export interface PresenceEvents {
  change: [PresenceUpdate];
}

export class PresenceTracker extends EventEmitter<PresenceEvents> {
  private readonly entries = new Map<string, Entry>();
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: PresenceOptions) {
    super();
    this.now = opts.now ?? Date.now;
  }

  start(): void {
    if (!this.opts.timeoutsInStore) this.guard(() => this.opts.sink?.resetAll());
    const every = this.opts.sweepEveryMs ?? Math.max(200, Math.min(5_000, Math.floor(this.opts.freshnessMs / 4)));
    this.timer = setInterval(() => this.sweep(), every);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.flushLastSeen();
  }

  private entry(mac: string): Entry {
    let e = this.entries.get(mac);
    if (!e) {
      e = { online: false, lastSeen: null, evidenceAt: null, evidenceSeq: 0, offlineSeq: 0, firmwareVersion: null, lastSeenWritten: null };
      this.entries.set(mac, e);
    }
    return e;
  }

  /** `status` message; `retained` = delivered from the broker's store on (re)subscribe. */
  onStatus(mac: string, status: string, retained: boolean): void {
    const e = this.entry(mac);
    const now = this.now();
    if (status === 'online') {
      e.evidenceAt = now;
      e.evidenceSeq = ++this.seq;
      if (!retained) e.lastSeen = now;
    } else if (status === 'offline') {
      e.offlineSeq = ++this.seq;
    } else return;
    this.evaluate(mac, e, !retained);
  }

  /** Any other live message from the device (telemetry, logs, renewal traffic). */
  onActivity(mac: string, firmwareVersion?: string): void {
    const e = this.entry(mac);
    const now = this.now();
    e.evidenceAt = now;
    e.evidenceSeq = ++this.seq;
    e.lastSeen = now;
    let changed = false;
    if (firmwareVersion && firmwareVersion !== e.firmwareVersion) {
      e.firmwareVersion = firmwareVersion;
      changed = true;
    }
    this.evaluate(mac, e, true, changed);
  }

  /** Forgets evidence for a device whose certificate was revoked (it can no longer be online). */
  markOffline(mac: string): void {
    const e = this.entry(mac);
    e.offlineSeq = ++this.seq;
    this.evaluate(mac, e, false);
  }

  isOnline(mac: string): boolean {
    return this.entries.get(mac)?.online ?? false;
  }

  snapshot(mac: string): PresenceUpdate | undefined {
    const e = this.entries.get(mac);
    return e && this.update(mac, e);
  }

  /** Expires stale evidence and writes pending last_seen values. */
  sweep(): void {
    for (const [mac, e] of this.entries) this.evaluate(mac, e, false);
    this.flushLastSeen();
    if (this.opts.timeoutsInStore) this.guard(() => this.opts.sink?.expireStale?.(new Date(this.now() - this.opts.freshnessMs)));
  }

  private alive(e: Entry): boolean {
    return e.evidenceAt !== null && this.now() - e.evidenceAt <= this.opts.freshnessMs && e.evidenceSeq > e.offlineSeq;
  }

  private update(mac: string, e: Entry): PresenceUpdate {
    return { mac, isOnline: e.online, lastSeen: e.lastSeen === null ? null : new Date(e.lastSeen), firmwareVersion: e.firmwareVersion };
  }

  private evaluate(mac: string, e: Entry, seen: boolean, force = false): void {
    const online = this.alive(e);
    if (online !== e.online || force) {
      e.online = online;
      // Evidence that ran out here may be fresh at another instance: the store decides that timeout.
      const timedOut = !online && e.evidenceSeq > e.offlineSeq;
      if (timedOut && this.opts.timeoutsInStore && !force) {
        this.emit('change', this.update(mac, e));
        return;
      }
      this.write(mac, e);
      this.emit('change', this.update(mac, e));
      return;
    }
    const every = this.opts.lastSeenWriteMs ?? 5_000;
    if (seen && e.lastSeen !== null && (e.lastSeenWritten === null || e.lastSeen - e.lastSeenWritten >= every)) this.write(mac, e);
  }

  private write(mac: string, e: Entry): void {
    e.lastSeenWritten = e.lastSeen;
    const u = this.update(mac, e);
    this.guard(() => this.opts.sink?.update(u));
  }

  private guard(write: () => void | Promise<void> | undefined): void {
    try {
      Promise.resolve(write()).catch((err: unknown) => this.opts.log?.(`[presence] ${(err as Error).message}`));
    } catch (err) {
      this.opts.log?.(`[presence] ${(err as Error).message}`);
    }
  }

  private flushLastSeen(): void {
    for (const [mac, e] of this.entries) if (e.lastSeen !== null && e.lastSeen !== e.lastSeenWritten) this.write(mac, e);
  }
}
