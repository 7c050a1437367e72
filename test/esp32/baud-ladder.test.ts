import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { productFromPnpId } from '../../src/main/devices/usb-serial-source.js';
import { below, bridgeLadder } from '../../src/main/esp32/baud-ladder.js';
import { baudPlanFor, FAILED_RATE_RETRY_MS, PORT_RATES_FILE, PortRates } from '../../src/main/esp32/port-rates.js';
import { MAX_BAUD_CHOICES } from '../../src/shared/profile.js';
import { tempDir } from '../support/temp.js';

const CP2102N = { path: '/dev/ttyUSB0', vendorId: 0x10c4, productId: 0xea60, product: 'Silicon Labs CP2102N USB to UART Bridge Controller' };
const CP2102 = { path: '/dev/ttyUSB1', vendorId: 0x10c4, productId: 0xea60, product: 'Silicon Labs CP2102 USB to UART Bridge Controller' };

describe('speed ladder per USB bridge', () => {
  it('picks the rungs by VID:PID and product string', () => {
    expect(bridgeLadder(CP2102N, { platform: 'linux' })).toEqual({ bridge: 'CP2102N', rates: [2_000_000, 921_600] });
    expect(bridgeLadder(CP2102, { platform: 'linux' })).toEqual({ bridge: 'CP210x', rates: [921_600, 460_800] });
    expect(bridgeLadder({ vendorId: 0x1a86, productId: 0x55d4 }).rates).toEqual([2_000_000, 921_600]);
    expect(bridgeLadder({ vendorId: 0x0403, productId: 0x6001 }).rates).toEqual([2_000_000, 921_600]);
    // CH340: lower on Linux (the ch341 driver's divisors), 921600 elsewhere.
    expect(bridgeLadder({ vendorId: 0x1a86, productId: 0x7523 }, { platform: 'linux' }).rates).toEqual([460_800, 230_400]);
    expect(bridgeLadder({ vendorId: 0x1a86, productId: 0x7523 }, { platform: 'win32' }).rates).toEqual([921_600, 460_800]);
    // USB-Serial/JTAG is USB end to end: no speed change at all.
    expect(bridgeLadder({ vendorId: 0x303a, productId: 0x1001 })).toEqual({ bridge: 'USB-Serial/JTAG', rates: [] });
    expect(bridgeLadder({})).toEqual({ bridge: 'unknown bridge', rates: [921_600, 460_800] });
  });

  it('a profile cap removes faster rungs; a cap below every rung is used itself; a bad cap is refused', () => {
    expect(bridgeLadder(CP2102N, { maxBaud: 921_600 }).rates).toEqual([921_600]);
    expect(bridgeLadder(CP2102N, { maxBaud: 1_500_000 }).rates).toEqual([921_600]);
    expect(bridgeLadder(CP2102N, { maxBaud: 230_400 }).rates).toEqual([230_400]);
    expect(bridgeLadder(CP2102N, { maxBaud: 115_200 }).rates).toEqual([]);
    expect(() => bridgeLadder(CP2102N, { maxBaud: 9600 })).toThrow(expect.objectContaining({ code: 'PROFILE_INVALID', message: expect.stringMatching(/at least 115200 baud/) }));
    expect(below({ rates: [2_000_000, 921_600] }, 2_000_000).rates).toEqual([921_600]);
    expect(below({ rates: [921_600] }, 921_600).rates).toEqual([]);
  });

  it("the Settings form's speed choices are the ladders' rungs (every rung can be chosen as the cap)", () => {
    const known = [CP2102N, CP2102, ...[[0x10c4, 0xea64], [0x1a86, 0x7523], [0x1a86, 0x55d4], [0x1a86, 0x55d3], [0x0403, 0x6001], [0x0403, 0x6010], [0x0403, 0x6014], [0x0403, 0x6015], [0x067b, 0x2303]].map(([vendorId, productId]) => ({ vendorId, productId }))];
    const rungs = new Set(known.flatMap((d) => (['linux', 'win32', 'darwin'] as const).flatMap((platform) => bridgeLadder(d, { platform }).rates)));
    expect([...rungs].every((r) => (MAX_BAUD_CHOICES as readonly number[]).includes(r)), [...rungs].join(', ')).toBe(true);
    // Each choice caps the fastest ladder at itself (115200: no speed change).
    for (const cap of MAX_BAUD_CHOICES) expect(bridgeLadder(CP2102N, { maxBaud: cap }).rates[0] ?? 115_200).toBe(cap);
  });

  it('reads the product string out of a udev by-id name', () => {
    expect(productFromPnpId('usb-Silicon_Labs_CP2102N_USB_to_UART_Bridge_Controller_a4b1c2-if00-port0', 'a4b1c2')).toBe(
      'Silicon Labs CP2102N USB to UART Bridge Controller',
    );
    expect(productFromPnpId('usb-1a86_USB_Single_Serial_5434012345-if00', '5434012345')).toBe('1a86 USB Single Serial');
    expect(productFromPnpId(undefined)).toBeUndefined();
    expect(productFromPnpId('pci-0000:00:14.0')).toBeUndefined();
  });
});

