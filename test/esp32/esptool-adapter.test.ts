import { createHash } from 'node:crypto';
import { readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SerialLink, SerialSignals } from '../../src/main/devices/serial-link.js';
import { SerialPortLink } from '../../src/main/devices/serialport-link.js';
import { buildForChip, loadBundle, type BundleBuild } from '../../src/main/esp32/bundle.js';
import { EspSession, type FlashPart } from '../../src/main/esp32/esp-session.js';
import { LinkWebSerialPort } from '../../src/main/esp32/web-serial-port.js';
import { JobFailure } from '../../src/main/jobs/index.js';
import { startEsp32Sim, type Esp32Sim } from '../sim/esp32/launch.js';
import { SimDeviceSource } from '../sim/esp32/sim-device-source.js';

const MANIFEST = new URL('../fixtures/bundle-arduino/manifest.json', import.meta.url).pathname;

describe('LinkWebSerialPort (Web Serial shape for esptool-js)', () => {
  it('keeps a line when setSignals leaves it undefined, and always hands the link both', async () => {
    const sent: SerialSignals[] = [];
    const fake: SerialLink = {
      path: '/dev/fake',
      isOpen: false,
      open: async function (this: { isOpen: boolean }) {
        this.isOpen = true;
      },
      write: async () => undefined,
      onData: () => () => undefined,
      onClose: () => () => undefined,
      setSignals: async (s) => void sent.push(s),
      setBaudRate: async () => undefined,
      close: async () => undefined,
    };
    const port = new LinkWebSerialPort(fake, { usbVendorId: 0x303a, usbProductId: 0x1001 });
    expect(port.getInfo()).toEqual({ usbVendorId: 0x303a, usbProductId: 0x1001 });
    await port.open({ baudRate: 115200 });
    const first = port.readable;
    expect(first).not.toBeNull();
    await port.setSignals({ dataTerminalReady: false });
    await port.setSignals({ requestToSend: false });
    await port.setSignals({ requestToSend: true });
    expect(sent).toEqual([
      { dtr: false, rts: true },
      { dtr: false, rts: false },
      { dtr: false, rts: true },
    ]);
    await port.close();
    expect(port.readable).toBeNull();
    expect(port.writable).toBeNull();
    await port.open({ baudRate: 921600 });
    expect(port.readable).not.toBe(first); // fresh streams on every open
  });
});

