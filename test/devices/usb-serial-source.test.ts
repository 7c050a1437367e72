import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { classifyUsb } from '../../src/main/devices/usb-ids.js';
import { listFromSysfs, UDEVADM_MISSING, usbLocationFromSysfs, UsbSerialSource, type ListedPort } from '../../src/main/devices/usb-serial-source.js';
import type { SerialDeviceEvent } from '../../src/main/devices/serial-link.js';
import { tempDir } from '../support/temp.js';

const dirs: Array<{ remove(): void }> = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.remove();
});

describe('USB serial discovery', () => {
  it('classifies ports by VID:PID (known ESP32 USB bridges)', async () => {
    const ports: ListedPort[] = [
      { path: '/dev/ttyUSB0', vendorId: '10c4', productId: 'ea60', serialNumber: '0001' },
      { path: '/dev/ttyACM0', vendorId: '303a', productId: '1001' },
      { path: '/dev/ttyUSB1', vendorId: '1a86', productId: '55d4' },
      { path: '/dev/ttyUSB2', vendorId: '1234', productId: '5678' },
      { path: '/dev/ttyS0' },
    ];
    const source = new UsbSerialSource({ lister: async () => ports });
    const list = await source.list();
    expect(list.map((d) => d.path)).toEqual(['/dev/ttyACM0', '/dev/ttyUSB0', '/dev/ttyUSB1', '/dev/ttyUSB2']);
    expect(list.find((d) => d.path === '/dev/ttyUSB0')).toMatchObject({
      vendorId: 0x10c4,
      productId: 0xea60,
      bridge: 'Silicon Labs CP210x',
      resetMode: 'auto',
      likelyEsp32: true,
      serialNumber: '0001',
    });
    expect(list.find((d) => d.path === '/dev/ttyACM0')).toMatchObject({ resetMode: 'usb-jtag', likelyEsp32: true });
    expect(list.find((d) => d.path === '/dev/ttyUSB2')).toMatchObject({ likelyEsp32: false });
    const onlyEsp = await new UsbSerialSource({ lister: async () => ports, includeUnknown: false }).list();
    expect(onlyEsp).toHaveLength(3);
    expect(classifyUsb(0x303a, 0x0009)).toMatchObject({ likelyEsp32: true, resetMode: 'auto' });
  });

  it('reports hot-plug as added/removed events', async () => {
    let ports: ListedPort[] = [{ path: '/dev/ttyUSB0', vendorId: '10c4', productId: 'ea60' }];
    const source = new UsbSerialSource({ lister: async () => ports, pollMs: 20 });
    const events: SerialDeviceEvent[] = [];
    const stop = source.watch((e) => events.push(e));
    const until = async (n: number): Promise<void> => {
      for (let i = 0; i < 100 && events.length < n; i++) await new Promise((r) => setTimeout(r, 10));
    };
    await until(1);
    ports = [...ports, { path: '/dev/ttyUSB1', vendorId: '1a86', productId: '7523' }];
    await until(2);
    ports = ports.slice(1);
    await until(3);
    stop();
    expect(events).toEqual([
      { type: 'added', device: expect.objectContaining({ path: '/dev/ttyUSB0' }) },
      { type: 'added', device: expect.objectContaining({ path: '/dev/ttyUSB1', bridge: 'WCH CH340' }) },
      { type: 'removed', id: '/dev/ttyUSB0' },
    ]);
  });

  it('without udevadm, says so and falls back to sysfs', async () => {
    const emptyBin = tempDir('tds-nobin-');
    dirs.push(emptyBin);
    const saved = process.env.PATH;
    const warnings: string[] = [];
    process.env.PATH = emptyBin.path;
    try {
      const list = await new UsbSerialSource({ onWarning: (m) => warnings.push(m) }).list();
      expect(Array.isArray(list)).toBe(true);
    } finally {
      process.env.PATH = saved;
    }
    expect(warnings).toEqual([UDEVADM_MISSING]);
  });

  it('reads USB ids from a sysfs tree', async () => {
    const root = tempDir('tds-sysfs-');
    dirs.push(root);
    const usbDev = path.join(root.path, 'devices', 'usb1', '1-1', '1-1.3');
    const iface = path.join(usbDev, '1-1.3:1.0', 'ttyUSB0');
    mkdirSync(iface, { recursive: true });
    writeFileSync(path.join(usbDev, 'idVendor'), '10c4\n');
    writeFileSync(path.join(usbDev, 'idProduct'), 'ea60\n');
    writeFileSync(path.join(usbDev, 'serial'), 'ABC\n');
    const cls = path.join(root.path, 'class');
    mkdirSync(path.join(cls, 'ttyUSB0'), { recursive: true });
    symlinkSync(iface, path.join(cls, 'ttyUSB0', 'device'));
    mkdirSync(path.join(cls, 'ttyS0'));
    expect(await listFromSysfs(cls)).toEqual([
      { path: '/dev/ttyUSB0', vendorId: '10c4', productId: 'ea60', serialNumber: 'ABC', manufacturer: undefined, locationId: '1-1.3' },
    ]);
    // The hub position, not the kernel's name, is what the Bench keys its slots by.
    expect(await usbLocationFromSysfs('ttyUSB0', cls)).toBe('1-1.3');
    expect(await usbLocationFromSysfs('ttyS0', cls)).toBeUndefined();
    const [d] = await new UsbSerialSource({ lister: () => listFromSysfs(cls) }).list();
    expect(d).toMatchObject({ path: '/dev/ttyUSB0', location: '1-1.3' });
  });

  it('escapes control characters in the USB strings a device reports', async () => {
    const ports: ListedPort[] = [{ path: '/dev/ttyUSB0', vendorId: '10c4', productId: 'ea60', serialNumber: '01\x1b[2J\r99', manufacturer: 'Silicon\u202eLabs' }];
    const [d] = await new UsbSerialSource({ lister: async () => ports }).list();
    expect(d).toMatchObject({ serialNumber: '01\\x1b[2J\\r99', manufacturer: 'Silicon\\u202eLabs' });
  });
});
