import type { StationClient } from '../../shared/ipc.js';
import type { BenchDevice, CoreStatus, JobLogLineView, MonitorStatus, PiTarget } from '../../shared/views.js';
import type { JobSnapshot } from '../../shared/jobs.js';

type Listener = () => void;

/** A map whose readers subscribe per key, so one board's progress re-renders one card only. */
export class KeyedStore<T> {
  private readonly map = new Map<string, T>();
  private readonly keyListeners = new Map<string, Set<Listener>>();
  private readonly allListeners = new Set<Listener>();
  private list: T[] = [];

  get(key: string): T | undefined {
    return this.map.get(key);
  }

  values(): T[] {
    return this.list;
  }

  set(key: string, value: T): void {
    this.setMany([[key, value]]);
  }

  /** Several changes, one notification per key and one for the whole list. */
  setMany(entries: [string, T][]): void {
    if (entries.length === 0) return;
    for (const [k, v] of entries) this.map.set(k, v);
    this.list = [...this.map.values()];
    for (const [k] of entries) this.keyListeners.get(k)?.forEach((l) => l());
    this.allListeners.forEach((l) => l());
  }

  delete(key: string): void {
    if (this.map.delete(key)) this.changed(key);
  }

  replaceAll(entries: [string, T][]): void {
    const old = [...this.map.keys()];
    this.map.clear();
    for (const [k, v] of entries) this.map.set(k, v);
    this.list = [...this.map.values()];
    for (const k of new Set([...old, ...this.map.keys()])) this.keyListeners.get(k)?.forEach((l) => l());
    this.allListeners.forEach((l) => l());
  }

  subscribeKey(key: string, l: Listener): () => void {
    let set = this.keyListeners.get(key);
    if (!set) this.keyListeners.set(key, (set = new Set()));
    set.add(l);
    return () => set.delete(l);
  }

  subscribeAll(l: Listener): () => void {
    this.allListeners.add(l);
    return () => this.allListeners.delete(l);
  }

  private changed(key: string): void {
    this.list = [...this.map.values()];
    this.keyListeners.get(key)?.forEach((l) => l());
    this.allListeners.forEach((l) => l());
  }
}

/** Lines per key (job log, serial console), bounded so a chatty board cannot grow memory forever. */
export class LineStore {
  private readonly lines = new Map<string, string[]>();
  private readonly listeners = new Map<string, Set<Listener>>();

  constructor(private readonly max = 400) {}

  get(key: string): string[] {
    return this.lines.get(key) ?? EMPTY;
  }

  append(key: string, text: string): void {
    const prev = this.lines.get(key) ?? [];
    const parts = text.split(/\r?\n/).filter((s, i, a) => s.length > 0 || i < a.length - 1);
    const next = prev.concat(parts);
    this.lines.set(key, next.length > this.max ? next.slice(next.length - this.max) : next);
    this.listeners.get(key)?.forEach((l) => l());
  }

  set(key: string, lines: string[]): void {
    this.lines.set(key, lines.slice(-this.max));
    this.listeners.get(key)?.forEach((l) => l());
  }

  subscribe(key: string, l: Listener): () => void {
    let set = this.listeners.get(key);
    if (!set) this.listeners.set(key, (set = new Set()));
    set.add(l);
    return () => set.delete(l);
  }
}
const EMPTY: string[] = [];

/** A single value with listeners. */
export class ValueStore<T> {
  private readonly listeners = new Set<Listener>();
  constructor(private value: T) {}
  get = (): T => this.value;
  set(value: T): void {
    this.value = value;
    this.listeners.forEach((l) => l());
  }
  subscribe = (l: Listener): (() => void) => {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  };
}

/** A log line as the console shows it: the local time of day (24 h), the level when not info, the text. */
export function formatLogLine(l: JobLogLineView): string {
  const d = new Date(l.at);
  const time = Number.isNaN(d.getTime()) ? l.at.slice(11, 19) : d.toLocaleTimeString('en-GB', { hour12: false });
  return `${time} ${l.level === 'info' ? '' : l.level.toUpperCase() + ' '}${l.text}`;
}

