import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { SerialPort } from 'serialport';
import { afterAll, describe, expect, it } from 'vitest';
import { JobFailure } from '../../src/main/jobs/index.js';
import { SerialPortLink } from '../../src/main/devices/serialport-link.js';
import type { StartedProcess } from '../support/processes.js';
import { ptyPair } from '../support/pty-pair.js';
import { tempDir } from '../support/temp.js';
import { requireTool } from '../support/tools.js';

function received(link: SerialLinkLike, text: string): Promise<void> {
  let got = '';
  return new Promise((resolve) => {
    const off = link.onData((c) => {
      got += Buffer.from(c).toString('latin1');
      if (got.includes(text)) {
        off();
        resolve();
      }
    });
  });
}
type SerialLinkLike = Pick<SerialPortLink, 'onData'>;

describe('SerialPortLink on a pseudo-terminal', () => {
  const dir = tempDir('tds-pty-');
  const procs: StartedProcess[] = [];
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    dir.remove();
  });

  it('moves bytes both ways, tracks modem lines despite ENOTTY, changes speed in place', async () => {
    const pair = await ptyPair(dir.path, 'a');
    procs.push(pair.proc);
    const host = new SerialPortLink(pair.host);
    const dev = new SerialPortLink(pair.device);
    await host.open({ baudRate: 115200 });
    await dev.open({ baudRate: 115200 });
    const toDev = received(dev, 'hello device');
    await host.write(new TextEncoder().encode('hello device'));
    await toDev;
    const toHost = received(host, 'hello host');
    await dev.write(new TextEncoder().encode('hello host'));
    await toHost;

    await host.setSignals({ dtr: false, rts: true });
    expect(host.modemLinesUnsupported).toBe(true);
    expect(host.currentSignals).toEqual({ dtr: false, rts: true });
    await host.setBaudRate(921600);
    const after = received(dev, 'still here');
    await host.write(new TextEncoder().encode('still here'));
    await after;
    let closeError: Error | undefined | null = null;
    host.onClose((e) => (closeError = e));
    await host.close();
    expect(host.isOpen).toBe(false);
    expect(closeError).toBeUndefined(); // a requested close carries no error
    await dev.close();
  });

  it('reports a port another program holds as PORT_BUSY', async () => {
    const pair = await ptyPair(dir.path, 'b');
    procs.push(pair.proc);
    const first = new SerialPortLink(pair.host);
    await first.open({ baudRate: 115200 });
    const second = new SerialPortLink(pair.host);
    const err = await second.open({ baudRate: 115200 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobFailure);
    expect((err as JobFailure).code).toBe('PORT_BUSY');
    expect((err as JobFailure).hint).toMatch(/Close the other program/);
    await first.close();
    const missing = await new SerialPortLink(path.join(dir.path, 'nope')).open({ baudRate: 115200 }).catch((e: unknown) => e);
    expect((missing as JobFailure).code).toBe('PORT_GONE');
  });

  it('reports an unplug through onClose with an error', async () => {
    const pair = await ptyPair(dir.path, 'c');
    const host = new SerialPortLink(pair.host);
    await host.open({ baudRate: 115200 });
    const closed = new Promise<Error | undefined>((resolve) => host.onClose(resolve));
    await pair.proc.kill();
    const err = await closed;
    expect(err).toBeInstanceOf(Error);
    expect(host.isOpen).toBe(false);
    await expect(host.write(new Uint8Array([1]))).rejects.toMatchObject({ code: 'PORT_GONE' });
  });

  it('changes speed only after earlier writes have left the port, and holds new writes until it is done', async () => {
    const pair = await ptyPair(dir.path, 'd');
    procs.push(pair.proc);
    // The device end is open but not read: bytes pile up and the host's write cannot drain.
    const device = new SerialPort({ path: pair.device, baudRate: 115200, autoOpen: false });
    await new Promise<void>((resolve, reject) => device.open((e) => (e ? reject(e) : resolve())));
    device.pause();
    const host = new SerialPortLink(pair.host);
    await host.open({ baudRate: 115200 });
    const speed = (): string => execFileSync(requireTool('stty', 'coreutils'), ['-F', pair.host, 'speed']).toString().trim();
    const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
    const events: string[] = [];
    const bulk = host.write(new Uint8Array(1 << 20).fill(0x55)).then(() => events.push('bulk written'));
    await sleep(100);
    const change = host.setBaudRate(921600).then(() => events.push('speed changed'));
    const next = host.write(Uint8Array.of(0xaa)).then(() => events.push('next written'));
    await sleep(300);
    expect(events).toEqual([]);
    expect(speed()).toBe('115200'); // not while 1 MB is still on its way out
    let bytes = 0;
    let last = -1;
    device.on('data', (c: Buffer) => {
      bytes += c.length;
      last = c[c.length - 1]!;
    });
    device.resume();
    await Promise.all([bulk, change, next]);
    expect(events).toEqual(['bulk written', 'speed changed', 'next written']);
    expect(speed()).toBe('921600');
    // The byte written after the change is not lost to the change (serialport's update() flushes
    // both queues: tcflush TCIOFLUSH). On a pty, tcdrain returns before socat has read everything,
    // so part of the bulk may be flushed here; on a USB bridge drain waits for the device.
    for (let i = 0; i < 100 && last !== 0xaa; i++) await sleep(20);
    expect(last).toBe(0xaa);
    expect(bytes).toBeGreaterThan(1 << 19);
    await host.close();
    await new Promise<void>((resolve) => device.close(() => resolve()));
  });
});