describe('esptool-js 0.7.0 through the adapter, against the simulator', () => {
  let sim: Esp32Sim;
  let source: SimDeviceSource;
  let build: BundleBuild;
  const lines: string[] = [];
  const controller = new AbortController();

  beforeAll(async () => {
    sim = await startEsp32Sim({ mac: '24:6f:28:aa:00:01' });
    source = new SimDeviceSource();
    await source.add(sim);
    build = buildForChip(await loadBundle(MANIFEST), 'ESP32');
  });
  afterAll(async () => {
    source?.close();
    await sim?.stop();
  });

  /** Re-plugs the board (resets its byte counter for unplug-at-byte) and waits until the source lists it. */
  async function replug(): Promise<void> {
    await sim.sendControl('UNPLUG');
    await sim.sendControl('PLUG');
    for (let i = 0; i < 100 && (await source.list()).length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  }

  async function connect(baud = 921600, signal = controller.signal): Promise<EspSession> {
    const [device] = await source.list();
    if (!device) throw new Error('the simulated board is not plugged in');
    return EspSession.connect(source.link(device!), {
      baud,
      resetMode: 'auto',
      signal,
      usbVendorId: device!.vendorId!,
      usbProductId: device!.productId!,
      log: (t) => lines.push(t),
    });
  }
  const parts = (): FlashPart[] => build.parts.map((p) => ({ name: p.name, address: p.offset, data: p.data }));

  it('probes chip, revision, MAC, flash size and crystal, and switches to 921600', async () => {
    const s = await connect();
    try {
      expect(s.chip).toMatchObject({
        chipFamily: 'ESP32',
        description: expect.stringMatching(/^ESP32-D0WD/),
        mac: '24:6f:28:aa:00:01',
        crystalMhz: 40,
        flashSize: '4MB',
        flashSizeBytes: 4 * 1024 * 1024,
        baud: 921600,
      });
      expect(s.chip.revision).toBeTypeOf('number');
      expect(lines.some((l) => l.includes('Stub running'))).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('flashes compressed with MD5 verification, reads back equal, and reboots into the app', async () => {
    const s = await connect();
    const progress: number[] = [];
    await s.flash(parts(), (p) => progress.push(p.fraction)).catch(async (e: unknown) => {
      await s.close();
      throw e;
    });
    expect(progress.at(-1)).toBeCloseTo(1, 5);
    expect(lines.filter((l) => /^\[flash\] .*: MD5 verified/.test(l)).length).toBe(parts().length);
    const app = build.parts.find((p) => p.role === 'app')!;
    const back = await s.esploader.readFlash(app.offset, 4096);
    expect(Buffer.from(back).equals(Buffer.from(app.data.subarray(0, 4096)))).toBe(true);
    const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');
    expect(md5(sim.readFlash(app.offset, app.data.length))).toBe(md5(app.data));
    let boot = '';
    const link = await s.rebootAndDetach((l) => l.onData((c) => (boot += Buffer.from(c).toString('latin1'))));
    for (let i = 0; i < 100 && !/Loaded app from partition/.test(boot); i++) await new Promise((r) => setTimeout(r, 50));
    await link.close();
    expect(boot).toMatch(/boot:0x13 \(SPI_FAST_FLASH_BOOT\)/);
    expect(boot).toMatch(/Loaded app from partition at offset 0x10000/);
  });

  it('catches an MD5 mismatch and says which part', async () => {
    const s = await connect();
    try {
      await s.esploader.eraseFlash(); // a new board: parts it already holds would be skipped
      await sim.sendControl('FAULT md5-mismatch=once');
      const err = await s.flash(parts()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(JobFailure);
      expect(err).toMatchObject({ code: 'FLASH_VERIFY_FAILED', where: expect.stringMatching(/bootloader\.bin at 0x1000/) });
    } finally {
      await s.close();
      await sim.sendControl('FAULT clear');
    }
  });

  it('reports an unplug mid-flash as PORT_GONE with the place it happened', async () => {
    await replug();
    const s = await connect();
    try {
      await s.esploader.eraseFlash(); // a new board: parts it already holds would be skipped
      await sim.sendControl('FAULT unplug-at-byte=250000');
      const t0 = Date.now();
      const err = await s.flash(parts()).catch((e: unknown) => e);
      expect(Date.now() - t0).toBeLessThan(4000);
      expect(err).toMatchObject({ code: 'PORT_GONE', where: expect.stringMatching(/app\.bin at 0x10000, \d+ of 742192 bytes written/) });
    } finally {
      await s.close();
      await sim.sendControl('FAULT clear');
      await replug();
    }
  });

  it('maps a port held by another program to PORT_BUSY', async () => {
    const other = new SerialPortLink(sim.hostPath);
    await other.open({ baudRate: 115200 });
    try {
      await expect(connect()).rejects.toMatchObject({ code: 'PORT_BUSY' });
    } finally {
      await other.close();
    }
  });

  it('gives up with NO_BOOTLOADER (hint: hold BOOT) when the ROM never answers', async () => {
    await sim.sendControl('FAULT mute');
    try {
      const err = await connect().catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'NO_BOOTLOADER', hint: expect.stringMatching(/BOOT/) });
    } finally {
      await sim.sendControl('FAULT clear');
    }
  }, 90_000);

  it('leaves the port free after a cancel during the connect, whenever it lands (esptool-js keeps going behind it)', async () => {
    const target = realpathSync(sim.hostPath);
    const heldHere = (): string[] =>
      readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`) === target;
        } catch {
          return false;
        }
      });
    // 0 ms: before esptool-js has opened the port; later: while it resets and syncs with the ROM.
    for (const delayMs of [0, 5, 30, 150, 600]) {
      const ac = new AbortController();
      const connecting = connect(921600, ac.signal).catch((e: unknown) => e);
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      ac.abort();
      const err = await connecting;
      if (err instanceof EspSession) await err.close();
      else expect((err as Error).name, `cancel after ${delayMs} ms`).toBe('AbortError');
      // esptool-js's connect loop may still be running: give it time to try to reopen the port.
      await new Promise((r) => setTimeout(r, 1200));
      expect(heldHere(), `cancel after ${delayMs} ms: the port is still open in this process`).toEqual([]);
      const next = new SerialPortLink(sim.hostPath);
      await next.open({ baudRate: 115200 });
      await next.close();
    }
    const s = await connect();
    expect(s.chip.mac).toBe('24:6f:28:aa:00:01');
    await s.close();
  }, 60_000);

  it('stops promptly when cancelled mid-flash', async () => {
    const ac = new AbortController();
    const s = await connect(921600, ac.signal);
    try {
      await s.esploader.eraseFlash(); // a new board: parts it already holds would be skipped
      await sim.sendControl('FAULT slow-erase=30');
      const flashing = s.flash(parts()).catch((e: unknown) => e);
      await new Promise((r) => setTimeout(r, 300));
      const t0 = Date.now();
      ac.abort();
      const err = (await flashing) as Error;
      expect(err.name).toBe('AbortError');
      expect(Date.now() - t0).toBeLessThan(1000);
    } finally {
      await s.close();
      await sim.sendControl('FAULT clear');
    }
  });
});
