/**
 * Last line of defence against secrets in logs: anything that looks like a private key (PEM block,
 * even cut off) or a bearer/token header is replaced before a line is kept. Jobs must not log
 * secrets in the first place; this catches mistakes and hostile device output.
 */
const PEM_PRIVATE_KEY = /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?(-----END \1PRIVATE KEY-----|$)/g;
const TOKEN_HEADER = /\b(Authorization:\s*(?:Token|Bearer)\s+)\S+/gi;

export const MAX_LINE_CHARS = 4000;

export function redactSecrets(text: string, maxChars = MAX_LINE_CHARS): string {
  let out = text.replace(PEM_PRIVATE_KEY, '[private key removed]').replace(TOKEN_HEADER, '$1[removed]');
  if (out.length > maxChars) out = `${out.slice(0, maxChars)} …[${out.length - maxChars} chars cut]`;
  return out;
}
