import type { MonitorStatus } from '../../shared/views.js';
import { BrokerMonitor } from '../monitor/broker-monitor.js';
import type { StationEventBus } from './dispatch.js';

export interface MonitorConfig {
  host: string;
  port: number;
  ca: string;
  cert: string;
  key: string;
  name: string;
}

const RETRY_MS = 10_000;
/** How often presence is re-evaluated (telemetry freshness expires without any message). */
const SWEEP_MS = 2_000;

/**
 * Keeps this station's broker monitor connected while settings allow it, and turns its presence
 * events into `presence` / `monitor.status` events. A failed connection is retried; a settings change
 * reconnects with the new identity.
 */
export class MonitorLink {
  private monitor: BrokerMonitor | undefined;
  private readonly online = new Set<string>();
  private readonly known = new Set<string>();
  private state: MonitorStatus = { state: 'unconfigured', broker: null, identity: null, error: null, online: [] };
  private retry: NodeJS.Timeout | undefined;
  private poll: NodeJS.Timeout | undefined;
  private generation = 0;
  private offEvent: (() => void) | undefined;

  constructor(
    private readonly bus: StationEventBus,
    private readonly config: () => Promise<MonitorConfig | null>,
    /** Telemetry older than this no longer counts as alive (BrokerMonitor default: 120 s). */
    private readonly freshnessMs?: number,
  ) {}

  /** The connected monitor, for jobs that wait for a device to come online. */
  get current(): BrokerMonitor | undefined {
    return this.monitor?.connected ? this.monitor : undefined;
  }

  status(): MonitorStatus {
    return { ...this.state, online: [...this.online].sort() };
  }

  async reconnect(): Promise<void> {
    const gen = ++this.generation;
    await this.teardown();
    let cfg: MonitorConfig | null;
    try {
      cfg = await this.config();
    } catch (err) {
      this.set({ state: 'error', broker: null, identity: null, error: err instanceof Error ? err.message : String(err) });
      this.scheduleRetry(gen);
      return;
    }
    if (!cfg) {
      this.set({ state: 'unconfigured', broker: null, identity: null, error: null });
      return;
    }
    const broker = `${cfg.host}:${cfg.port}`;
    this.set({ state: 'connecting', broker, identity: cfg.name, error: null });
    try {
      const m = await BrokerMonitor.connect({
        host: cfg.host,
        port: cfg.port,
        ca: cfg.ca,
        cert: cfg.cert,
        key: cfg.key,
        connectTimeoutMs: 8000,
        ...(this.freshnessMs ? { freshnessMs: this.freshnessMs } : {}),
      });
      if (gen !== this.generation) {
        await m.close();
        return;
      }
      this.monitor = m;
      this.offEvent = m.onEvent((e) => {
        this.known.add(e.mac);
        this.evaluate(m, e.mac);
      });
      this.set({ state: 'connected', broker, identity: cfg.name, error: null });
      // mqtt.js reconnects by itself; reflect its state in the status bar, and let stale telemetry
      // turn a silent device offline (a frozen device or a cut session sends no offline message).
      this.poll = setInterval(() => {
        const want = m.connected ? 'connected' : 'connecting';
        if (this.state.state !== want) this.set({ ...this.state, state: want });
        for (const mac of this.known) this.evaluate(m, mac);
      }, SWEEP_MS);
      this.poll.unref();
    } catch (err) {
      if (gen !== this.generation) return;
      this.set({ state: 'error', broker, identity: cfg.name, error: err instanceof Error ? err.message : String(err) });
      this.scheduleRetry(gen);
    }
  }

  /** Online = status online and telemetry fresh (a retained status alone is only a hint: it may be stale). */
  private evaluate(m: BrokerMonitor, mac: string): void {
    const online = m.presence(mac).alive;
    if (online === this.online.has(mac)) return;
    if (online) this.online.add(mac);
    else this.online.delete(mac);
    this.bus.emit('presence', { mac, online, at: new Date().toISOString() });
    this.bus.emit('monitor.status', this.status());
  }

  /** Whether a MAC is online as far as this station has seen. */
  isOnline(mac: string): boolean | undefined {
    if (!this.monitor) return undefined;
    return this.online.has(mac);
  }

  async close(): Promise<void> {
    this.generation++;
    await this.teardown();
  }

  private scheduleRetry(gen: number): void {
    this.retry = setTimeout(() => {
      if (gen === this.generation) void this.reconnect();
    }, RETRY_MS);
    this.retry.unref();
  }

  private async teardown(): Promise<void> {
    if (this.retry) clearTimeout(this.retry);
    if (this.poll) clearInterval(this.poll);
    this.retry = this.poll = undefined;
    this.offEvent?.();
    this.offEvent = undefined;
    const m = this.monitor;
    this.monitor = undefined;
    this.online.clear();
    this.known.clear();
    if (m) await m.close().catch(() => undefined);
  }

  private set(s: Omit<MonitorStatus, 'online'>): void {
    this.state = { ...s, online: [] };
    this.bus.emit('monitor.status', this.status());
  }
}
