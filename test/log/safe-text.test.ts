import { describe, expect, it } from 'vitest';
import { safeLine, safeLines, safeLogLines } from '../../src/main/log/safe-text.js';

// Control characters in text from outside the station become visible escapes before they reach a
// log or a terminal: C0 (line breaks included in one line), DEL, C1, and the Unicode bidi controls.
describe('safe log text', () => {
  it('escapes terminal control sequences, carriage returns and bidi overrides in one line', () => {
    expect(safeLine('\x1b[2J\x1b]0;owned\x07cleared')).toBe('\\x1b[2J\\x1b]0;owned\\x07cleared');
    expect(safeLine('progress 10%\rprogress OK ')).toBe('progress 10%\\rprogress OK ');
    expect(safeLine('invoice\u202Efdp.exe')).toBe('invoice\\u202efdp.exe');
    expect(safeLine('a\nb\tc\0d\x7fe')).toBe('a\\nb\\tc\\x00d\\x7fe');
  });

  it('escapes C1 controls (an 8-bit CSI is as good as ESC [) and every bidi and line-separator control', () => {
    expect(safeLine('\u009b2J\u0085\u009d')).toBe('\\x9b2J\\x85\\x9d');
    const bidi = ['\u061c', '\u200e', '\u200f', '\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069', '\u2028', '\u2029'];
    for (const c of bidi) expect(safeLine(`x${c}y`)).toBe(`x\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}y`);
  });

  it('leaves printable text alone, non-ASCII and backslashes included, so escaping twice changes nothing', () => {
    const plain = 'Conexão à rede "bench" — 24:6f:28:aa:00:01 ✓ C:\\tds\\log 日本';
    expect(safeLine(plain)).toBe(plain);
    const once = safeLine('\x1b[31mred\u202e\r\n');
    expect(once).toBe('\\x1b[31mred\\u202e\\r\\n');
    expect(safeLine(once)).toBe(once);
    expect(safeLines(once)).toBe(once);
  });

  it('keeps line breaks where the text is shown as lines: LF and CRLF separate lines, a lone CR is escaped', () => {
    expect(safeLines('first\r\nsecond\nthird\rfake')).toBe('first\nsecond\nthird\\rfake');
    expect(safeLines('last line ends\r\n')).toBe('last line ends\n');
    expect(safeLogLines('one\r\ntwo \x1b[Kthree\n')).toEqual(['one', 'two \\x1b[Kthree']);
    expect(safeLogLines('')).toEqual(['']);
    expect(safeLogLines('a\n\nb')).toEqual(['a', '', 'b']);
  });
});
