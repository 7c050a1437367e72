/**
 * Telemetry ingest: validates the seed payload at the boundary and stores readings in batches (one
 * transaction per batch), so thousands of messages per second cost a few writes. Old readings are
 * deleted after the retention period.
 */
import { z } from 'zod';
import { parseMac } from '../contract/index.js';
import type { TimestampSource } from '../store/mqtt-repository.js';

const MAX_TIMESTAMP_SKEW_MS = 366 * 86_400_000;
/**
 * A numeric timestamp before 2001 is not a date but a counter: firmware before the missing-timestamp
 * rule sent its uptime in milliseconds while its clock was not set. Such a reading is dated like one
 * without a timestamp. (Read as seconds, an uptime past ~11 days looks like a date after 2001: only
 * the missing timestamp is unambiguous.)
 */
const UNSET_CLOCK_BEFORE_MS = Date.parse('2001-01-01T00:00:00Z');

export const telemetryPayloadSchema = z.object({
  /** Absent while the device's clock is not set: the server dates the reading with its receive time. */
  timestamp: z.union([z.string().max(64), z.number()]).optional(),
  valor: z.number().finite(),
  unidade: z.string().max(32),
  gateway_mac: z.string().max(32),
  firmware_version: z.string().max(64).optional(),
  slave_id: z.number().int().min(0).max(255).optional(),
  register: z.number().int().min(0).max(65_535).optional(),
});

export interface TelemetryRow {
  mac: string;
  /** Device's own timestamp (ISO), or the receive time when the device's clock was not set. */
  measuredAt: string;
  receivedAt: string;
  timestampSource: TimestampSource;
  valor: number;
  unidade: string;
  firmwareVersion: string | null;
  slaveId: number | null;
  register: number | null;
}

export type TelemetryParse = { ok: true; row: TelemetryRow } | { ok: false; error: string };

/**
 * Epoch seconds or milliseconds, or an ISO 8601 string → ISO; 'unset' for an uptime counter (the
 * device's clock was not set); undefined when implausible.
 */
function toIso(ts: string | number, now: number): string | 'unset' | undefined {
  let ms: number;
  if (typeof ts === 'number' || /^\d+(\.\d+)?$/.test(ts)) {
    const n = Number(ts);
    ms = n < 1e11 ? n * 1000 : n;
    if (Number.isFinite(ms) && ms >= 0 && ms < UNSET_CLOCK_BEFORE_MS) return 'unset';
  } else ms = Date.parse(ts);
  if (!Number.isFinite(ms) || Math.abs(ms - now) > MAX_TIMESTAMP_SKEW_MS) return undefined;
  return new Date(ms).toISOString();
}

/** Parses one telemetry message published on `tds_new/devices/{mac}/telemetry`. */
export function parseTelemetry(topicMac: string, payload: Buffer, now = Date.now()): TelemetryParse {
  if (payload.length > 8_192) return { ok: false, error: 'payload larger than 8 KiB' };
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch {
    return { ok: false, error: 'payload is not JSON' };
  }
  const r = telemetryPayloadSchema.safeParse(json);
  if (!r.success) return { ok: false, error: `invalid telemetry: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` };
  const p = r.data;
  const claimed = parseMac(p.gateway_mac);
  // The topic is authenticated (ACL = certificate CN); the body is only a claim.
  if (!claimed.ok || claimed.mac !== topicMac) return { ok: false, error: `gateway_mac ${p.gateway_mac} does not match the topic's ${topicMac}` };
  const receivedAt = new Date(now).toISOString();
  const measured = p.timestamp === undefined ? 'unset' : toIso(p.timestamp, now);
  if (!measured) return { ok: false, error: `implausible timestamp ${String(p.timestamp).slice(0, 40)}` };
  return {
    ok: true,
    row: {
      mac: topicMac,
      measuredAt: measured === 'unset' ? receivedAt : measured,
      receivedAt,
      timestampSource: measured === 'unset' ? 'server' : 'device',
      valor: p.valor,
      unidade: p.unidade,
      firmwareVersion: p.firmware_version ?? null,
      slaveId: p.slave_id ?? null,
      register: p.register ?? null,
    },
  };
}

/** Where readings go (the telemetry table). */
export interface TelemetrySink {
  /** Stores a batch in one transaction; returns how many rows were stored (unknown MACs are skipped). */
  insertTelemetry(rows: readonly TelemetryRow[]): number | Promise<number>;
  /** Deletes readings received before `cutoff`; returns the count. */
  deleteTelemetryBefore(cutoff: Date): number | Promise<number>;
}

export interface TelemetryWriterOptions {
  sink: TelemetrySink;
  retentionDays: number;
  flushEveryMs?: number;
  maxBatch?: number;
  log?: (line: string) => void;
}

export class TelemetryWriter {
  private buffer: TelemetryRow[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private retentionTimer: NodeJS.Timeout | undefined;
  private readonly inflight = new Set<Promise<void>>();
  stored = 0;
  rejected = 0;

  constructor(private readonly opts: TelemetryWriterOptions) {}

  start(): void {
    void this.prune();
    this.retentionTimer = setInterval(() => void this.prune(), 3_600_000);
    this.retentionTimer.unref();
  }

  add(row: TelemetryRow): void {
    this.buffer.push(row);
    if (this.buffer.length >= (this.opts.maxBatch ?? 2_000)) this.flush();
    else if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => this.flush(), this.opts.flushEveryMs ?? 100);
      this.flushTimer.unref();
    }
  }

  flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    this.buffer = [];
    const done = Promise.resolve()
      .then(() => this.opts.sink.insertTelemetry(batch))
      .then(
        (n) => {
          this.stored += n;
        },
        (err: unknown) => this.opts.log?.(`[telemetry] could not store ${batch.length} readings: ${(err as Error).message}`),
      );
    this.inflight.add(done);
    void done.finally(() => this.inflight.delete(done));
  }

  /** Resolves when every batch handed to the sink so far has been stored. */
  async drain(): Promise<void> {
    this.flush();
    await Promise.all([...this.inflight]);
  }

  async prune(now = Date.now()): Promise<number> {
    const cutoff = new Date(now - this.opts.retentionDays * 86_400_000);
    try {
      return await this.opts.sink.deleteTelemetryBefore(cutoff);
    } catch (err) {
      this.opts.log?.(`[telemetry] retention clean-up failed: ${(err as Error).message}`);
      return 0;
    }
  }

  async stop(): Promise<void> {
    await this.drain();
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    this.retentionTimer = undefined;
  }
}
