import type { ProvisionRequest, ProvisionResponse } from '@tds/server/contract';
import { encodeModbusTable } from '../../shared/esp32-modbus.js';
import { checkIssuedCertificate, expandTemplate, obtainCertificate, type DeviceIdentity, type IdentityMemory } from '../certs/device-identity.js';
import { awaitOnlineAndConfirm, watchOnline, type OnlineWatch } from '../certs/online-proof.js';
import { DeviceConsoleClient, provisionWithDeviceKey, type DeviceKeyProvisionResult } from '../device-console/index.js';
import type { SerialLink } from '../devices/serial-link.js';
import { JobFailure } from '../jobs/job-failure.js';
import type { JobContext, StepHandle } from '../jobs/types.js';
import { checkBundleKeyMode, type BundleBuild } from './bundle.js';
import { EspBoard, finalIdentityCheck } from './esp-board.js';
import { describeModbus } from './factory-data.js';
import type { FlashPart } from './esp-session.js';
import { releaseAfterFailure } from './failed-attempt.js';
import { describeOutcomes } from './flash-report.js';
import type { Esp32JobInput } from './job-input.js';

/** The firmware's provisioning console (tds-console/1) on the board's link. */
interface FirmwareConsole {
  client: DeviceConsoleClient;
  /** The first boot of firmware this attempt flashed (absent when the firmware was already running). */
  booted?: Promise<unknown>;
  /** The MAC the chip probe read (absent when the board was not probed). */
  probedMac?: string;
}

/**
 * One attempt of the ESP32 job in device-key mode: the key is born on the device. Flash the firmware
 * with an erased data partition and reboot (or, for a board already running the TDS firmware, only
 * open its console); the firmware's console makes the key and CSR, the server signs it, the console
 * installs certificate and configuration and reboots; then wait for the device on the broker.
 */
export class DeviceKeyRun {
  /** The console client from the moment the firmware's output is read. */
  private client: DeviceConsoleClient | undefined;
  /** The certificate this attempt got (a pending successor when the MAC already had one). */
  private identity: DeviceIdentity | undefined;
  /** The console has written the certificate and configuration on the device. */
  private committed = false;

  constructor(
    private readonly ctx: JobContext,
    private readonly input: Esp32JobInput,
    private readonly memory: IdentityMemory,
  ) {}

  async run(): Promise<void> {
    const { ctx, input } = this;
    if (!input.firmwareInstalled) checkBundleKeyMode(input.bundle, 'device');
    const board = new EspBoard(input);
    try {
      const firmware = input.firmwareInstalled ? this.startConsole(await board.openRunning(), false) : await this.flashFirmware(board);
      const { identity, watch } = await ctx.step('certificate', (step) => this.certificate(step, firmware));
      await awaitOnlineAndConfirm({ ctx, identity, watch, device: 'board' });
    } catch (err) {
      await releaseAfterFailure(ctx, this.identity, err, this.committed, this.memory);
      throw err;
    } finally {
      this.client?.dispose();
      await board.close((text, level) => ctx.log(text, level));
    }
  }

  /** probe → flash (data partition erased) → reboot into the firmware, its console attached. */
  private async flashFirmware(board: EspBoard): Promise<FirmwareConsole> {
    const { ctx, input } = this;
    const probed = await board.probe(ctx, finalIdentityCheck(ctx, input, this.memory));
    await ctx.step('flash', (step) => this.flash(step, board, probed.build));
    const firmware = await ctx.step('reboot', (step) => board.reboot(step, (link) => this.startConsole(link, true)));
    return { ...firmware, probedMac: probed.chip.mac };
  }

  private async flash(step: StepHandle, board: EspBoard, build: BundleBuild): Promise<void> {
    // An erased data partition: nothing of an earlier provisioning (no old key) survives.
    const blank = new Uint8Array(build.dataPartition.size).fill(0xff);
    const parts: FlashPart[] = [
      ...build.parts.map((p) => ({ name: p.name, address: p.offset, data: p.data })),
      // Device data: written whole, never diffed against an earlier image.
      { name: `${build.dataPartition.label} (erased)`, address: build.dataPartition.offset, data: blank, deviceData: true },
    ];
    const outcomes = await board.flash(step, parts);
    // A step-down during the flash changed the rate the probe reported.
    this.ctx.update({ facts: { baud: String(board.baud) } });
    step.detail(`${describeOutcomes(outcomes)} at ${board.baud} baud, MD5 verified; ${build.dataPartition.label} erased for the device's console`, {
      key: 'core:stepDetail.flashedErased',
      params: { kib: Math.round(outcomes.reduce((n, o) => n + o.sent, 0) / 1024), skipped: outcomes.filter((o) => o.action === 'skipped').length, baud: board.baud, partition: build.dataPartition.label },
    });
  }

