import type { ESPLoader } from 'esptool-js';
import { JobFailure } from '../jobs/job-failure.js';
import type { ResetMode } from '../devices/serial-link.js';
import { ROM_BAUD, type BaudPlan } from './baud-ladder.js';

/** What the speed change needs of the session's options (esp-session.ts `SessionOptions`). */
export interface SpeedChangeOptions {
  resetMode: ResetMode;
  plan?: BaudPlan;
  log(text: string, level?: 'info' | 'debug' | 'warn'): void;
}

/**
 * Switches to the first rung of `rates` and checks the line at the new speed (the same register read
 * several times must give what it gave at 115200: a bridge that garbles passes esptool's single
 * probe often enough). When the board stops answering or the answers are garbled, the session
 * steps down once: esptool-js has already reset the board and restarted the stub at 115200 when its
 * own probe failed, otherwise this does the same, then the next rung is tried. Returns the rates
 * that failed. Manual-reset boards get one rung only: the recovery needs the auto-reset circuit.
 */
export async function changeSpeed(loader: ESPLoader, rates: readonly number[], options: SpeedChangeOptions, guard: <T>(p: Promise<T>) => Promise<T>): Promise<number[]> {
  const failed: number[] = [];
  const tries = options.resetMode === 'manual' ? rates.slice(0, 1) : rates.slice(0, 2);
  if (tries.length === 0) return failed;
  const reference = await guard(loader.readReg(loader.CHIP_DETECT_MAGIC_REG_ADDR));
  for (const [i, rate] of tries.entries()) {
    // esptool-js keeps the target in a private field that changeBaud() reads.
    (loader as unknown as { baudrate: number }).baudrate = rate;
    await guard(loader.changeBaud());
    const switched = loader.transport.baudrate === rate;
    if (switched && (await lineHolds(loader, reference, guard))) return failed;
    failed.push(rate);
    options.plan?.record?.(rate, false);
    const next = tries[i + 1];
    options.log(`the board's answers at ${rate} baud failed or came garbled on this port${next ? `; stepping down to ${next}` : `; continuing at ${ROM_BAUD}`}`, 'warn');
    if (switched) await guard(restartAtRomBaud(loader, options.resetMode));
  }
  return failed;
}

/** Reads one register LINE_CHECK_READS times; every answer must arrive and equal `reference`. */
async function lineHolds(loader: ESPLoader, reference: number, guard: <T>(p: Promise<T>) => Promise<T>): Promise<boolean> {
  try {
    for (let n = 0; n < LINE_CHECK_READS; n++) {
      if ((await guard(loader.readReg(loader.CHIP_DETECT_MAGIC_REG_ADDR, LINE_CHECK_TIMEOUT_MS))) !== reference) return false;
    }
    return true;
  } catch (err) {
    if (err instanceof JobFailure || (err instanceof Error && err.name === 'AbortError')) throw err;
    return false;
  }
}

const LINE_CHECK_READS = 4;
/** Generous for a loaded station: a needless step-down would be remembered for the port. */
const LINE_CHECK_TIMEOUT_MS = 1000;

/** What esptool-js does when its own probe fails: reset into the ROM, sync at 115200, restart the stub. */
async function restartAtRomBaud(loader: ESPLoader, resetMode: ResetMode): Promise<void> {
  await loader.transport.disconnect();
  await new Promise((r) => setTimeout(r, 50));
  (loader as unknown as { baudrate: number }).baudrate = ROM_BAUD;
  loader.IS_STUB = false;
  await loader.connect(resetMode === 'usb-jtag' ? 'usb_reset' : 'default_reset', 7, false);
  await loader.runStub();
}
