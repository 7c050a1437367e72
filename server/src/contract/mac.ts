/**
 * Device identity = MAC address, canonical form lowercase `aa:bb:cc:dd:ee:ff`.
 * Accepts upper case, `-` separators and bare 12-hex input and says when it normalised; rejects
 * anything else, and multicast, broadcast and all-zero addresses (they can never be a device).
 */
export type MacParseResult =
  | { ok: true; mac: string; normalised: boolean }
  | { ok: false; error: string };

const COLON = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
const DASH = /^[0-9a-fA-F]{2}(-[0-9a-fA-F]{2}){5}$/;
const BARE = /^[0-9a-fA-F]{12}$/;

export function parseMac(input: unknown): MacParseResult {
  if (typeof input !== 'string') return { ok: false, error: 'MAC address must be a string like aa:bb:cc:dd:ee:ff' };
  const raw = input.trim();
  let hex: string;
  if (COLON.test(raw) || DASH.test(raw)) hex = raw.replace(/[:-]/g, '');
  else if (BARE.test(raw)) hex = raw;
  else {
    return {
      ok: false,
      error: `'${raw.slice(0, 40)}' is not a MAC address; use aa:bb:cc:dd:ee:ff (or AA-BB-CC-DD-EE-FF, or 12 hex digits)`,
    };
  }
  hex = hex.toLowerCase();
  if (/^0+$/.test(hex)) return { ok: false, error: 'MAC address 00:00:00:00:00:00 is not a device address' };
  const firstOctet = Number.parseInt(hex.slice(0, 2), 16);
  if (/^f+$/.test(hex)) return { ok: false, error: 'MAC address ff:ff:ff:ff:ff:ff is the broadcast address, not a device' };
  if ((firstOctet & 1) === 1) {
    return { ok: false, error: `MAC address ${formatMac(hex)} is a multicast address (first octet is odd), not a device` };
  }
  const mac = formatMac(hex);
  return { ok: true, mac, normalised: mac !== input };
}

/** Canonical MAC or throws an Error with the parse message. */
export function normaliseMac(input: unknown): string {
  const r = parseMac(input);
  if (!r.ok) throw new Error(r.error);
  return r.mac;
}

/** `aa:bb:cc:dd:ee:ff` → `aabbccddeeff` (SAN labels, file names). */
export function macToHex12(mac: string): string {
  return mac.replace(/:/g, '');
}

function formatMac(hex12: string): string {
  return hex12.match(/../g)!.join(':');
}

/** Raspberry Pi Foundation / Raspberry Pi Trading OUIs (IEEE registry): how discovery tells a Pi by its MAC. */
export const RASPBERRY_PI_OUIS = ['b8:27:eb', 'dc:a6:32', 'e4:5f:01', 'd8:3a:dd', '2c:cf:67'] as const;

export function isRaspberryPiMac(mac: string): boolean {
  const m = parseMac(mac);
  return m.ok && RASPBERRY_PI_OUIS.some((p) => m.mac.startsWith(p));
}
