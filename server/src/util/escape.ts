/**
 * Escaping of text that came from outside (a CSR's CN, a device's payload, a server's error) before
 * it goes into a log line or onto a terminal: control characters could forge lines, move the
 * cursor or recolour the screen, and bidi overrides make a line read differently from what it
 * holds. Everything else, backslashes included, is kept as it is.
 */

// C0 (incl. tab, CR, LF), DEL, C1; the bidi controls (ALM, LRM/RLM, embeddings/overrides, isolates);
// line and paragraph separators.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeOne(ch: string): string {
  const named = NAMED[ch];
  if (named) return named;
  const code = ch.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** `text` with every control character, bidi control and line separator written as a visible escape (`\x1b`, `\u202e`, `\n`). */
export function escapeControlChars(text: string): string {
  return text.replace(UNSAFE, escapeOne);
}

/** A JSON text with the same characters as JSON `\uXXXX` escapes: still valid JSON that parses to the same value. */
export function escapeJsonControlChars(json: string): string {
  return json.replace(UNSAFE, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