/** Live state fed by core events; screens read it through hooks (see hooks.ts). */
export class LiveState {
  readonly jobs = new KeyedStore<JobSnapshot>();
  readonly devices = new KeyedStore<BenchDevice>();
  readonly targets = new KeyedStore<PiTarget>();
  readonly jobLog = new LineStore(600);
  readonly console = new LineStore(400);
  readonly monitor = new ValueStore<MonitorStatus | null>(null);
  readonly presence = new ValueStore<Record<string, boolean>>({});
  readonly logVersion = new ValueStore(0);
  /** The station core's process as its host reports it (null until it first changes). */
  readonly core = new ValueStore<CoreStatus | null>(null);

  constructor(readonly client: StationClient) {
    client.on('job.updated', (j) => this.queueJob(j));
    client.on('job.removed', ({ jobId }) => this.jobs.delete(jobId));
    client.on('job.log', (l) => this.jobLog.append(l.jobId, formatLogLine(l)));
    client.on('bench.devices', (ds) => this.devices.replaceAll(ds.map((d) => [d.id, d])));
    client.on('field.targets', (ts) => this.targets.replaceAll(ts.map((t) => [t.id, t])));
    client.on('console.data', ({ deviceId, text }) => this.console.append(deviceId, text));
    client.on('monitor.status', (m) => this.applyMonitor(m));
    client.on('presence', ({ mac, online }) => {
      this.seen.add(mac);
      this.presence.set({ ...this.presence.get(), [mac]: online });
    });
    client.on('log.appended', () => this.logVersion.set(this.logVersion.get() + 1));
    client.on('core.status', (c) => {
      this.core.set(c);
      // A restarted core has new state (interrupted jobs, boards seen again): load it all.
      if (c.state === 'running') void this.refresh().catch(() => undefined);
    });
  }

  private pendingJobs = new Map<string, JobSnapshot>();
  private flushScheduled = false;

  /**
   * Job snapshots are applied once per animation frame: with 16 boards flashing, updates arrive
   * faster than the screen refreshes, and one render per frame keeps the UI responsive.
   */
  private queueJob(j: JobSnapshot): void {
    this.pendingJobs.set(j.id, j);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    const flush = (): void => {
      this.flushScheduled = false;
      const entries = [...this.pendingJobs];
      this.pendingJobs.clear();
      this.jobs.setMany(entries);
    };
    // rAF does not run in a hidden tab; the timeout keeps state current there too.
    if (typeof requestAnimationFrame === 'function' && document.visibilityState === 'visible') requestAnimationFrame(flush);
    else setTimeout(flush, 100);
  }

  /** Loads the current state (at start and after a reconnect). */
  async refresh(): Promise<void> {
    const [bench, field, monitor] = await Promise.all([
      this.client.invoke('bench.state'),
      this.client.invoke('field.state'),
      this.client.invoke('monitor.status'),
    ]);
    const jobs = [...bench.jobs, ...field.jobs];
    this.jobs.replaceAll(jobs.map((j) => [j.id, j]));
    this.devices.replaceAll(bench.devices.map((d) => [d.id, d]));
    this.targets.replaceAll(field.targets.map((t) => [t.id, t]));
    this.applyMonitor(monitor);
  }

  private readonly seen = new Set<string>();

  /**
   * While the monitor is connected, MACs it lists are online and every other MAC it has seen is
   * offline. While it is not, live presence is unknown and screens fall back to the server's view.
   */
  private applyMonitor(m: MonitorStatus): void {
    this.monitor.set(m);
    for (const mac of m.online) this.seen.add(mac);
    const next: Record<string, boolean> = {};
    if (m.state === 'connected') {
      for (const mac of this.seen) next[mac] = false;
      for (const mac of m.online) next[mac] = true;
    }
    this.presence.set(next);
  }

  /** Fetches a job's past log lines (events only carry new ones). */
  async loadJobLog(jobId: string): Promise<void> {
    const lines = await this.client.invoke('jobs.log', { jobId });
    this.jobLog.set(jobId, lines.map(formatLogLine));
  }
}
