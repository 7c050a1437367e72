import type { SerialLink } from '../devices/serial-link.js';
import { redactSecrets } from '../log/redact.js';
import { safeLine } from '../log/safe-text.js';

const MAX_BYTES = 64 * 1024;

/**
 * Collects what a board prints on its serial port after a reset (ROM banner, 2nd-stage
 * bootloader, application log) as text lines, capped at 64 KiB, with any private-key PEM removed.
 * Lines end at LF (CRLF as the ROM prints it); any other control character a board prints (an
 * escape sequence, a lone CR that would overwrite the line in a terminal) is kept as a visible escape.
 */
export class BootLogCapture {
  private bytes = 0;
  private partial = '';
  private readonly lines: string[] = [];
  private readonly decoder = new TextDecoder('utf-8', { fatal: false });
  private readonly off: () => void;
  private readonly lineListeners = new Set<(line: string) => void>();
  private truncated = false;

  constructor(link: SerialLink) {
    this.off = link.onData((chunk) => this.push(chunk));
  }

  /** Every complete line so far (and the unfinished last one). */
  text(): string {
    const all = this.partial ? [...this.lines, safeLine(this.partial)] : this.lines;
    return redactSecrets(all.join('\n') + (this.truncated ? '\n[boot log cut at 64 KiB]' : ''), Number.POSITIVE_INFINITY);
  }

  lineCount(): number {
    return this.lines.length;
  }

  onLine(listener: (line: string) => void): () => void {
    this.lineListeners.add(listener);
    return () => this.lineListeners.delete(listener);
  }

  /** Resolves true when a line matches, false after `ms` (or on abort). */
  waitFor(pattern: RegExp, ms: number, signal?: AbortSignal): Promise<boolean> {
    if (this.lines.some((l) => pattern.test(l))) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (v: boolean): void => {
        clearTimeout(timer);
        off();
        signal?.removeEventListener('abort', onAbort);
        resolve(v);
      };
      const timer = setTimeout(() => done(false), ms);
      const off = this.onLine((l) => {
        if (pattern.test(l)) done(true);
      });
      const onAbort = (): void => done(false);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  stop(): void {
    this.off();
  }

  private push(chunk: Uint8Array): void {
    if (this.bytes >= MAX_BYTES) {
      this.truncated = true;
      return;
    }
    this.bytes += chunk.length;
    // Bytes that are no text (output at the wrong speed, noise at the reset) are dropped.
    const text = this.decoder.decode(chunk, { stream: true }).replace(NOISE, '');
    const parts = (this.partial + text).split('\n');
    this.partial = parts.pop() ?? '';
    for (const raw of parts) {
      const line = safeLine(raw.endsWith('\r') ? raw.slice(0, -1) : raw);
      if (line.length === 0) continue;
      this.lines.push(line);
      for (const l of this.lineListeners) l(line);
    }
  }
}

/** NUL and the decoder's replacement character: what undecodable bytes turn into. */
const NOISE = /[\0\ufffd]/g;
