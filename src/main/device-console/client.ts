import { JobFailure } from '../jobs/job-failure.js';
import type { SerialLink } from '../devices/serial-link.js';
import {
  CommitSchema,
  CONSOLE_PROTOCOL,
  CsrSchema,
  chunkRequests,
  DEFAULT_CHUNK_BYTES,
  encodeLine,
  EventSchema,
  InfoSchema,
  LINE_PREFIX,
  type CommitReply,
  type ConsoleErrorCode,
  type ConsoleEvent,
  type ConsoleKey,
  type CsrReply,
  type DeviceInfo,
} from './protocol.js';
import type { z } from 'zod';

export interface DeviceConsoleOptions {
  /** How long one request may take (key generation on an ESP32 takes about a second). Default 10 s. */
  timeoutMs?: number;
  /** Values longer than this many bytes go in chunks. Default 256. */
  chunkBytes?: number;
  /** Every non-console line the device prints (boot log), for the job log. */
  onLogLine?: (line: string) => void;
}

/** The device answered `ok: false`. */
export class ConsoleRequestError extends JobFailure {
  constructor(
    readonly consoleCode: ConsoleErrorCode | string,
    message: string,
    readonly problems: string[] = [],
    where?: string,
  ) {
    super('DEVICE_CONSOLE_FAILED', problems.length > 0 ? `${message}: ${problems.join('; ')}` : message, {
      hint: hintFor(consoleCode),
      ...(where !== undefined ? { where } : {}),
    });
    this.name = 'ConsoleRequestError';
  }
}

function hintFor(code: string): string {
  switch (code) {
    case 'invalid_config':
      return 'The device refused the configuration; fix the listed problems (certificate for this MAC, CA, Wi-Fi, broker) and provision again.';
    case 'crc':
    case 'seq':
      return 'Serial data was corrupted; check the USB cable and try again.';
    case 'keygen_failed':
    case 'storage':
      return 'The device could not create or store its key; power-cycle the board and try again, or use keyMode "station".';
    default:
      return 'Make sure the board runs the TDS gateway firmware (tds-console/1) and try again.';
  }
}

interface Pending {
  resolve(reply: Record<string, unknown>): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
  cmd: string;
}

/**
 * Client of the firmware's serial console over a SerialLink that the caller has opened (115200 8N1)
 * and keeps owning. One request at a time, matched by id; unsolicited `TDS {"event":...}` lines go
 * to event listeners, every other line to `onLogLine`.
 */
export class DeviceConsoleClient {
  private readonly timeoutMs: number;
  private readonly chunkBytes: number;
  private readonly detach: Array<() => void> = [];
  private readonly pending = new Map<number, Pending>();
  private readonly eventListeners = new Set<(e: ConsoleEvent) => void>();
  private buffer = '';
  private nextId = 1;
  private queue: Promise<unknown> = Promise.resolve();
  private closedError: Error | undefined;

  constructor(
    private readonly link: SerialLink,
    private readonly options: DeviceConsoleOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    const decoder = new TextDecoder('utf-8');
    this.detach.push(link.onData((chunk) => this.onText(decoder.decode(chunk, { stream: true }))));
    this.detach.push(
      link.onClose((error) => {
        this.closedError = new JobFailure('PORT_GONE', `${link.path} closed${error ? `: ${error.message}` : ''}`);
        this.failAll(this.closedError);
      }),
    );
  }

  /** Stops listening to the link (does not close it). Pending requests fail. */
  dispose(): void {
    for (const d of this.detach.splice(0)) d();
    this.failAll(new JobFailure('CANCELLED', 'device console closed'));
  }

