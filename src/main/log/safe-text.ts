/**
 * Text from outside the station (a board's output, a remote command's output, a field a device
 * reports, an error message quoting any of them) made safe for a log or a terminal: control
 * characters (C0, DEL, C1) and the Unicode bidirectional and line-separator controls become visible
 * escapes (`\x1b`, `\r`, `\u202e`), so such text cannot move the cursor, clear or retitle a terminal,
 * overwrite a line with a carriage return, forge a line, or reorder what a reader sees.
 * Everything printable passes unchanged (a backslash too), so escaping twice changes nothing.
 *
 * The station's one entry point for this, so that it can follow the server package's escaping.
 */

const SHORT: Readonly<Record<string, string>> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** Anything that is not printable ASCII; `unsafe` decides which of these are escaped. */
const NOT_PRINTABLE_ASCII = /[^ -~]/g;

function unsafe(code: number): boolean {
  return (
    code < 0x20 || // C0
    (code >= 0x7f && code <= 0x9f) || // DEL, C1
    code === 0x061c || // Arabic letter mark
    code === 0x200e || code === 0x200f || // LRM, RLM
    code === 0x2028 || code === 0x2029 || // line and paragraph separators
    (code >= 0x202a && code <= 0x202e) || // LRE, RLE, PDF, LRO, RLO
    (code >= 0x2066 && code <= 0x2069) // LRI, RLI, FSI, PDI
  );
}

function escapeChar(c: string): string {
  const code = c.charCodeAt(0);
  if (!unsafe(code)) return c;
  return SHORT[c] ?? (code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
}

/** One line: every control character, line breaks included, escaped. */
export function safeLine(text: string): string {
  return text.replace(NOT_PRINTABLE_ASCII, escapeChar);
}

/** Text shown as several lines (an error message, a boot log): LF and CRLF stay line breaks (as LF), the rest as `safeLine`. */
export function safeLines(text: string): string {
  return text.split('\n').map((l) => safeLine(l.endsWith('\r') ? l.slice(0, -1) : l)).join('\n');
}

/** The lines of a text (split at LF or CRLF, without a final empty one), each as `safeLine`. */
export function safeLogLines(text: string): string[] {
  const lines = text.split('\n').map((l) => safeLine(l.endsWith('\r') ? l.slice(0, -1) : l));
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}
