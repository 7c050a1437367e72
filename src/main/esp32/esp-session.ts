import { createHash } from 'node:crypto';
import { ESPLoader, Transport, type IEspLoaderTerminal } from 'esptool-js';
import { normaliseMac } from '@tds/server/contract';
import type { ResetMode, SerialLink } from '../devices/serial-link.js';
import { JobFailure } from '../jobs/job-failure.js';
import { ROM_BAUD, type BaudPlan } from './baud-ladder.js';
import type { KnownImage } from './flash-plan.js';
import { writeCompressedParts, type FlashPosition, type PartOutcome } from './flash-writer.js';
import { startStubAtSpeed } from './speed-change.js';
import { isAbort, race, withTimeout } from './abortable.js';
import { LinkWebSerialPort } from './web-serial-port.js';

/** The ROM bootloader always talks at 115200 first, and boots the app at that speed too. */
export { ROM_BAUD } from './baud-ladder.js';
/** Reboot into the flashed firmware: EN low for 100 ms with IO0 high (esptool-js 0.7.0's hard reset is broken). */
export const REBOOT_SEQUENCE = 'D0|R1|W100|R0';

export type { ResetMode };

export interface ChipInfo {
  /** esptool's chip family name, e.g. "ESP32" (matches a manifest's chipFamily). */
  chipFamily: string;
  /** e.g. "ESP32-D0WD-V3 (revision 3)". */
  description: string;
  revision?: number;
  features: string[];
  crystalMhz: number;
  /** Canonical lowercase MAC from the eFuses. */
  mac: string;
  /** JEDEC id read from the flash chip (e.g. 0x1640ef). */
  flashId: number;
  /** e.g. "4MB"; undefined when the id does not map to a size. */
  flashSize?: string;
  flashSizeBytes?: number;
  /** Speed actually used after the speed change (115200 when every rung tried failed). */
  baud: number;
  /** Rates that failed after the speed change on this connect (the session stepped down from them). */
  baudFailed: number[];
}

export interface FlashPart {
  /** Name for logs and errors ("bootloader", "app", "tdscfg", ...). */
  name: string;
  address: number;
  data: Uint8Array;
  /** Per-device data: always written whole, never cached (see WritablePart). */
  deviceData?: boolean;
}

/** What the station knows the board last received, for skipping and sector diffs. */
export interface FlashOptions {
  /** The image the MAC last received at each address (sector digests), when known. */
  known?: readonly KnownImage[];
}

export interface FlashProgress {
  part: FlashPart;
  partIndex: number;
  /** Uncompressed bytes of this part sent so far (estimated from the compressed stream). */
  written: number;
  /** Overall fraction over all parts (by size). */
  fraction: number;
}

/**
 * How images are sent. `station` (default, `flash-writer.ts`): compressed with Node's native zlib
 * off the event loop, sent block by block with esptool-js's FLASH_DEFL_* commands, verified with the
 * stub's SPI_FLASH_MD5, and a late or garbled answer restarts the part instead of re-sending a block
 * the stub may already have inflated. `esptool`: esptool-js's own `writeFlash` with
 * `calculateMD5Hash`; same wire traffic, but it inflates every block byte by byte to size its
 * timeouts (~2 s of CPU per MB between blocks, wire idle) and retries blocks blindly (kept for the
 * benchmark's comparison; see docs/esp32-station.md).
 */
export type FlashEngine = 'station' | 'esptool';

export interface SessionOptions {
  /** The one rate to use when there is no `plan` (115200 = no speed change). */
  baud: number;
  /**
   * The speeds to try, fastest first (baud-ladder.ts). If the board stops answering after the
   * change to the first rung, the session resets it into its ROM at 115200, steps down once to the
   * next and records the failure in the plan (speed-change.ts).
   */
  plan?: BaudPlan;
  /** Called with the chip family as soon as the chip is identified, before the stub or anything else: throw to refuse it. */
  acceptChip?: (chipFamily: string) => void;
  flashEngine?: FlashEngine;
  resetMode: ResetMode;
  usbVendorId?: number;
  usbProductId?: number;
  signal: AbortSignal;
  /** esptool-js console output and transport traces. */
  log(text: string, level?: 'info' | 'debug' | 'warn'): void;
}

/**
 * One connection to a board's ROM bootloader / flasher stub through esptool-js 0.7.0.
 * Every esptool call is raced against cancellation and unplug, so a job never hangs on a dead port,
 * and failures become JobFailures that say where they happened.
 */
