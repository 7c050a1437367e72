/** Minimal structured logger (stderr). Callers never pass secrets; there is no request-body logging. */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };

export function stderrLogger(options: { json?: boolean; quiet?: boolean } = {}): Logger {
  const write = (level: string, message: string, fields?: Record<string, unknown>): void => {
    if (options.quiet && level === 'info') return;
    const at = new Date().toISOString();
    if (options.json) process.stderr.write(JSON.stringify({ at, level, message, ...fields }) + '\n');
    else {
      const extra = fields ? ' ' + Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ') : '';
      process.stderr.write(`${at} ${level.toUpperCase()} ${message}${extra}\n`);
    }
  };
  return {
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
  };
}
