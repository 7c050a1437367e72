import { describe, expect, it } from 'vitest';
import { parseMac, isRaspberryPiMac } from '../src/contract/mac.js';

describe('parseMac', () => {
  it.each([
    ['aa:bb:cc:dd:ee:f0', 'aa:bb:cc:dd:ee:f0', false],
    ['AA:BB:CC:DD:EE:F0', 'aa:bb:cc:dd:ee:f0', true],
    ['aa-bb-cc-dd-ee-f0', 'aa:bb:cc:dd:ee:f0', true],
    ['AABBCCDDEEF0', 'aa:bb:cc:dd:ee:f0', true],
    [' 24:0a:c4:12:34:56 ', '24:0a:c4:12:34:56', true],
  ])('accepts %s', (input, mac, normalised) => {
    expect(parseMac(input)).toEqual({ ok: true, mac, normalised });
  });

  it.each([
    ['00:00:00:00:00:00', /not a device address/],
    ['ff:ff:ff:ff:ff:ff', /broadcast/],
    ['01:00:5e:00:00:01', /multicast/],
    ['aa:bb:cc:dd:ee', /not a MAC address/],
    ['aa:bb-cc:dd:ee:ff', /not a MAC address/],
    ['gg:bb:cc:dd:ee:ff', /not a MAC address/],
    ["aa:bb:cc:dd:ee:ff'; DROP TABLE x;--", /not a MAC address/],
  ])('rejects %s', (input, message) => {
    const r = parseMac(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(message);
  });

  it('rejects non-strings', () => {
    expect(parseMac(12).ok).toBe(false);
  });

  it('knows Raspberry Pi prefixes', () => {
    expect(isRaspberryPiMac('dc:a6:32:01:02:03')).toBe(true);
    expect(isRaspberryPiMac('24:0a:c4:01:02:03')).toBe(false);
  });
});
