import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import mqtt, { type MqttClient } from 'mqtt';
import { parseDeviceTopic, wildcard } from '@tds/server/contract';
import { JobFailure } from '../jobs/job-failure.js';

export interface BrokerMonitorOptions {
  host: string;
  port: number;
  /** PEM of the CA the broker's certificate chains to (and that signed the monitor certificate). */
  ca: string;
  /** This station's monitor identity (service certificate `station-monitor-<id>`). */
  cert: string;
  key: string;
  /** Defaults to the certificate's CN (the broker uses the CN as client id anyway). */
  clientId?: string;
  /** TLS server name to verify, when the broker is reached by an address not in its certificate. */
  servername?: string;
  /** Telemetry older than this no longer counts as "alive": a retained `online` alone is a hint. Default 120 s. */
  freshnessMs?: number;
  connectTimeoutMs?: number;
}

/** A message seen on a device topic. */
export interface PresenceEvent {
  mac: string;
  kind: 'status' | 'telemetry';
  /** `online`/`offline` for status, the raw JSON text for telemetry. */
  payload: string;
  /** Retained messages replay old state; they never prove a device is alive now. */
  retained: boolean;
  at: number;
}

export interface Presence {
  mac: string;
  status: 'online' | 'offline' | 'unknown';
  statusAt?: number;
  lastTelemetryAt?: number;
  /** When a live (not retained) `online` status last arrived. */
  lastLiveOnlineAt?: number;
  /** Status online and (no telemetry seen yet, or telemetry fresh). */
  alive: boolean;
}

interface Waiter {
  mac: string;
  since: number;
  statusOnly: boolean;
  resolve(e: PresenceEvent): void;
}

/**
 * The station's view of the broker through its own monitor identity: subscribed to every device's
 * `status` and `telemetry`, it answers "is this MAC online now?" and waits for a device to come
 * online after provisioning. Retained messages are kept as hints; only live messages end a wait.
 */
export class BrokerMonitor {
  private readonly presences = new Map<string, Presence>();
  private readonly waiters = new Set<Waiter>();
  private readonly listeners = new Set<(e: PresenceEvent) => void>();

  private constructor(
    private readonly client: MqttClient,
    private readonly freshnessMs: number,
  ) {
    client.on('message', (topic, payload, packet) => this.onMessage(topic, payload, packet.retain));
  }

  /** Reads the monitor identity files named in a profile (`monitor` section). */
  static async fromFiles(files: { certFile: string; keyFile: string; caFile: string }, host: string, port: number): Promise<BrokerMonitor> {
    const [cert, key, ca] = await Promise.all([
      readFile(files.certFile, 'utf8'),
      readFile(files.keyFile, 'utf8'),
      readFile(files.caFile, 'utf8'),
    ]);
    return BrokerMonitor.connect({ host, port, cert, key, ca });
  }

