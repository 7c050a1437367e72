/**
 * Lenient MAC recognition for UI input (a scanned label): canonical lowercase aa:bb:cc:dd:ee:ff, or
 * null. The authoritative parser (with the multicast/broadcast rules) is server/src/contract/mac.ts.
 */
export function parseMacLoose(input: string): string | null {
  const s = input.trim();
  const hex = /^[0-9a-fA-F]{2}([:-]?)[0-9a-fA-F]{2}(?:\1[0-9a-fA-F]{2}){4}$/.test(s) ? s.replace(/[:-]/g, '').toLowerCase() : null;
  return hex && hex.length === 12 ? hex.match(/../g)!.join(':') : null;
}