export class EspSession {
  readonly chip: ChipInfo;
  private closed = false;
  /** What stops esptool: the signal of the job step using the session now (see useSignal). */
  private signal: AbortSignal;

  private constructor(
    private readonly link: SerialLink,
    private readonly port: LinkWebSerialPort,
    private readonly transport: Transport,
    private readonly loader: ESPLoader,
    private readonly options: SessionOptions,
    chip: ChipInfo,
    private readonly unplug: UnplugWatch,
  ) {
    this.chip = chip;
    this.signal = options.signal;
  }

  /**
   * Hands the session to the next job step: from now on that step's cancel or time limit stops
   * esptool (a session outlives the step that connected it, whose signal never fires afterwards).
   */
  useSignal(signal: AbortSignal): void {
    this.signal = signal;
  }

  /**
   * Opens the link, resets the board into its bootloader (per reset mode), identifies the chip,
   * switches to the requested speed and loads the stub (speed-change.ts says in which order).
   * Manual mode expects the operator to have put the board in download mode already.
   */
  static async connect(link: SerialLink, options: SessionOptions): Promise<EspSession> {
    const port = new LinkWebSerialPort(link, {
      ...(options.usbVendorId !== undefined ? { usbVendorId: options.usbVendorId } : {}),
      ...(options.usbProductId !== undefined ? { usbProductId: options.usbProductId } : {}),
    });
    // Transport is typed against the DOM SerialPort; our port implements the subset it uses.
    const transport = new Transport(port as unknown as ConstructorParameters<typeof Transport>[0], false);
    transport.trace = (message: string) => options.log(`[esptool] ${message}`, 'debug');
    let line = '';
    const terminal: IEspLoaderTerminal = {
      clean: () => undefined,
      write: (data) => {
        line += data;
      },
      writeLine: (data) => {
        const text = line + data;
        line = '';
        for (const l of text.split(/[\r\n]+/)) {
          const t = l.trim();
          if (t) options.log(`[esptool] ${t}`, /Writing at 0x/.test(t) ? 'debug' : 'info');
        }
      },
    };
    const rates = options.plan?.rates ?? (options.baud > ROM_BAUD ? [options.baud] : []);
    const loader = new ESPLoader({ transport, baudrate: rates[0] ?? ROM_BAUD, romBaudrate: ROM_BAUD, terminal, debugLogging: false });

    let unplugError: Error | undefined;
    let rejectUnplug: (e: Error) => void = () => undefined;
    const unplugged = new Promise<never>((_, reject) => {
      rejectUnplug = reject;
    });
    unplugged.catch(() => undefined);
    const off = link.onClose((error) => {
      if (!error) return;
      unplugError = error;
      rejectUnplug(new JobFailure('PORT_GONE', `${link.path} disappeared: ${error.message}`, { cause: error }));
    });
    const unplug: UnplugWatch = { promise: unplugged, off, error: () => unplugError };

    const guard = <T>(p: Promise<T>): Promise<T> => race(p, unplugged, options.signal, () => void port.release().catch(() => undefined));
    const mode = options.resetMode === 'manual' ? 'no_reset' : options.resetMode === 'usb-jtag' ? 'usb_reset' : 'default_reset';
    try {
      try {
        await guard(loader.detectChip(mode));
      } catch (err) {
        throw mapConnectError(err, link.path, options.resetMode);
      }
      const rom = loader.chip;
      options.acceptChip?.(rom.CHIP_NAME);
      const description = await guard(rom.getChipDescription(loader));
      const revision = rom.getChipRevision ? await guard(rom.getChipRevision(loader)) : undefined;
      const features = (await guard(rom.getChipFeatures(loader))).map((f) => f.trim());
      const crystalMhz = await guard(rom.getCrystalFreq(loader));
      const mac = normaliseMac(await guard(rom.readMac(loader)));
      if (rom.postConnect) await guard(rom.postConnect(loader));
      const baudFailed = await startStubAtSpeed(loader, rates, { family: rom.CHIP_NAME, crystalMhz }, options, guard);
      const flashId = await guard(loader.readFlashId());
      const flashSize = loader.DETECTED_FLASH_SIZES[(flashId >> 16) & 0xff];
      const chip: ChipInfo = {
        chipFamily: rom.CHIP_NAME,
        description,
        features,
        crystalMhz,
        mac,
        flashId,
        baud: loader.transport.baudrate,
        baudFailed,
      };
      if (revision !== undefined) chip.revision = revision;
      if (flashSize) {
        chip.flashSize = flashSize;
        chip.flashSizeBytes = sizeBytes(flashSize);
      }
      options.log(
        `chip ${chip.description}, MAC ${mac}, crystal ${crystalMhz} MHz, flash ${flashSize ?? `unknown (id 0x${flashId.toString(16)})`}, ${chip.baud} baud`,
      );
      return new EspSession(link, port, transport, loader, options, chip, unplug);
    } catch (err) {
      off();
      await port.release().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Writes every part (compressed, each verified by the stub's MD5 of the flash) in one session.
   * The caller has checked that the parts fit the flash.
   */
  async flash(parts: readonly FlashPart[], onProgress?: (p: FlashProgress) => void, options: FlashOptions = {}): Promise<PartOutcome[]> {
    const sorted = [...parts].sort((a, b) => a.address - b.address);
    const totalBytes = sorted.reduce((n, p) => n + p.data.length, 0);
    const before = sorted.map((_, i) => sorted.slice(0, i).reduce((n, p) => n + p.data.length, 0));
    let position: FlashPosition = { index: 0, phase: 'blocks', written: 0, block: 0, blocks: 0 };
    const onPosition = (p: FlashPosition): void => {
      const part = sorted[p.index]!;
      position = p;
      const written = Math.min(part.data.length, p.written);
      onProgress?.({ part, partIndex: p.index, written, fraction: totalBytes > 0 ? (before[p.index]! + written) / totalBytes : 1 });
    };
    const where = (): string => {
      const part = sorted[position.index];
      if (!part) return 'flash';
      const at = `${part.name} at 0x${part.address.toString(16)}`;
      if (position.phase === 'verify') return `${at}, verifying (MD5)`;
      if (position.phase === 'check') return `${at}, checking what the board holds (MD5)`;
      if (position.phase === 'finish') return `${at}, all ${part.data.length} bytes sent, finishing the write`;
      return `${at}, ${position.written} of ${part.data.length} bytes written`;
    };
    let outcomes: PartOutcome[];
    try {
      if ((this.options.flashEngine ?? 'station') === 'esptool') {
        await this.flashWithEsptool(sorted, (index, written) => onPosition({ index, phase: 'blocks', written, block: 0, blocks: 0 }));
        outcomes = sorted.map((p) => {
          const sectors = Math.ceil(p.data.length / 0x1000);
          return { name: p.name, address: p.address, bytes: p.data.length, action: 'full', sectorsWritten: sectors, sectorCount: sectors, sent: 0 };
        });
      } else {
        const known = new Map((options.known ?? []).map((k) => [k.address, k]));
        outcomes = await writeCompressedParts(
          {
            loader: this.loader,
            guard: (p) => this.guard(p),
            gone: () => this.unplug.error() !== undefined || !this.link.isOpen,
            log: this.options.log,
            onPosition,
          },
          sorted.map((p) => ({ ...p, ...(known.has(p.address) && !p.deviceData ? { known: known.get(p.address)! } : {}) })),
        );
      }
    } catch (err) {
      throw await this.mapFlashError(err, where());
    }
    // The speed held for a whole flash: the port remembers it.
    if (this.chip.baud > ROM_BAUD) this.options.plan?.record?.(this.chip.baud, true);
    return outcomes;
  }

  private async flashWithEsptool(parts: readonly FlashPart[], report: (index: number, written: number) => void): Promise<void> {
    // esptool's own loop (comparison engine): blind block retries, see FlashEngine.
    await this.guard(
      this.loader.writeFlash({
        fileArray: parts.map((p) => ({ data: p.data, address: p.address })),
        flashMode: 'keep',
        flashFreq: 'keep',
        flashSize: 'keep',
        eraseAll: false,
        compress: true,
        reportProgress: (fileIndex, written, total) => {
          const part = parts[fileIndex];
          if (!part) return;
          report(fileIndex, total > 0 ? Math.min(part.data.length, Math.round((written / total) * part.data.length)) : 0);
        },
        calculateMD5Hash: (image) => createHash('md5').update(image).digest('hex'),
      }),
    );
  }

  /**
   * Reboots into the flashed firmware with the custom reset (never `after("no_reset")` with the
   * stub: it crashes Node). Switches the host to 115200 first so the boot log is readable, then
   * hands the still-open link back to the caller (esptool's streams end here).
   */
  async rebootAndDetach(beforeReset?: (link: SerialLink) => void): Promise<SerialLink> {
    await this.guard(this.link.setBaudRate(ROM_BAUD));
    beforeReset?.(this.link);
    await this.guard(this.loader.after('custom_reset', undefined, REBOOT_SEQUENCE));
    this.port.keepLinkOpen = true;
    // esptool-js's disconnect waits, without a limit, for its reader and writer locks to be released;
    // if one never is, close our side of the streams (that ends its read loop) and go on: the link
    // itself stays open for the boot log.
    await this.guard(withTimeout(this.transport.disconnect(), 3000)).catch(async (err: unknown) => {
      if (!(err instanceof Error) || err.message !== 'timeout') throw err;
      this.options.log?.('[serial] esptool-js did not release the port within 3 s; detaching it', 'warn');
      await this.port.close();
    });
    this.unplug.off();
    this.closed = true;
    return this.link;
  }

  /** Closes the port (leaves the board where it is: in the stub or the ROM). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unplug.off();
    try {
      await withTimeout(this.transport.disconnect(), 3000);
    } catch {
      /* the port may already be gone */
    }
    await this.port.release().catch(() => undefined);
    // Not guarded by isOpen: a close already under way (a cancel) must be waited for, not skipped.
    await this.link.close().catch(() => undefined);
  }

  /** The esptool-js loader, for tests and tools that need lower-level access (e.g. readFlash). */
  get esploader(): ESPLoader {
    return this.loader;
  }

  private guard<T>(p: Promise<T>): Promise<T> {
    return race(p, this.unplug.promise, this.signal, () => void this.port.release().catch(() => undefined));
  }

  private async mapFlashError(err: unknown, where: string): Promise<unknown> {
    if (isAbort(err)) return err;
    // A failed write ("Port is not open", a refused block) is often the first sign of an unplug; the
    // link reports the loss itself a moment later. Give it that moment, so an unplug is reported as
    // one (with where it happened) instead of as a write error that a slower retry cannot fix.
    if (!this.unplug.error() && this.link.isOpen) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, UNPLUG_SETTLE_MS);
        this.unplug.promise.catch(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    if (this.unplug.error() || !this.link.isOpen) {
      return new JobFailure('PORT_GONE', `${this.link.path} disappeared while flashing.`, { where, cause: err });
    }
    if (err instanceof JobFailure) return new JobFailure(err.code, err.message, { where, hint: err.hint, cause: err });
    const message = err instanceof Error ? err.message : String(err);
    if (/MD5 of file does not match/i.test(message)) {
      return new JobFailure('FLASH_VERIFY_FAILED', 'The data read back from flash does not match what was written (MD5).', { where, cause: err });
    }
    return new JobFailure('FLASH_WRITE_FAILED', `Writing the flash failed: ${message}`, { where, cause: err });
  }
}

/** How long a write error waits for the link to report an unplug (the link checks the device twice a second). */
const UNPLUG_SETTLE_MS = 1_200;

interface UnplugWatch {
  /** Rejects with PORT_GONE when the link closes without being asked to. */
  promise: Promise<never>;
  off: () => void;
  error: () => Error | undefined;
}

function mapConnectError(err: unknown, path: string, resetMode: ResetMode): unknown {
  if (err instanceof JobFailure || isAbort(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (/Failed to connect|Wrong boot mode|No serial data|Serial data stream stopped|Timeout/i.test(message)) {
    return new JobFailure('NO_BOOTLOADER', `The board on ${path} did not answer in bootloader mode (${message.split('\n')[0]}).`, {
      hint:
        resetMode === 'manual'
          ? 'Hold BOOT, press and release EN/RESET, release BOOT, then retry.'
          : 'Hold the BOOT button, press and release EN/RESET, release BOOT, then retry; if the board has no auto-reset circuit, use manual reset mode.',
      cause: err,
    });
  }
  if (/Unexpected chip|chip id|magic/i.test(message)) {
    return new JobFailure('WRONG_CHIP', `The chip on ${path} is not one esptool-js knows (${message}).`, { cause: err });
  }
  return new JobFailure('NO_BOOTLOADER', `Talking to the bootloader on ${path} failed: ${message}`, { cause: err });
}

/** "4MB" → 4194304, "512KB" → 524288. */
export function sizeBytes(size: string): number | undefined {
  const m = /^(\d+)(KB|MB)$/.exec(size);
  if (!m) return undefined;
  return Number(m[1]) * (m[2] === 'MB' ? 1024 * 1024 : 1024);
}
