/**
 * serialport's native binding with a write path that cannot lose its wake-up.
 *
 * On Linux and macOS, @serialport/bindings-cpp (13.0.x) waits out a full OS buffer (EAGAIN) by
 * asking its one fd poller for "writable". The poller restarts libuv's watch with only the event
 * just asked for, so when the reader, which re-arms "readable" after every chunk it reads, asks
 * while a write is waiting, the "writable" watch is dropped: the write then waits until the board
 * sends something more, and a board that is waiting for the rest of a command never does.
 * That was the intermittent flash stall (a 16 KiB FLASH_DEFL_DATA block stuck mid-write).
 * test/devices/steady-write-binding.test.ts shows the poller losing the wake-up.
 *
 * Here a write that meets a full buffer retries on a short timer instead, so the poller is left to
 * the reader alone. Windows (no fd, no poller) keeps the binding's own write.
 */
import { write as fsWrite } from 'node:fs';
import type { BindingInterface, BindingPortInterface, OpenOptions, PortStatus, SetOptions, UpdateOptions } from '@serialport/bindings-cpp';

/** How long a write waits before retrying when the OS buffer is full. */
const RETRY_MS = 2;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function writeSome(fd: number, buffer: Buffer, offset: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fsWrite(fd, buffer, offset, buffer.length - offset, null, (err, written) => (err ? reject(err) : resolve(written)));
  });
}

function isRetryable(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR';
}

/** The binding's contract: a write interrupted by close fails with `canceled`. */
function canceled(): Error {
  return Object.assign(new Error('Port is not open'), { canceled: true });
}

/** The fd of a unix port binding, or undefined (Windows, or closed). */
function fdOf(port: BindingPortInterface): number | undefined {
  const fd = (port as { fd?: unknown }).fd;
  return typeof fd === 'number' ? fd : undefined;
}

export class SteadyWritePort implements BindingPortInterface {
  private writing: Promise<void> | undefined;

  constructor(private readonly inner: BindingPortInterface) {}

  get openOptions(): Required<OpenOptions> {
    return this.inner.openOptions;
  }

  get isOpen(): boolean {
    return this.inner.isOpen;
  }

  write(buffer: Buffer): Promise<void> {
    if (fdOf(this.inner) === undefined) return this.inner.write(buffer);
    const op = this.writeAll(buffer);
    this.writing = op.catch(() => undefined);
    return op;
  }

  private async writeAll(buffer: Buffer): Promise<void> {
    let offset = 0;
    while (offset < buffer.length) {
      const fd = fdOf(this.inner);
      if (fd === undefined || !this.inner.isOpen) throw canceled();
      try {
        offset += await writeSome(fd, buffer, offset);
      } catch (err) {
        if (!isRetryable(err)) {
          if (!this.inner.isOpen) throw canceled();
          // Same marking as the binding's own write: the stream turns it into a disconnect.
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'EBADF' || code === 'ENXIO' || code === 'EIO') Object.assign(err as object, { disconnect: true });
          throw err;
        }
        await sleep(RETRY_MS);
      }
    }
  }

  async drain(): Promise<void> {
    await this.writing;
    await this.inner.drain();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }> {
    return this.inner.read(buffer, offset, length);
  }

  update(options: UpdateOptions): Promise<void> {
    return this.inner.update(options);
  }

  set(options: SetOptions): Promise<void> {
    return this.inner.set(options);
  }

  get(): Promise<PortStatus> {
    return this.inner.get();
  }

  getBaudRate(): Promise<{ baudRate: number }> {
    return this.inner.getBaudRate();
  }

  flush(): Promise<void> {
    return this.inner.flush();
  }
}

/** Wraps a binding (normally `autoDetect()`) so its ports write without the poller. */
export function steadyWriteBinding<O extends OpenOptions>(inner: BindingInterface<BindingPortInterface, O>): BindingInterface<SteadyWritePort, O> {
  return {
    list: () => inner.list(),
    open: async (options: O) => new SteadyWritePort(await inner.open(options)),
  };
}