  onEvent(listener: (e: ConsoleEvent) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  /** Resolves with the first event matching `predicate` (e.g. the `boot` line after a reboot). */
  waitForEvent(predicate: (e: ConsoleEvent) => boolean, timeoutMs = 30_000): Promise<ConsoleEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new JobFailure('DEVICE_CONSOLE_FAILED', `no matching console event within ${timeoutMs} ms`, { where: this.link.path }));
      }, timeoutMs);
      const off = this.onEvent((e) => {
        if (!predicate(e)) return;
        clearTimeout(timer);
        off();
        resolve(e);
      });
    });
  }

  /** MAC, firmware, chip, certificate state, configuration problems. Checks the protocol version. */
  async info(): Promise<DeviceInfo> {
    const info = this.parse(InfoSchema, await this.request({ cmd: 'info' }), 'info');
    if (info.proto !== CONSOLE_PROTOCOL) {
      throw new ConsoleRequestError('bad_request', `device speaks ${info.proto}, this station speaks ${CONSOLE_PROTOCOL}`, [], this.link.path);
    }
    return info;
  }

  /** A new EC P-256 key on the device (kept in its NVS) and a CSR whose CN is its MAC. */
  async csr(): Promise<CsrReply> {
    return this.parse(CsrSchema, await this.request({ cmd: 'csr' }, Math.max(this.timeoutMs, 30_000)), 'csr');
  }

  /** Stages one value (chunked with CRC-32 when long). `null` or `''` erases the key at commit. */
  async set(key: ConsoleKey, value: string | number | null): Promise<void> {
    if (value === null || typeof value === 'number' || Buffer.byteLength(value, 'utf8') <= this.chunkBytes) {
      await this.request({ cmd: 'set', key, value });
      return;
    }
    for (const req of chunkRequests(key, value, this.chunkBytes)) {
      // A corrupted chunk is answered with "crc": send that chunk once more.
      try {
        await this.request(req);
      } catch (err) {
        if (!(err instanceof ConsoleRequestError) || err.consoleCode !== 'crc' || req.final === true) throw err;
        await this.request(req);
      }
    }
  }

  /** Stages several values in order. */
  async setAll(values: Partial<Record<ConsoleKey, string | number | null>>): Promise<void> {
    for (const [key, value] of Object.entries(values) as Array<[ConsoleKey, string | number | null | undefined]>) {
      if (value !== undefined) await this.set(key, value);
    }
  }

  /** Validates and writes the staged values; refused (ConsoleRequestError "invalid_config") when incomplete. */
  async commit(options: { allowIncomplete?: boolean } = {}): Promise<CommitReply> {
    const req: Record<string, unknown> = { cmd: 'commit' };
    if (options.allowIncomplete) req.allow_incomplete = true;
    return this.parse(CommitSchema, await this.request(req), 'commit');
  }

  /** Drops staged values. */
  async discard(): Promise<void> {
    await this.request({ cmd: 'discard' });
  }

  /** Acknowledged, then the device resets about 300 ms later; resolves with its next `boot` event. */
  async reboot(bootTimeoutMs = 20_000): Promise<ConsoleEvent> {
    const booted = this.waitForEvent((e) => e.event === 'boot', bootTimeoutMs);
    booted.catch(() => undefined);
    await this.request({ cmd: 'reboot' });
    return booted;
  }

  private parse<T extends z.ZodType>(schema: T, reply: Record<string, unknown>, cmd: string): z.infer<T> {
    const r = schema.safeParse(reply);
    if (!r.success) {
      throw new ConsoleRequestError('bad_request', `unexpected ${cmd} reply from the device: ${r.error.issues[0]?.message ?? ''}`, [], this.link.path);
    }
    return r.data;
  }

  /** One request/reply, serialised behind earlier requests. */
  private request(body: Record<string, unknown>, timeoutMs = this.timeoutMs): Promise<Record<string, unknown>> {
    const run = (): Promise<Record<string, unknown>> => this.send(body, timeoutMs);
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private send(body: Record<string, unknown>, timeoutMs: number): Promise<Record<string, unknown>> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    const cmd = String(body.cmd);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new JobFailure('DEVICE_CONSOLE_FAILED', `no reply to "${cmd}" from the device console within ${timeoutMs} ms`, {
            hint: 'Check that the board runs the TDS gateway firmware at 115200 baud and is not held in reset or download mode.',
            where: this.link.path,
          }),
        );
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer, cmd });
      this.link.write(encodeLine({ id, ...body })).catch((err: unknown) => {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(err instanceof Error ? err : new Error(String(err)));
      });
    });
  }

  private onText(text: string): void {
    this.buffer += text;
    if (this.buffer.length > 1_000_000) this.buffer = this.buffer.slice(-100_000);
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).replace(/\r$/, '');
      this.buffer = this.buffer.slice(nl + 1);
      this.onLine(line);
    }
  }

  private onLine(line: string): void {
    const at = line.indexOf(`${LINE_PREFIX}{`);
    if (at < 0) {
      // Boot log and Improv frames; Improv bytes are not text, so keep only printable lines.
      if (line.length > 0 && !line.startsWith('IMPROV')) this.options.onLogLine?.(line);
      return;
    }
    let msg: unknown;
    try {
      msg = JSON.parse(line.slice(at + LINE_PREFIX.length));
    } catch {
      this.options.onLogLine?.(line); // a console line garbled by noise: a retry will follow a timeout
      return;
    }
    if (typeof msg !== 'object' || msg === null) return;
    const record = msg as Record<string, unknown>;
    const ev = EventSchema.safeParse(record);
    if (ev.success && !('ok' in record)) {
      for (const l of [...this.eventListeners]) l(record as ConsoleEvent);
      return;
    }
    if (typeof record.id !== 'number') return;
    const p = this.pending.get(record.id);
    if (!p) return;
    this.pending.delete(record.id);
    clearTimeout(p.timer);
    if (record.ok === true) p.resolve(record);
    else {
      const problems = Array.isArray(record.problems) ? record.problems.map(String) : [];
      p.reject(
        new ConsoleRequestError(
          String(record.error ?? 'unknown'),
          `device refused "${p.cmd}": ${String(record.message ?? record.error ?? 'error')}`,
          problems,
          this.link.path,
        ),
      );
    }
  }

  private failAll(err: Error): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(err);
      this.pending.delete(id);
    }
  }
}
