/**
 * Minimal structured logger (stderr). Callers never pass secrets; there is no request-body logging.
 * Messages and field values often carry input (a CSR's CN, a device's payload, an error text), so
 * every line is escaped (`escape.ts`): nothing from outside can forge a line or drive the terminal.
 */
import { escapeControlChars, escapeJsonControlChars } from './escape.js';

export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };

export interface StderrLoggerOptions {
  json?: boolean;
  quiet?: boolean;
  /** Where whole lines go (default: process.stderr). */
  write?: (line: string) => void;
}

export function stderrLogger(options: StderrLoggerOptions = {}): Logger {
  const out = options.write ?? ((line: string): void => void process.stderr.write(line));
  const write = (level: string, message: string, fields?: Record<string, unknown>): void => {
    if (options.quiet && level === 'info') return;
    const at = new Date().toISOString();
    if (options.json) out(escapeJsonControlChars(JSON.stringify({ at, level, message, ...fields })) + '\n');
    else {
      const extra = fields ? ' ' + Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ') : '';
      out(`${at} ${level.toUpperCase()} ${escapeControlChars(message + extra)}\n`);
    }
  };
  return {
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
  };
}
