/**
 * The control characters in a text, listed by code point: C0, DEL, C1, and the Unicode bidi and
 * line-separator controls. With `allowLf`, line feeds are allowed (text shown as lines). Written
 * apart from the product's escaping so a test does not check that code with itself.
 */
export function controlChars(text: string, options: { allowLf?: boolean } = {}): string[] {
  const found: string[] = [];
  for (const ch of text) {
    const c = ch.codePointAt(0) ?? 0;
    if (options.allowLf && c === 0x0a) continue;
    const control =
      c < 0x20 ||
      (c >= 0x7f && c <= 0x9f) ||
      c === 0x061c ||
      c === 0x200e ||
      c === 0x200f ||
      c === 0x2028 ||
      c === 0x2029 ||
      (c >= 0x202a && c <= 0x202e) ||
      (c >= 0x2066 && c <= 0x2069);
    if (control) found.push(`U+${c.toString(16).padStart(4, '0')}`);
  }
  return found;
}