  private startConsole(link: SerialLink, expectBoot: boolean): FirmwareConsole {
    const client = (this.client = new DeviceConsoleClient(link, { timeoutMs: 15_000, onLogLine: (line) => this.ctx.log(`[device] ${line}`) }));
    if (!expectBoot) return { client };
    const booted = client.waitForEvent((e) => e.event === 'boot', this.input.settings.consoleBootTimeoutMs ?? 30_000);
    booted.catch(() => undefined); // awaited by the certificate step
    return { client, booted };
  }

  /** The console makes the key and CSR; the server signs; the console installs and reboots. */
  private async certificate(step: StepHandle, firmware: FirmwareConsole): Promise<{ identity: DeviceIdentity; watch: OnlineWatch | undefined }> {
    const { ctx, input } = this;
    const { settings } = input;
    if (firmware.booted) {
      step.detail('waiting for the firmware console', { key: 'core:stepDetail.waitingConsole' });
      try {
        await firmware.booted;
      } catch (err) {
        throw new JobFailure('DEVICE_CONSOLE_FAILED', 'The flashed firmware did not start its provisioning console (tds-console/1).', {
          hint: 'Device-key mode needs the TDS firmware; check the bundle, or use station keys.',
          cause: err,
        });
      }
    }
    const info = await firmware.client.info();
    const mac = firmware.probedMac ?? info.mac;
    ctx.update({ mac, facts: { firmware: `${info.fw.name} ${info.fw.version}`, chip: `${info.chip.model} rev ${info.chip.revision}` } });
    const codigo = expandTemplate(settings.codeTemplate, mac, input.seq);
    ctx.update({ gatewayCode: codigo });
    // The console reboots the device at the end; only an "online" after that boot counts (the
    // device may connect as soon as the configuration is committed, and then restart).
    let bootAt: number | undefined;
    const offBoot = firmware.client.onEvent((e) => {
      if (e.event === 'boot') bootAt = Date.now();
    });
    let result: DeviceKeyProvisionResult;
    try {
      result = await provisionWithDeviceKey({
        console: firmware.client,
        api: { provision: (request) => this.signCsr(step, request, mac) },
        gateway: { code: codigo, name: expandTemplate(settings.nameTemplate, mac, input.seq), accountId: settings.accountId },
        wifi: { ssid: settings.wifi.ssid, password: settings.wifi.password },
        broker: settings.broker,
        // A board re-keyed in place keeps its configuration partition: a table the profile no longer has is erased.
        modbus: settings.modbus ? encodeModbusTable(settings.modbus) : null,
        expectedMac: mac,
        operator: `${settings.operator}@${settings.stationId}`,
        reboot: true,
        onStep: (name, detail) => {
          step.log(`[console] ${name}: ${detail}`);
          step.detail(`${name}: ${detail}`);
        },
      });
    } finally {
      offBoot();
    }
    const identity = this.identity;
    if (!identity) throw new Error('the device console flow ended without asking for a certificate');
    this.committed = true;
    identity.installed();
    ctx.update({ gatewayId: result.gatewayId, certificateSerial: result.serialNumber, certificateExpiresAt: result.expiresAt });
    step.detail(`key made on the device; serial ${result.serialNumber}, expires ${result.expiresAt}; ${describeModbus(settings.modbus)}`, {
      key: 'core:stepDetail.deviceKeyCertificate',
      params: { serial: result.serialNumber, expires: result.expiresAt },
    });
    const watch = watchOnline(input.monitor, mac, { since: bootAt ?? Date.now(), statusOnly: true, timeoutMs: settings.onlineTimeoutMs, signal: ctx.signal });
    return { identity, watch };
  }

  /** The server side of the console flow: the device's CSR becomes its certificate. */
  private async signCsr(step: StepHandle, request: ProvisionRequest, mac: string): Promise<ProvisionResponse> {
    const { csr_pem: csrPem } = request;
    if (!csrPem) throw new JobFailure('DEVICE_CONSOLE_FAILED', 'the device console gave no CSR');
    const identity = (this.identity = await obtainCertificate({
      ctx: this.ctx,
      step,
      issuer: this.input.issuer,
      request: { ...request, csr_pem: csrPem },
      keyOrigin: 'device',
      policy: this.input.settings.reprovision,
      memory: this.memory,
      device: 'board',
    }));
    checkIssuedCertificate(identity.response, mac);
    return identity.response;
  }
}
