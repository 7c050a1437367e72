import { checkExistingIdentity, type IdentityMemory } from '../certs/device-identity.js';
import type { SerialLink } from '../devices/serial-link.js';
import { JobFailure } from '../jobs/job-failure.js';
import type { JobContext, StepHandle } from '../jobs/types.js';
import { below, type BaudPlan } from './baud-ladder.js';
import { buildForChip, type BundleBuild } from './bundle.js';
import { EspSession, REBOOT_SEQUENCE, ROM_BAUD, type ChipInfo, type FlashOptions, type FlashPart, type ResetMode } from './esp-session.js';
import type { PartOutcome } from './flash-writer.js';
import type { Esp32JobInput } from './job-input.js';
import { baudPlanFor } from './port-rates.js';

/**
 * What the probe asks about the board's MAC once it has read it, before anything is written: the
 * serial of the certificate the job will replace, or undefined. It stops the job by throwing
 * (JobSkipped: the board is left as it was and reset into its firmware).
 */
export type MacCheck = (step: StepHandle, mac: string) => Promise<string | undefined>;

/** For a final identity: an active certificate is replaced only if the operator (or the policy) says so. */
export function finalIdentityCheck(ctx: JobContext, input: Esp32JobInput, memory: IdentityMemory): MacCheck {
  return async (step, mac) => {
    const active = await checkExistingIdentity({ ctx, step, issuer: input.issuer, mac, policy: input.settings.reprovision, memory, device: 'board' });
    return active?.serialNumber;
  };
}

export interface ProbedBoard {
  chip: ChipInfo;
  /** The bundle's build for this chip. */
  build: BundleBuild;
}

/**
 * One attempt's hold on a board: its serial link and, while the board is in download mode, the
 * esptool session on it. The probe opens the session, a failed fast flash may replace it with a slow
 * one, and the reboot hands the link over to whatever reads the firmware's output. Each attempt
 * opens its own link, so a retry starts clean.
 */
export class EspBoard {
  readonly resetMode: ResetMode;
  private readonly link: SerialLink;
  private session: EspSession | undefined;

  constructor(private readonly input: Esp32JobInput) {
    const { settings, device } = input;
    // The profile's reset mode, except that a USB-Serial/JTAG port always uses its own.
    this.resetMode = settings.resetMode === 'manual' ? 'manual' : device.resetMode === 'usb-jtag' ? 'usb-jtag' : settings.resetMode;
    this.link = input.openLink();
  }

  /**
   * The `probe` step: reset into the bootloader (the operator does it in manual mode), read the chip
   * and its eFuse MAC, check the bundle fits, and, before anything is written, check the MAC
   * (`checkMac`: is it provisioned already? The operator decides: replace, or stop and leave the board as it was).
   */
  probe(ctx: JobContext, checkMac: MacCheck): Promise<ProbedBoard> {
    const { device, bundle } = this.input;
    return ctx.step('probe', async (step) => {
      if (this.resetMode === 'manual') {
        const choice = await ctx.ask({
          kind: 'manual-boot',
          message: `Put the board on ${device.path} in download mode: hold BOOT, press and release EN/RESET, then release BOOT.`,
          facts: { port: device.path },
          choices: ['ready', 'cancel'],
        });
        if (choice === 'cancel') throw new JobFailure('CANCELLED', 'The operator cancelled at the manual boot prompt.');
      }
      step.detail(`connecting at ${ROM_BAUD} baud (${this.resetMode} reset)`, { key: 'core:stepDetail.connecting', params: { baud: ROM_BAUD, reset: this.resetMode } });
      this.session = await this.connect(step, this.baudPlan());
      const chip = this.session.chip;
      ctx.update({ mac: chip.mac, facts: chipFacts(chip) });
      const build = buildForChip(bundle, chip.chipFamily);
      checkFlashSize(chip, build);
      step.detail(`${chip.description}, ${chip.mac}: is it provisioned already?`, { key: 'core:stepDetail.checkingMac', params: { chip: chip.description, mac: chip.mac } });
      const replaces = await checkMac(step, chip.mac);
      step.detail(`${chip.description}, ${chip.mac}, flash ${chip.flashSize ?? '?'}, ${chip.baud} baud${replaces ? `; replaces certificate ${replaces}` : ''}`, {
        key: replaces ? 'core:stepDetail.probedReplacing' : 'core:stepDetail.probed',
        params: { chip: chip.description, mac: chip.mac, flash: chip.flashSize ?? '?', baud: chip.baud, ...(replaces ? { serial: replaces } : {}) },
      });
      return { chip, build };
    });
  }

