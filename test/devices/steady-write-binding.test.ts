/**
 * Writes that meet a full OS buffer while the reader is busy: the case that stalled flashing.
 * Real pseudo-terminals from socat; the far end is a separate process (support/slow-replying-device.mjs).
 */
import { constants, openSync, readSync, closeSync, writeSync } from 'node:fs';
import path from 'node:path';
import { EVENTS, Poller } from '@serialport/bindings-cpp/dist/poller.js';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { SerialPortLink } from '../../src/main/devices/serialport-link.js';
import { startProcess, type StartedProcess } from '../support/processes.js';
import { tempDir } from '../support/temp.js';
import { ptyPair } from '../support/pty-pair.js';

const FAR_END = path.join(import.meta.dirname, 'support/slow-replying-device.mjs');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function trackedPair(dir: string, name: string, procs: StartedProcess[]): Promise<{ host: string; device: string }> {
  const p = await ptyPair(dir, name);
  procs.push(p.proc);
  return p;
}

const openRaw = (p: string): number => openSync(p, constants.O_RDWR | constants.O_NONBLOCK | constants.O_NOCTTY);

/** Writes until the OS refuses (EAGAIN); returns how much it took. */
function fill(fd: number): number {
  let n = 0;
  try {
    for (;;) n += writeSync(fd, Buffer.alloc(4096, 0x55));
  } catch (err) {
    expect((err as NodeJS.ErrnoException).code).toBe('EAGAIN');
  }
  return n;
}

function drainEvery(fd: number, ms: number): NodeJS.Timeout {
  const buf = Buffer.alloc(65536);
  return setInterval(() => {
    try {
      while (readSync(fd, buf, 0, buf.length, null) > 0);
    } catch {
      // EAGAIN: emptied
    }
  }, ms);
}

describe('writes on a full OS buffer', () => {
  const dir = tempDir('tds-steady-');
  const procs: StartedProcess[] = [];
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    dir.remove();
  });

  it("why: serialport's fd poller forgets a waiting 'writable' once 'readable' is asked for", async () => {
    const pair = await trackedPair(dir.path, 'poller', procs);
    const hostFd = openRaw(pair.host);
    const deviceFd = openRaw(pair.device);
    const poller = new Poller(hostFd);
    try {
      expect(fill(hostFd)).toBeGreaterThan(0);
      let writable = false;
      poller.once('writable', (err) => (writable = err === null));
      // What serialport's reader does after every chunk it reads: ask for 'readable' again.
      poller.once('readable', () => undefined);
      const drainer = drainEvery(deviceFd, 10);
      await sleep(1000);
      clearInterval(drainer);
      // The buffer emptied long ago, yet the writer was never woken: the binding's own write path
      // would still be waiting. (If this starts to pass upstream, SteadyWritePort can go.)
      expect(writable).toBe(false);
    } finally {
      poller.stop();
      closeSync(hostFd);
      closeSync(deviceFd);
    }
  });

  it('a write waiting on a full buffer never asks the poller, and finishes in order once the board reads', async () => {
    const pair = await trackedPair(dir.path, 'wait', procs);
    const link = new SerialPortLink(pair.host);
    await link.open({ baudRate: 115200 });
    const deviceFd = openRaw(pair.device);
    const polls = vi.spyOn(Poller.prototype, 'poll');
    try {
      const data = Buffer.from(Array.from({ length: 200_000 }, (_, i) => i % 251));
      let done = false;
      const writing = link.write(data).then(() => (done = true));
      await sleep(300);
      expect(done).toBe(false); // nobody reads: the write is waiting, not failing
      // The poller is the reader's alone, so the reader cannot take the writer's wake-up away.
      expect(polls.mock.calls.filter(([flags]) => ((flags ?? 0) & EVENTS.UV_WRITABLE) !== 0)).toEqual([]);
      const got: Buffer[] = [];
      const buf = Buffer.alloc(65536);
      const reader = setInterval(() => {
        try {
          for (let n; (n = readSync(deviceFd, buf, 0, buf.length, null)) > 0; ) got.push(Buffer.from(buf.subarray(0, n)));
        } catch {
          // EAGAIN
        }
      }, 5);
      await writing;
      await expect.poll(() => Buffer.concat(got).length).toBe(data.length);
      clearInterval(reader);
      expect(Buffer.concat(got).equals(data)).toBe(true);
    } finally {
      polls.mockRestore();
      await link.close();
      closeSync(deviceFd);
    }
  });

  it('a close while a write waits ends the write with an error and frees the port', async () => {
    const pair = await trackedPair(dir.path, 'close', procs);
    const link = new SerialPortLink(pair.host);
    await link.open({ baudRate: 115200 });
    const writing = link.write(Buffer.alloc(200_000, 0x41));
    const outcome = writing.then(
      () => 'resolved',
      () => 'rejected',
    );
    await sleep(200);
    await link.close();
    expect(await outcome).toBe('rejected');
    const again = new SerialPortLink(pair.host);
    await again.open({ baudRate: 115200 }); // not held by a write left behind
    await again.close();
  });

  it('command/answer traffic with log noise between answers never stalls a write (the flash stall)', async () => {
    // Like esptool's FLASH_DEFL_DATA: a 16 KiB block, then wait for the board's answer, then the
    // next block right away, while the reader is still busy with the bytes that followed the answer.
    // Before SteadyWritePort, about one run of 64 blocks in two or three stalled for good.
    const pair = await trackedPair(dir.path, 'traffic', procs);
    const BLOCK = 16384;
    const BLOCKS = 160;
    const device = startProcess('slow-replying-device', process.execPath, [FAR_END, pair.device, String(BLOCK)]);
    procs.push(device);
    await device.waitForOutput(/READY/, 10_000);
    const link = new SerialPortLink(pair.host);
    await link.open({ baudRate: 921600 });
    let answers = 0;
    let wrongByte = false;
    let wake: () => void = () => undefined;
    link.onData((chunk) => {
      for (const b of chunk) {
        if (b === 0x2e) answers++;
        if (b === 0x21) wrongByte = true;
      }
      wake();
    });
    const answer = (n: number): Promise<void> =>
      new Promise((resolve) => {
        wake = () => answers >= n && resolve();
        wake();
      });
    try {
      for (let i = 0; i < BLOCKS; i++) {
        const block = Buffer.from(Array.from({ length: BLOCK }, (_, j) => (i * BLOCK + j) % 251));
        const finished = await Promise.race([link.write(block).then(() => answer(i + 1)).then(() => true), sleep(5000).then(() => false)]);
        if (!finished) throw new Error(`block ${i} of ${BLOCKS} stalled (${answers} answers so far)`);
      }
      expect(wrongByte).toBe(false);
      expect(answers).toBe(BLOCKS);
    } finally {
      await link.close();
      await device.stop();
    }
  }, 60_000);
});