describe('port speed memory (data folder)', () => {
  it('remembers a failed rate per port, starts there next time, keeps it on disk, and retries it after a week', async () => {
    const dir = tempDir('tds-port-rates-');
    try {
      let now = Date.parse('2026-01-01T00:00:00Z');
      const rates = await PortRates.open(dir.path, { now: () => now });
      const plan = baudPlanFor(CP2102N, { portRates: rates, platform: 'linux' });
      expect(plan.rates).toEqual([2_000_000, 921_600]);
      plan.record!(2_000_000, false);
      plan.record!(921_600, true);
      await rates.flush();
      expect(rates.get(CP2102N)).toEqual({ worked: 921_600, failed: [2_000_000] });
      // Another adapter on the same path, or another port, starts fresh.
      expect(baudPlanFor(CP2102, { portRates: rates, platform: 'linux' }).rates).toEqual([921_600, 460_800]);
      expect(baudPlanFor({ ...CP2102N, path: '/dev/ttyUSB9' }, { portRates: rates, platform: 'linux' }).rates).toEqual([2_000_000, 921_600]);

      const file = path.join(dir.path, PORT_RATES_FILE);
      const onDisk = JSON.parse(readFileSync(file, 'utf8')) as { version: number; ports: Record<string, unknown> };
      expect(onDisk.version).toBe(1);
      expect(Object.keys(onDisk.ports)).toEqual([PortRates.key(CP2102N)]);
      const reopened = await PortRates.open(dir.path, { now: () => now });
      expect(baudPlanFor(CP2102N, { portRates: reopened, platform: 'linux' }).rates).toEqual([921_600]);
      now += FAILED_RATE_RETRY_MS + 1;
      expect(baudPlanFor(CP2102N, { portRates: reopened, platform: 'linux' }).rates).toEqual([2_000_000, 921_600]);
    } finally {
      dir.remove();
    }
  });

  it('never leaves a port without a rate, and sets a damaged file aside with a warning', async () => {
    const dir = tempDir('tds-port-rates-');
    try {
      const rates = await PortRates.open(dir.path);
      const plan = baudPlanFor(CP2102N, { portRates: rates, platform: 'linux' });
      plan.record!(2_000_000, false);
      plan.record!(921_600, false);
      expect(baudPlanFor(CP2102N, { portRates: rates, platform: 'linux' }).rates).toEqual([921_600]);
      await rates.flush();
      writeFileSync(path.join(dir.path, PORT_RATES_FILE), '{"version": 1, "ports": {"x": {"worked": "fast"}}}');
      const warnings: string[] = [];
      const fresh = await PortRates.open(dir.path, { onWarning: (m) => warnings.push(m) });
      expect(warnings[0]).toMatch(/not a valid port-rate file/);
      expect(baudPlanFor(CP2102N, { portRates: fresh, platform: 'linux' }).rates).toEqual([2_000_000, 921_600]);
    } finally {
      dir.remove();
    }
  });
});
