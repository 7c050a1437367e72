import type { ESPLoader } from 'esptool-js';
import { JobFailure } from '../jobs/job-failure.js';
import type { ResetMode } from '../devices/serial-link.js';
import { isAbort } from './abortable.js';
import { ROM_BAUD, type BaudPlan } from './baud-ladder.js';

/** What the speed change needs of the session's options (esp-session.ts `SessionOptions`). */
export interface SpeedChangeOptions {
  resetMode: ResetMode;
  plan?: BaudPlan;
  log(text: string, level?: 'info' | 'debug' | 'warn'): void;
}

type Guard = <T>(p: Promise<T>) => Promise<T>;

/** What the probe learnt about the chip before the stub, for deciding who changes speed first. */
export interface ProbedChip {
  /** esptool's family name ("ESP32", "ESP32-S3", …). */
  family: string;
  crystalMhz: number;
}

/**
 * Loads the flasher stub and brings the line to the fastest rung of `rates` that holds; returns the
 * rates that failed.
 *
 * esptool loads the stub (6.7 KB) at the ROM's 115,200 baud and changes speed afterwards: about
 * 0.6 s of every job. Where it is safe, the ROM changes speed first (its CHANGE_BAUDRATE command,
 * the one esptool itself sends with --no-stub), so the stub loads at the new rate, and it keeps
 * that rate when it starts (it does not touch the UART until told to). Safe means: a classic ESP32
 * with a 40 MHz crystal (the ROM derives its divider from the crystal; other families and 26 MHz
 * parts need the corrections esptool applies per chip), an auto-reset circuit (the recovery below
 * resets the board), and the port's memory does not say that it failed there. If the stub does not
 * start when loaded at the new rate, the board is reset and the stub loaded at 115,200 as esptool
 * does; the port remembers that, so its next jobs go that way straight away.
 */
export async function startStubAtSpeed(loader: ESPLoader, rates: readonly number[], chip: ProbedChip, options: SpeedChangeOptions, guard: Guard): Promise<number[]> {
  if (rates.length === 0 || !romMayChangeSpeed(chip, options)) {
    await guard(loader.runStub());
    return changeSpeed(loader, rates, options, guard, 'stub');
  }
  const failed = await changeSpeed(loader, rates, options, guard, 'rom');
  const rate = loader.transport.baudrate;
  try {
    await guard(loader.runStub());
  } catch (err) {
    if (err instanceof JobFailure || isAbort(err) || rate === ROM_BAUD) throw err;
    options.plan?.recordStubAtSpeed?.(false);
    options.log(
      `the flasher stub did not start when loaded at ${rate} baud (${err instanceof Error ? err.message : String(err)}); ` +
        `resetting the board and loading it at ${ROM_BAUD} first, as esptool does (this port does so from now on)`,
      'warn',
    );
    await guard(restartAtRomBaud(loader, options.resetMode, true));
    return [...failed, ...(await changeSpeed(loader, rates.filter((r) => !failed.includes(r)), options, guard, 'stub'))];
  }
  if (rate > ROM_BAUD) options.plan?.recordStubAtSpeed?.(true);
  return failed;
}

function romMayChangeSpeed(chip: ProbedChip, options: SpeedChangeOptions): boolean {
  return chip.family === 'ESP32' && chip.crystalMhz === 40 && options.resetMode !== 'manual' && options.plan?.stubAtSpeed !== false;
}

/**
 * Switches to the first rung of `rates` and checks the line at the new speed (the same register read
 * several times must give what it gave at 115200: a bridge that garbles passes esptool's single
 * probe often enough). When the board stops answering or the answers are garbled, the session
 * resets the board into its ROM at 115200 (and restarts the stub when `phase` is 'stub') and tries
 * the next rung once. Returns the rates that failed. Manual-reset boards get one rung only: the
 * recovery needs the auto-reset circuit.
 */
export async function changeSpeed(loader: ESPLoader, rates: readonly number[], options: SpeedChangeOptions, guard: Guard, phase: 'rom' | 'stub' = 'stub'): Promise<number[]> {
  const failed: number[] = [];
  const tries = options.resetMode === 'manual' ? rates.slice(0, 1) : rates.slice(0, 2);
  if (tries.length === 0) return failed;
  const reference = await guard(loader.readReg(loader.CHIP_DETECT_MAGIC_REG_ADDR));
  for (const [i, rate] of tries.entries()) {
    if ((await switchRate(loader, rate, options, guard)) && (await lineHolds(loader, reference, guard))) return failed;
    failed.push(rate);
    options.plan?.record?.(rate, false);
    const next = tries[i + 1];
    options.log(`the board's answers at ${rate} baud failed or came garbled on this port${next ? `; stepping down to ${next}` : `; continuing at ${ROM_BAUD}`}`, 'warn');
    await guard(restartAtRomBaud(loader, options.resetMode, phase === 'stub'));
  }
  return failed;
}

/**
 * Asks the ROM or the stub to change speed (it answers at the old rate, then switches), then
 * switches the host. False when the host could not take the rate. The second word is the current
 * rate for the stub (as esptool sends it) and 0 for the ROM.
 */
async function switchRate(loader: ESPLoader, rate: number, options: SpeedChangeOptions, guard: Guard): Promise<boolean> {
  const packet = new Uint8Array(8);
  const view = new DataView(packet.buffer);
  view.setUint32(0, rate, true);
  view.setUint32(4, loader.IS_STUB ? loader.transport.baudrate : 0, true);
  options.log(`changing speed to ${rate} baud (${loader.IS_STUB ? 'flasher stub' : 'ROM'})`, 'debug');
  await guard(loader.checkCommand('change baud rate', loader.ESP_CHANGE_BAUDRATE, packet));
  // Let the answer leave at the old rate before the host switches.
  await new Promise((r) => setTimeout(r, 50));
  try {
    await guard(loader.transport.changeBaudrate(rate));
  } catch (err) {
    if (err instanceof JobFailure || isAbort(err)) throw err;
    options.log(`the port would not switch to ${rate} baud: ${err instanceof Error ? err.message : String(err)}`, 'warn');
    return false;
  }
  await guard(loader.transport.drainInput());
  return loader.transport.baudrate === rate;
}

/** Reads one register LINE_CHECK_READS times; every answer must arrive and equal `reference`. */
async function lineHolds(loader: ESPLoader, reference: number, guard: Guard): Promise<boolean> {
  try {
    for (let n = 0; n < LINE_CHECK_READS; n++) {
      if ((await guard(loader.readReg(loader.CHIP_DETECT_MAGIC_REG_ADDR, LINE_CHECK_TIMEOUT_MS))) !== reference) return false;
    }
    return true;
  } catch (err) {
    if (err instanceof JobFailure || isAbort(err)) throw err;
    return false;
  }
}

const LINE_CHECK_READS = 4;
/** Generous for a loaded station: a needless step-down would be remembered for the port. */
const LINE_CHECK_TIMEOUT_MS = 1000;

/** Resets the board into the ROM, syncs at 115200 and, with `stub`, restarts the flasher stub. */
async function restartAtRomBaud(loader: ESPLoader, resetMode: ResetMode, stub: boolean): Promise<void> {
  await loader.transport.disconnect();
  await new Promise((r) => setTimeout(r, 50));
  loader.IS_STUB = false;
  await loader.connect(resetMode === 'usb-jtag' ? 'usb_reset' : 'default_reset', 7, false);
  if (stub) await loader.runStub();
}