  /**
   * Writes the parts (compressed, MD5-verified; what the board already holds is skipped, see
   * `FlashOptions`). If the board stops answering at a high speed (not an unplug, not a verify
   * failure), records that rate as failed for the port, reconnects once at the next lower rung of
   * the port's ladder (115200 when there is none) and writes them again.
   */
  async flash(step: StepHandle, parts: FlashPart[], options: FlashOptions = {}): Promise<PartOutcome[]> {
    const report = (p: { fraction: number; part: FlashPart; written: number }): void => {
      const params = { part: p.part.name, address: `0x${p.part.address.toString(16)}`, written: Math.round(p.written / 1024), total: Math.round(p.part.data.length / 1024) };
      step.progress(p.fraction, `${params.part} @${params.address}: ${params.written} of ${params.total} KiB`, { key: 'core:stepDetail.flashing', params });
    };
    const session = this.current();
    try {
      session.useSignal(step.signal);
      return await session.flash(parts, report, options);
    } catch (err) {
      if (!(err instanceof JobFailure) || err.code !== 'FLASH_WRITE_FAILED' || session.chip.baud <= ROM_BAUD || this.resetMode === 'manual') throw err;
      const lower = below(this.baudPlan(), session.chip.baud);
      lower.record?.(session.chip.baud, false);
      step.log(`flashing at ${session.chip.baud} baud failed (${err.message}); reconnecting at ${lower.rates[0] ?? ROM_BAUD} baud`, 'warn');
      await session.close();
      this.session = undefined;
      const slow = await this.connect(step, lower).catch((reconnectErr: unknown) => {
        // Keep the place of the original failure: the reconnect only confirms what went wrong there.
        if (reconnectErr instanceof JobFailure && reconnectErr.code === 'PORT_GONE') {
          throw new JobFailure('PORT_GONE', reconnectErr.message, { where: err.where, hint: reconnectErr.hint, cause: err });
        }
        throw reconnectErr;
      });
      this.session = slow;
      return await slow.flash(parts, report, options);
    }
  }

  /** The rate the board is flashed at now (after a step-down, the lower one). */
  get baud(): number {
    return this.current().chip.baud;
  }

  /**
   * Resets the board into its firmware; `attach` gets the link just before the reset (so not a byte
   * of the boot output is missed) and what it returns is handed back. The esptool session ends here.
   */
  async reboot<T extends object>(step: StepHandle, attach: (link: SerialLink) => T): Promise<T> {
    const session = this.current();
    session.useSignal(step.signal);
    const attached: { reader?: T } = {};
    await session.rebootAndDetach((link) => {
      attached.reader = attach(link);
    });
    this.session = undefined;
    if (this.resetMode === 'manual') step.detail('press EN/RESET on the board if it does not start by itself', { key: 'core:stepDetail.pressReset' });
    else step.detail(`reset with ${REBOOT_SEQUENCE}`, { key: 'core:stepDetail.resetSequence', params: { sequence: REBOOT_SEQUENCE } });
    if (!attached.reader) throw new Error('the board was reset without handing over its serial link');
    return attached.reader;
  }

  /** A board that already runs the firmware: the link at the console's speed, no reset. */
  async openRunning(): Promise<SerialLink> {
    await this.link.open({ baudRate: ROM_BAUD });
    return this.link;
  }

  /**
   * Ends the attempt's hold on the board; always awaited, so a port closed by a cancel is free when
   * the job ends. A board still in download mode (the job stopped or failed before its reboot) is
   * reset into its own firmware first, so it is never left sitting in the bootloader, offline.
   */
  async close(log?: (text: string, level?: 'info' | 'warn') => void): Promise<void> {
    const session = this.session;
    this.session = undefined;
    if (session) {
      // The job's signal may have fired (a cancel): the reset gets a few seconds of its own.
      session.useSignal(AbortSignal.timeout(5000));
      try {
        await session.rebootAndDetach();
        log?.(`the board was reset into its firmware (${REBOOT_SEQUENCE})`);
      } catch (err) {
        log?.(`could not reset the board into its firmware: ${err instanceof Error ? err.message : String(err)}`, 'warn');
        await session.close().catch(() => undefined);
      }
    }
    await this.link.close().catch(() => undefined);
  }

  private current(): EspSession {
    if (!this.session) throw new Error('the board is not in download mode (not probed yet, or already rebooted)');
    return this.session;
  }

  /** The speeds for this port: its bridge's ladder, the profile's cap, the port's memory (port-rates.ts). */
  private baudPlan(): BaudPlan {
    const { device, settings, portRates } = this.input;
    return baudPlanFor(device, { maxBaud: settings.maxBaud, portRates });
  }

  private connect(step: StepHandle, plan: BaudPlan): Promise<EspSession> {
    const { device, bundle } = this.input;
    return EspSession.connect(this.link, {
      baud: ROM_BAUD,
      plan,
      // Refuse a chip the bundle has no build for before anything is uploaded or written.
      acceptChip: (chipFamily) => void buildForChip(bundle, chipFamily),
      resetMode: this.resetMode,
      signal: step.signal,
      ...(device.vendorId !== undefined ? { usbVendorId: device.vendorId } : {}),
      ...(device.productId !== undefined ? { usbProductId: device.productId } : {}),
      log: (text, level) => step.log(text, level ?? 'info'),
    });
  }
}

function checkFlashSize(chip: ChipInfo, build: BundleBuild): void {
  if (chip.flashSizeBytes === undefined) return; // unknown id: esptool warns; the write itself will tell
  if (chip.flashSizeBytes < build.requiredFlashBytes) {
    throw new JobFailure(
      'FLASH_TOO_SMALL',
      `The board has ${chip.flashSize} of flash; this bundle's partition table needs ${formatSize(build.requiredFlashBytes)}.`,
    );
  }
}

function chipFacts(chip: ChipInfo): Record<string, string> {
  const facts: Record<string, string> = {
    chip: chip.description,
    crystal: `${chip.crystalMhz} MHz`,
    flash: chip.flashSize ?? `unknown (id 0x${chip.flashId.toString(16)})`,
    baud: String(chip.baud),
    features: chip.features.join(', '),
  };
  if (chip.revision !== undefined) facts.revision = String(chip.revision);
  return facts;
}

function formatSize(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / 1024 / 1024}MB` : `${Math.ceil(bytes / 1024)}KB`;
}
