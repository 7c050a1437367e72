/**
 * One simulated ESP32 DevKit: the USB-UART (a socat pseudo-terminal pair whose host end is what a
 * station opens), the auto-reset circuit driven by DTR/RTS from the control channel, boot-mode
 * selection on EN's rising edge, the ROM loader / stub in download mode, the firmware on a flash boot,
 * wire-rate throttling, baud tracking, and fault injection.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { bridgeRate, GARBLE_EVERY, USB_JTAG_BYTES_PER_SEC, type SimBridge } from './bridge.js';
import { CHIPS, type ChipModel, type SimChip } from './chip.js';
import { applyFault, clearFault, noFaults, type BoardFaultEffects, type FaultState } from './faults.js';
import { Firmware } from './firmware.js';
import { VirtualFlash } from './flash.js';
import { Loader } from './loader.js';
import { SlipDecoder, slipEncode } from './slip.js';

export interface BoardOptions {
  hostPath: string;
  mac: string;
  flashFile: string;
  flashSize: number;
  chip: SimChip;
  /** The USB side: VID:PID, rates it can set and holds, or the chip's own USB-Serial/JTAG. */
  bridge: SimBridge;
  faults: string[];
  /** Deliver bytes at the wire rate of the current baud (8N1: baud / 10 bytes per second). */
  throttle: boolean;
  telemetryIntervalMs: number;
  /** 'auto': DevKit 2-transistor circuit on DTR/RTS; 'none': lines not wired (manual BOOT + EN). */
  resetCircuit: 'auto' | 'none';
  /** Read the host's speed with `stty -F` to drop/garble bytes when speeds differ. */
  baudCheck: boolean;
  securityInfoEcho: boolean;
  trace: boolean;
}

export type BoardMode = 'unplugged' | 'reset' | 'download' | 'app';

export const ROM_BAUD = 115200;
/**
 * How fast the stub's SPI_FLASH_MD5 reads and hashes flash when throttled: an estimate (40 MHz DIO
 * reads at ~10 MB/s, MD5 in software on the stub's CPU), not a figure measured on hardware.
 */
export const MD5_BYTES_PER_SEC = 4 * 1024 * 1024;
/** What the ROM takes in one go before it must empty its UART FIFO (fault rom-overrun). */
const ROM_FIFO_BYTES = 128;

const DOWNLOAD_BANNER =
  'ets Jun  8 2016 00:22:57\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\nwaiting for download\r\n';

type Listener = (name: string, detail?: unknown) => void;

export class Board {
  mode: BoardMode = 'unplugged';
  readonly faults: FaultState = noFaults();
  readonly flash: VirtualFlash;
  readonly macBytes: Uint8Array;
  private chipName: SimChip;
  private socat: ChildProcess | undefined;
  private hostOpen = false;
  hostBaud: number | undefined;
  deviceBaud = ROM_BAUD;
  private autobaud = true;
  private lastBaudCheck = 0;
  private baudDirty = true;
  private baudCheckRunning = false;
  private baudCheckDone: Promise<void> = Promise.resolve();
  /** Bumped by every BAUD= hint: an stty reading started before a hint may predate the change. */
  private hostBaudHints = 0;
  /** Bytes lost to a speed mismatch (dropped from the host, garbled to it); in STATUS. */
  private readonly mismatchBytes = { dropped: 0, garbled: 0 };
  private mismatchNoted = false;
  /** Bytes the bridge damaged because it runs above the rate it holds (each direction). */
  private readonly damaged = { fromHost: 0, toHost: 0 };
  /** Bytes the ROM lost to fault rom-overrun; in STATUS. */
  private romOverrunBytes = 0;
  private damageCount = { rx: 0, tx: 0 };
  /** USB-Serial/JTAG: the chip was put in reset through DTR=RTS=1, which requests download mode. */
  private usbDownload = false;
  dtr = false;
  rts = false;
  bootHeld = false;
  private enButton = false;
  private enLow = false;
  bytesFromHost = 0;
  private loader: Loader | undefined;
  private firmware: Firmware | undefined;
  private readonly decoder: SlipDecoder;
  private rxChain: Promise<void> = Promise.resolve();
  private txChain: Promise<void> = Promise.resolve();
  private txClock = 0;
  private rxClock = 0;
  private generation = 0;
  /** Bumped on every CPU reset: bytes still queued for the UART are lost, as in the real FIFO. */
  private cpuGen = 0;
  private readonly listeners = new Set<Listener>();
  private lineBuffer = '';