  /** Connects (mTLS) and subscribes; rejects with a JobFailure a technician can act on. */
  static async connect(options: BrokerMonitorOptions): Promise<BrokerMonitor> {
    const clientId = options.clientId ?? commonName(options.cert) ?? 'station-monitor';
    const timeoutMs = options.connectTimeoutMs ?? 10_000;
    let client: MqttClient | undefined;
    let monitor: BrokerMonitor | undefined;
    try {
      client = mqtt.connect({
        protocol: 'mqtts',
        host: options.host,
        port: options.port,
        ca: options.ca,
        cert: options.cert,
        key: options.key,
        clientId,
        protocolVersion: 4,
        clean: true,
        keepalive: 30,
        reconnectPeriod: 2000,
        connectTimeout: timeoutMs,
        rejectUnauthorized: true,
        ...(options.servername ? { servername: options.servername } : {}),
      });
      const c = client;
      // Listen before subscribing: retained messages may arrive in the same read as the SUBACK.
      monitor = new BrokerMonitor(c, options.freshnessMs ?? 120_000);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no answer from ${options.host}:${options.port} within ${timeoutMs} ms`)), timeoutMs + 500);
        const onError = (err: Error): void => {
          clearTimeout(timer);
          reject(err);
        };
        c.once('error', onError);
        c.once('connect', () => {
          clearTimeout(timer);
          c.removeListener('error', onError);
          resolve();
        });
      });
      await c.subscribeAsync([wildcard.status, wildcard.telemetry], { qos: 1 });
    } catch (err) {
      client?.end(true);
      throw new JobFailure('BROKER_NEVER_SAW_DEVICE', `The station cannot watch the broker at ${options.host}:${options.port}: ${(err as Error).message}`, {
        hint: "Check the profile's broker address and the station's monitor certificate, key and CA (the broker must list this monitor identity).",
        cause: err,
      });
    }
    // Errors after the first connect are reconnected by mqtt.js; keep them from crashing the process.
    client.on('error', () => undefined);
    return monitor!;
  }

  get connected(): boolean {
    return this.client.connected;
  }

  presence(mac: string): Presence {
    const p = this.presences.get(mac) ?? { mac, status: 'unknown' as const, alive: false };
    const fresh = p.lastTelemetryAt === undefined || Date.now() - p.lastTelemetryAt <= this.freshnessMs;
    return { ...p, alive: p.status === 'online' && fresh };
  }

  onEvent(listener: (e: PresenceEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Resolves with a live `online` status (or telemetry, unless `statusOnly`) of `mac` received at
   * or after `since` (epoch ms; default now) — at once if one already arrived. Use `statusOnly` when
   * the device may still be publishing from an earlier session. Rejects with a JobFailure after
   * `timeoutMs`, or AbortError.
   */
  waitForOnline(mac: string, options: { timeoutMs: number; signal?: AbortSignal; since?: number; statusOnly?: boolean }): Promise<PresenceEvent> {
    const since = options.since ?? Date.now();
    const seen = this.presences.get(mac);
    if (seen?.lastLiveOnlineAt !== undefined && seen.lastLiveOnlineAt >= since) {
      return Promise.resolve({ mac, kind: 'status', payload: 'online', retained: false, at: seen.lastLiveOnlineAt });
    }
    if (!options.statusOnly && seen?.lastTelemetryAt !== undefined && seen.lastTelemetryAt >= since) {
      return Promise.resolve({ mac, kind: 'telemetry', payload: '', retained: false, at: seen.lastTelemetryAt });
    }
    return new Promise<PresenceEvent>((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        options.signal?.removeEventListener('abort', onAbort);
      };
      const waiter: Waiter = {
        mac,
        since,
        statusOnly: options.statusOnly ?? false,
        resolve: (e) => {
          cleanup();
          resolve(e);
        },
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new JobFailure('BROKER_NEVER_SAW_DEVICE', `The broker never saw ${mac} online within ${Math.round(options.timeoutMs / 1000)} s.`, {
            where: this.client.connected ? 'monitor connected, no status from the device' : 'monitor was disconnected from the broker',
          }),
        );
      }, options.timeoutMs);
      const onAbort = (): void => {
        cleanup();
        const e = new Error('cancelled');
        e.name = 'AbortError';
        reject(e);
      };
      if (options.signal?.aborted) {
        onAbort();
        return;
      }
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
    });
  }

  async close(): Promise<void> {
    await this.client.endAsync();
  }

  private onMessage(topic: string, payload: Buffer, retained: boolean): void {
    const parsed = parseDeviceTopic(topic);
    if (!parsed || (parsed.kind !== 'status' && parsed.kind !== 'telemetry')) return;
    const at = Date.now();
    const text = payload.toString('utf8').slice(0, 2000);
    const e: PresenceEvent = { mac: parsed.mac, kind: parsed.kind, payload: text, retained, at };
    const p = this.presences.get(parsed.mac) ?? { mac: parsed.mac, status: 'unknown' as const, alive: false };
    if (parsed.kind === 'status') {
      if (text === 'online' || text === 'offline') {
        p.status = text;
        p.statusAt = at;
        if (text === 'online' && !retained) p.lastLiveOnlineAt = at;
      }
    } else if (!retained) {
      p.lastTelemetryAt = at;
    }
    this.presences.set(parsed.mac, p);
    for (const l of this.listeners) l(e);
    if (retained) return;
    const online = parsed.kind === 'status' && text === 'online';
    if (!online && parsed.kind !== 'telemetry') return;
    for (const w of [...this.waiters]) {
      if (w.mac === parsed.mac && at >= w.since && (online || !w.statusOnly)) w.resolve(e);
    }
  }
}

function commonName(certPem: string): string | undefined {
  try {
    const subject = new X509Certificate(certPem).subject;
    return /(?:^|\n)CN=([^\n]+)/.exec(subject)?.[1];
  } catch {
    return undefined;
  }
}