  constructor(readonly options: BoardOptions) {
    this.chipName = options.chip;
    this.macBytes = Uint8Array.from(options.mac.split(':').map((h) => Number.parseInt(h, 16)));
    this.flash = new VirtualFlash(options.flashFile, options.flashSize);
    for (const f of options.faults) this.applyFaultEffects(applyFault(this.faults, f));
    this.decoder = new SlipDecoder((frame) => this.loader?.onFrame(frame));
  }

  get chip(): ChipModel {
    return CHIPS[this.chipName];
  }

  get plugged(): boolean {
    return this.mode !== 'unplugged';
  }

  onEvent(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  private emit(name: string, detail?: unknown): void {
    for (const l of this.listeners) l(name, detail);
  }

  log(line: string): void {
    process.stdout.write(`[sim] ${line}\n`);
  }

  // ---------------------------------------------------------------------------------------------
  // USB: plug / unplug

  async plug(): Promise<void> {
    if (this.plugged) return;
    const socat = spawn('socat', [`PTY,raw,echo=0,link=${this.options.hostPath}`, 'STDIO'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.socat = socat;
    const gen = ++this.generation;
    socat.stdout.on('data', (chunk: Buffer) => this.onHostBytes(gen, chunk));
    socat.stderr.on('data', (d: Buffer) => this.log(`socat: ${d.toString().trim()}`));
    socat.stdin.on('error', () => undefined); // EPIPE after an unplug
    socat.once('error', (err) => this.log(`socat could not start: ${err.message} (is the socat package installed?)`));
    socat.once('exit', () => {
      if (this.socat === socat && this.plugged) {
        this.log('socat exited: the device is gone');
        this.powerOff('unplugged');
      }
    });
    const deadline = Date.now() + 5000;
    while (!existsSync(this.options.hostPath)) {
      if (Date.now() > deadline || socat.exitCode !== null) throw new Error(`socat did not create ${this.options.hostPath}`);
      await sleep(10);
    }
    this.hostOpen = false;
    this.hostBaud = undefined;
    this.bytesFromHost = 0;
    this.dtr = false;
    this.rts = false;
    this.enLow = false;
    this.log(`plugged in: ${this.options.hostPath}`);
    this.emit('plugged', { hostPath: this.options.hostPath });
    this.boot('0x1 (POWERON_RESET)');
  }

  /** The board vanishes: the host side of the pty is closed under the station's feet. */
  unplug(reason = 'unplugged'): void {
    if (!this.plugged) return;
    this.powerOff(reason);
  }

  private powerOff(reason: string): void {
    this.generation++;
    this.stopCpu();
    this.mode = 'unplugged';
    const socat = this.socat;
    this.socat = undefined;
    if (socat && socat.exitCode === null) socat.kill('SIGTERM');
    this.log(`unplugged (${reason})`);
    this.emit('unplugged', { reason });
  }

  // ---------------------------------------------------------------------------------------------
  // Reset circuit and boot mode

  /** Modem lines from the host (side channel). Undefined members keep their value. */
  setLines(lines: { dtr?: boolean; rts?: boolean }): void {
    const wasBoth = this.dtr && this.rts;
    if (lines.dtr !== undefined) this.dtr = lines.dtr;
    if (lines.rts !== undefined) this.rts = lines.rts;
    this.updatePins(wasBoth);
  }

  setBootButton(held: boolean): void {
    this.bootHeld = held;
    this.updatePins();
  }

  /** Presses EN for `ms` (the reset button). */
  async pressReset(ms = 100): Promise<void> {
    this.enButton = true;
    this.updatePins();
    await sleep(ms);
    this.enButton = false;
    this.updatePins();
  }

  private get usbJtag(): boolean {
    return this.options.bridge.usbJtag === true && this.chip.usbJtag;
  }

  private get io0Low(): boolean {
    if (this.usbJtag) return this.usbDownload || this.bootHeld;
    const byLines = this.options.resetCircuit === 'auto' && this.dtr && !this.rts;
    return byLines || this.bootHeld;
  }

  private updatePins(wasBoth = false): void {
    if (!this.plugged) return;
    // DevKit auto-reset: EN low ⇔ RTS && !DTR; IO0 low ⇔ DTR && !RTS; (1,1) and (0,0) do nothing.
    // USB-Serial/JTAG: the chip decodes the lines itself: RTS && !DTR holds it in reset, and a reset
    // entered straight from DTR = RTS = 1 boots into download mode (esptool's USBJTAGSerialReset
    // passes through (1,1) for that); a DevKit's classic sequence only restarts the app.
    const wired = this.options.resetCircuit === 'auto' || this.usbJtag;
    const enLow = (wired && this.rts && !this.dtr) || this.enButton;
    if (enLow === this.enLow) return;
    this.enLow = enLow;
    if (enLow) {
      if (this.usbJtag) {
        this.usbDownload = wasBoth;
        this.log(`USB-Serial/JTAG: chip reset${wasBoth ? ' requesting download mode' : ''}`);
      }
      this.stopCpu();
      this.mode = 'reset';
      this.emit('mode', 'reset');
    } else {
      this.boot('0x1 (POWERON_RESET)');
    }
  }

  private stopCpu(): void {
    this.cpuGen++;
    this.txChain = Promise.resolve();
    this.loader?.stop();
    this.loader = undefined;
    this.decoder.reset();
    const fw = this.firmware;
    this.firmware = undefined;
    if (fw) void fw.stop();
  }

  /** EN released (or power on): the strapping pin IO0 is sampled now. */
  private boot(resetReason: string): void {
    this.stopCpu();
    this.deviceBaud = ROM_BAUD;
    this.autobaud = true;
    this.baudDirty = true;
    const download = this.io0Low;
    this.usbDownload = false;
    if (download) this.enterDownload();
    else this.flashBoot(resetReason);
  }

  private enterDownload(): void {
    this.mode = 'download';
    this.log('boot: download mode');
    this.emit('mode', 'download');
    void this.print(this.chip.name === 'esp32' ? DOWNLOAD_BANNER : `${this.chip.romBanner(this.usbJtag ? '0x15 (USB_UART_CHIP_RESET)' : '0x1 (POWERON)', '0x0 (DOWNLOAD(USB/UART0))')}waiting for download\r\n`);
    this.loader = new Loader({
      chip: () => this.chip,
      mac: this.macBytes,
      flash: this.flash,
      faults: this.faults,
      send: (payload) => this.sendFrame(payload),
      setBaud: (baud) => this.setDeviceBaud(baud),
      baud: () => this.deviceBaud,
      onStubStarted: () => {
        this.autobaud = false;
        if (this.faults.stubFixedBaud && this.deviceBaud !== ROM_BAUD) {
          this.log(`fault stub-fixed-baud: the stub sets the UART to ${ROM_BAUD} (it was at ${this.deviceBaud})`);
          this.setDeviceBaud(ROM_BAUD);
        }
        this.emit('mode', 'stub');
      },
      runUserCode: () => setImmediate(() => this.boot('0xc (SW_CPU_RESET)')),
      md5BytesPerSec: this.options.throttle ? MD5_BYTES_PER_SEC : undefined,
      log: (l) => this.log(l),
      trace: this.options.trace,
      securityInfoEcho: this.options.securityInfoEcho,
    });
  }

  private flashBoot(resetReason: string): void {
    this.mode = 'app';
    this.log('boot: flash (SPI_FAST_FLASH_BOOT)');
    this.emit('mode', 'flash-boot');
    this.autobaud = false;
    const fw = new Firmware({
      flash: this.flash,
      chip: this.chip,
      mac: this.options.mac,
      print: (text) => void this.print(text),
      log: (l) => this.log(l),
      event: (name, detail) => this.emit(name, detail),
      telemetryIntervalMs: this.options.telemetryIntervalMs,
      softwareReset: () => {
        if (this.firmware === fw) this.boot('0xc (SW_CPU_RESET)');
      },
    });
    this.firmware = fw;
    try {
      fw.boot(resetReason);
    } catch (err) {
      this.log(`firmware crashed: ${(err as Error).stack ?? String(err)}`);
    }
  }

  get appState(): string | undefined {
    return this.firmware?.state;
  }

  // ---------------------------------------------------------------------------------------------
  // UART: speed, throttling, host side

  setHostOpen(open: boolean): void {
    this.hostOpen = open;
    this.baudDirty = true;
  }

  setHostBaud(baud: number): void {
    this.hostBaudHints++;
    this.hostBaud = baud;
    this.lastBaudCheck = Date.now();
  }

  private setDeviceBaud(baud: number): void {
    this.deviceBaud = baud;
    this.autobaud = false;
    this.baudDirty = true;
  }

  /** The rate the bridge runs at on the host's request (what the board's UART hears). */
  private get lineBaud(): number | undefined {
    return this.hostBaud === undefined ? undefined : bridgeRate(this.options.bridge, this.hostBaud);
  }

  private mismatch(): boolean {
    if (this.usbJtag) return false; // USB end to end: the host's baud setting means nothing
    return this.lineBaud !== undefined && this.lineBaud !== this.deviceBaud;
  }

  /** The bridge runs above the rate it holds on this board: some bytes arrive damaged. */
  private overdriven(): boolean {
    return !this.usbJtag && (this.lineBaud ?? 0) > this.options.bridge.holds;
  }

  /** Damages every GARBLE_EVERY-th byte of one direction (a flipped bit pattern). */
  private damage(bytes: Uint8Array, dir: 'rx' | 'tx'): Uint8Array {
    const out = Uint8Array.from(bytes);
    for (let i = 0; i < out.length; i++) {
      if (++this.damageCount[dir] % GARBLE_EVERY === 0) {
        out[i] = out[i]! ^ 0x24;
        if (dir === 'rx') this.damaged.fromHost++;
        else this.damaged.toHost++;
      }
    }
    return out;
  }

  /** Fault rom-overrun: the ROM loses bytes of long bursts above the rate it keeps up with. */
  private romOverrun(bytes: Uint8Array): Uint8Array {
    const limit = this.faults.romOverrunAbove;
    if (limit === 0 || this.loader?.mode !== 'rom' || this.deviceBaud <= limit || bytes.length <= ROM_FIFO_BYTES) return bytes;
    const out = Uint8Array.from(bytes);
    for (let i = ROM_FIFO_BYTES + GARBLE_EVERY - 1; i < out.length; i += GARBLE_EVERY) out[i] = out[i]! ^ 0x24;
    this.romOverrunBytes += Math.floor((out.length - ROM_FIFO_BYTES) / GARBLE_EVERY);
    return out;
  }

  /** Bits per second on the wire for throttling (USB-Serial/JTAG: its USB throughput). */
  private wireBaud(hostSide: boolean): number {
    if (this.usbJtag) return USB_JTAG_BYTES_PER_SEC * 10;
    return hostSide ? (this.lineBaud ?? this.deviceBaud) : this.deviceBaud;
  }

  /** Reads the speed the host set on its end of the pty (termios is shared by the pair). */
  private async checkHostBaud(): Promise<void> {
    if (!this.options.baudCheck || this.baudCheckRunning) return;
    if (!this.baudDirty && Date.now() - this.lastBaudCheck < 300) return;
    this.baudDirty = false;
    this.lastBaudCheck = Date.now();
    this.baudCheckRunning = true;
    const hints = this.hostBaudHints;
    let finished: () => void = () => undefined;
    this.baudCheckDone = new Promise((r) => (finished = r));
    const speed = await new Promise<number | undefined>((resolve) => {
      execFile('stty', ['-F', this.options.hostPath, 'speed'], { timeout: 2000 }, (err, stdout) => {
        const n = Number(stdout.trim());
        resolve(err || !Number.isFinite(n) || n <= 0 ? undefined : n);
      });
    });
    this.baudCheckRunning = false;
    // A hint that arrived meanwhile is newer than what stty read (it may have run before the change).
    if (speed !== undefined && hints === this.hostBaudHints) this.hostBaud = speed;
    finished();
  }

  private onHostBytes(gen: number, chunk: Buffer): void {
    if (gen !== this.generation) return;
    let data: Uint8Array = chunk;
    const limit = this.faults.unplugAtByte;
    let unplugAfter = false;
    if (limit !== undefined && this.bytesFromHost + data.length >= limit) {
      data = data.subarray(0, Math.max(0, limit - this.bytesFromHost));
      unplugAfter = true;
    }
    this.bytesFromHost += data.length;
    this.hostOpen = true; // bytes prove the host has the port open
    const arrived = data;
    // The host wrote these bytes now; on a real wire the last one arrives after their wire time.
    let due = 0;
    if (this.options.throttle) {
      const baud = this.wireBaud(true);
      this.rxClock = Math.max(performance.now(), this.rxClock) + (arrived.length * 10 * 1000) / baud;
      due = this.rxClock;
    }
    this.rxChain = this.rxChain.then(async () => {
      if (gen !== this.generation) return;
      // Right after a speed change the host's speed must be known before judging bytes; otherwise a
      // periodic refresh in the background is enough.
      if (this.baudDirty) {
        await this.baudCheckDone;
        await this.checkHostBaud();
      } else void this.checkHostBaud();
      if (this.autobaud && this.mode === 'download' && this.lineBaud !== undefined) {
        // The ROM measures the host's rate on the SYNC pattern.
        this.deviceBaud = this.lineBaud;
        if ((this.loader?.syncs ?? 0) > 0) this.autobaud = false;
      }
      if (due > 0) {
        await sleepUntil(due);
        if (gen !== this.generation) return;
      }
      if (this.mismatch()) {
        this.mismatchBytes.dropped += arrived.length;
        this.noteMismatch(`dropping bytes from the host`);
        return;
      }
      this.mismatchNoted = false;
      if (this.mode === 'download' && !this.enLow) this.decoder.push(this.romOverrun(this.overdriven() ? this.damage(arrived, 'rx') : arrived));
    });
    if (unplugAfter) {
      this.faults.unplugAtByte = undefined;
      this.log(`fault unplug-at-byte: ${limit} bytes received, unplugging`);
      this.emit('fault', { name: 'unplug-at-byte', bytes: limit });
      this.unplug('fault unplug-at-byte');
    }
  }

  private sendFrame(payload: Uint8Array): Promise<void> {
    let frame = slipEncode(payload);
    if (this.faults.corruptFrames > 0) {
      this.faults.corruptFrames--;
      // A broken escape in the middle: esptool-js throws "Invalid SLIP escape".
      const mid = Math.max(1, Math.floor(frame.length / 2));
      frame = Uint8Array.from([...frame.subarray(0, mid), 0xdb, 0x00, ...frame.subarray(mid)]);
      this.log('fault corrupt-frame: sent a corrupted response');
    }
    return this.transmit(frame);
  }

  /** Text on the UART (boot banners, logs); mirrored to stdout for tests. */
  print(text: string): Promise<void> {
    this.lineBuffer += text;
    const lines = this.lineBuffer.split('\n');
    this.lineBuffer = lines.pop() ?? '';
    for (const l of lines) process.stdout.write(`[uart] ${l.replace(/\r$/, '')}\n`);
    return this.transmit(Buffer.from(text, 'utf8'));
  }

  private transmit(bytes: Uint8Array): Promise<void> {
    const gen = this.generation;
    const cpu = this.cpuGen;
    const baud = this.wireBaud(false);
    const garble = this.mismatch();
    const overdriven = this.overdriven();
    const live = (): boolean => gen === this.generation && cpu === this.cpuGen;
    this.txChain = this.txChain.then(async () => {
      const socat = this.socat;
      if (!live() || !socat || !this.hostOpen) return; // nobody listening: bytes are lost
      if (garble) {
        this.mismatchBytes.garbled += bytes.length;
        this.noteMismatch('garbling bytes to the host');
      }
      const out = garble ? Uint8Array.from(bytes, (b) => (b * 7 + 0x3d) & 0xff) : overdriven ? this.damage(bytes, 'tx') : bytes;
      if (!this.options.throttle) {
        await new Promise<void>((resolve) => socat.stdin!.write(out, () => resolve()));
        return;
      }
      const slice = Math.max(1, Math.floor(baud / 10 / 250)); // ~4 ms of wire time per write
      for (let at = 0; at < out.length; at += slice) {
        if (!live()) return;
        const part = out.subarray(at, at + slice);
        socat.stdin!.write(part);
        this.txClock = advanceClock(this.txClock, part.length, baud);
        await sleepUntil(this.txClock);
      }
    });
    return this.txChain;
  }

  /** One log line per mismatch episode (every lost byte is counted in STATUS). */
  private noteMismatch(what: string): void {
    if (this.options.trace || !this.mismatchNoted) this.log(`baud mismatch (host at ${this.hostBaud}, device at ${this.deviceBaud}): ${what}`);
    this.mismatchNoted = true;
  }

  // ---------------------------------------------------------------------------------------------
  // Faults

  fault(spec: string): void {
    this.applyFaultEffects(applyFault(this.faults, spec));
    this.log(`fault armed: ${spec}`);
  }

  clearFault(name: string): void {
    this.applyFaultEffects(clearFault(this.faults, name));
    this.log(`fault cleared: ${name}`);
  }

  private applyFaultEffects(effects: BoardFaultEffects): void {
    if (effects.chip) this.chipName = effects.chip === 'default' ? this.options.chip : effects.chip;
    if (effects.flashCapacity !== undefined) {
      this.flash.capacity = effects.flashCapacity === 'default' ? this.flash.size : Math.min(effects.flashCapacity, this.flash.size);
    }
  }

  status(): Record<string, unknown> {
    return {
      mode: this.mode,
      loader: this.loader?.mode,
      app: this.firmware?.state,
      plugged: this.plugged,
      hostOpen: this.hostOpen,
      dtr: this.dtr,
      rts: this.rts,
      bootHeld: this.bootHeld,
      deviceBaud: this.deviceBaud,
      hostBaud: this.hostBaud,
      mac: this.options.mac,
      chip: this.chipName,
      flashSize: this.flash.capacity,
      bytesFromHost: this.bytesFromHost,
      baudMismatch: { droppedBytes: this.mismatchBytes.dropped, garbledBytes: this.mismatchBytes.garbled },
      bridge: this.options.bridge.id,
      bridgeDamaged: { fromHost: this.damaged.fromHost, toHost: this.damaged.toHost },
      romOverrunBytes: this.romOverrunBytes,
      faults: this.faults,
    };
  }

  async shutdown(): Promise<void> {
    this.generation++;
    const fw = this.firmware;
    this.firmware = undefined;
    this.loader?.stop();
    if (fw) await fw.stop();
    const socat = this.socat;
    this.socat = undefined;
    this.mode = 'unplugged';
    if (socat && socat.exitCode === null) {
      socat.kill('SIGTERM');
      await new Promise((r) => socat.once('exit', r));
    }
    this.flash.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Wire-time clock: 10 bits per byte (8N1). Keeps its schedule unless the line has been idle. */
function advanceClock(clock: number, bytes: number, baud: number): number {
  const now = performance.now();
  const start = clock < now - 20 ? now : clock;
  return start + (bytes * 10 * 1000) / baud;
}

async function sleepUntil(t: number): Promise<void> {
  const wait = t - performance.now();
  if (wait > 0.5) await sleep(Math.round(wait));
}
