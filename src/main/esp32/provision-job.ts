import { checkIssuedCertificate, expandTemplate, IdentityMemory, obtainCertificate, type DeviceIdentity, type ReprovisionPolicy } from '../certs/device-identity.js';
import { DeviceKey, type DeviceKeyType } from '../certs/device-key.js';
import type { CertificateIssuer } from '../certs/issuer.js';
import type { SerialDeviceDescriptor, SerialLink } from '../devices/serial-link.js';
import { formatUsbId } from '../devices/usb-ids.js';
import { DeviceConsoleClient, provisionWithDeviceKey } from '../device-console/index.js';
import { isAbortError, JobFailure } from '../jobs/job-failure.js';
import type { JobContext, JobDefinition, StepDeclaration, StepHandle } from '../jobs/types.js';
import type { BrokerMonitor, PresenceEvent } from '../monitor/broker-monitor.js';
import { BootLogCapture } from './boot-log.js';
import { below, type BaudPlan } from './baud-ladder.js';
import { buildForChip, type BundleBuild, type FirmwareBundle } from './bundle.js';
import { EspSession, ROM_BAUD, type ChipInfo, type FlashOptions, type FlashPart, type ResetMode } from './esp-session.js';
import { buildFactoryDataImage } from './factory-data.js';
import { describeOutcomes } from './flash-report.js';
import type { ImageHistory } from './image-history.js';
import { baudPlanFor, type PortRates } from './port-rates.js';

/** What the operator decides when a MAC already has an active certificate (`revoke` = former name of `replace`). */
export type { ReprovisionPolicy } from '../certs/device-identity.js';

export interface Esp32JobSettings {
  contaId: number;
  /** `codigo` template: {mac12}, {MAC12}, {mac}, {seq}. */
  codigoTemplate: string;
  nomeTemplate: string;
  /** Broker address the device uses (written to its factory data). */
  broker: { host: string; port: number };
  wifi: { ssid: string; password: string };
  /**
   * Highest flashing speed allowed (the profile's cap). The station picks the rate itself from the
   * port's USB bridge and what worked on that port before; without a cap it may use the bridge's top rung.
   */
  maxBaud?: number;
  /** @deprecated Former fixed rate; now read as a cap like `maxBaud` (the lower of the two wins). */
  baud?: number;
  /** From the profile; a USB-Serial/JTAG port (303a:1001) uses its own reset anyway. */
  resetMode: ResetMode;
  onlineTimeoutMs: number;
  keyType: DeviceKeyType;
  keyMode: 'station' | 'device';
  operator: string;
  stationId: string;
  reprovision: ReprovisionPolicy;
  /** How long the boot-log step listens before moving on (the log keeps being captured). Default 3000 ms. */
  bootLogMs?: number;
  /** Validity requested from the server, days (when the server supports it). */
  validityDays?: number;
  /** Device-key mode: how long the flashed firmware may take to start its console. Default 30 s. */
  consoleBootTimeoutMs?: number;
}

export interface Esp32JobInput {
  device: SerialDeviceDescriptor;
  /** A fresh, closed link for the device (called once per attempt). */
  openLink(): SerialLink;
  bundle: FirmwareBundle;
  issuer: CertificateIssuer;
  /** The station's monitor identity on the broker; without it the online step is skipped. */
  monitor?: BrokerMonitor;
  settings: Esp32JobSettings;
  /** Sequence number for {seq} in the codigo template. */
  seq?: number;
  /** The station's memory of each port's speed (data folder); without it every job starts at the bridge's top rung. */
  portRates?: PortRates;
  /** Which image each MAC last received (station log + sector digests); without it no sector diff. */
  imageHistory?: ImageHistory;
  /**
   * Device-key mode only: the board already runs the TDS firmware; skip probe and flash and only
   * re-key it through its console (e.g. a board whose key must be replaced).
   */
  firmwareInstalled?: boolean;
}

/** Steps when the device makes its key: flash first, then the firmware's console does the rest. */
export const ESP32_DEVICE_KEY_STEPS = [
  { name: 'probe', weight: 3 },
  { name: 'flash', weight: 20 },
  { name: 'reboot', weight: 1 },
  { name: 'certificate', weight: 4 },
  { name: 'online', weight: 5 },
] as const;

export const ESP32_STEPS = [
  { name: 'probe', weight: 3 },
  { name: 'certificate', weight: 2 },
  { name: 'factory-data', weight: 1 },
  { name: 'flash', weight: 20 },
  { name: 'reboot', weight: 1 },
  { name: 'boot-log', weight: 2 },
  { name: 'online', weight: 5 },
] as const;

/**
 * How long each step may run before the job stops it (STEP_TIMEOUT): generous bounds, so that a board
 * or a peer that stops answering fails the job with a clear error instead of leaving it hanging.
 * Flashing is bounded by the worst case: everything uncompressed at the 115200-baud fallback.
 */
function withTimeLimits(steps: readonly { name: string; weight: number }[], input: Esp32JobInput): StepDeclaration[] {
  const { settings, bundle } = input;
  const flashBytes = bundle.builds.reduce((max, b) => Math.max(max, b.parts.reduce((n, p) => n + p.data.length, b.dataPartition.size)), 0);
  const limits: Record<string, number> = {
    probe: 90_000,
    certificate: 60_000,
    'factory-data': 30_000,
    flash: 60_000 + Math.ceil((flashBytes * 1000) / 11_520),
    reboot: 30_000,
    'boot-log': (settings.bootLogMs ?? 3000) + 15_000,
    online: settings.onlineTimeoutMs + 30_000,
  };
  return steps.map((st) => ({ ...st, ...(limits[st.name] !== undefined ? { timeoutMs: limits[st.name] } : {}) }));
}

/**
 * The ESP32 bench job: probe → certificate (key made here, or on the device) → factory-data NVS
 * image → flash bundle + data partition (compressed, MD5-verified) → reboot → boot log → online on
 * the broker. Each run opens its own link, so a retry starts clean.
 */
export function esp32ProvisionJob(input: Esp32JobInput): JobDefinition {
  const { device, bundle, settings } = input;
  // Kept across retries: certificates that never reached the board, replacements already agreed.
  const memory = new IdentityMemory();
  return {
    kind: 'esp32',
    target: device.path,
    steps: withTimeLimits(
      settings.keyMode === 'device'
        ? input.firmwareInstalled
          ? ESP32_DEVICE_KEY_STEPS.filter((st) => st.name === 'certificate' || st.name === 'online')
          : ESP32_DEVICE_KEY_STEPS
        : ESP32_STEPS,
      input,
    ),
    initial: {
      operator: settings.operator,
      contaId: settings.contaId,
      serverUrl: input.issuer.serverUrl,
      firmware: { name: bundle.name, version: bundle.version, sha256: bundle.sha256 },
      facts: {
        port: device.path,
        usb: formatUsbId(device.vendorId, device.productId),
        ...(device.bridge ? { bridge: device.bridge } : {}),
      },
    },
    run: (ctx) => (settings.keyMode === 'device' ? runDeviceKeyJob(ctx, input, memory) : runEsp32Job(ctx, input, memory)),
  };
}

async function runEsp32Job(ctx: JobContext, input: Esp32JobInput, memory: IdentityMemory): Promise<void> {
  const { device, bundle, issuer, monitor, settings } = input;
  checkKeyMode(bundle, 'station');
  const resetMode = resolveResetMode(input);
  const link = input.openLink();
  let session: EspSession | undefined;
  let capture: BootLogCapture | undefined;
  let key: DeviceKey | undefined;
  let dataImage: Uint8Array | undefined;
  let identity: DeviceIdentity | undefined;
  let flashedNew = false;
  try {
    // ---- probe
    const { chip, build } = await probeStep(ctx, input, link, resetMode, (sess) => (session = sess));
    const mac = chip.mac;
    const codigo = expandTemplate(settings.codigoTemplate, mac, input.seq);
    const nome = expandTemplate(settings.nomeTemplate, mac, input.seq);
    ctx.update({ gatewayCode: codigo });

    // ---- certificate
    const issued = await ctx.step('certificate', async (step) => {
      key = await DeviceKey.generate(settings.keyType);
      step.detail(`${settings.keyType === 'ec' ? 'EC P-256' : 'RSA-2048'} key made in memory; requesting certificate`);
      const csrPem = await key.csrPem(mac);
      const request = { mac_address: mac, codigo, nome, conta_id: settings.contaId, csr_pem: csrPem };
      identity = await obtainCertificate({ ctx, step, issuer, request, keyOrigin: 'station', policy: settings.reprovision, memory, device: 'board' });
      const response = identity.response;
      checkIssuedCertificate(response, mac, await key.publicKeySha256());
      if (response.codigo) ctx.update({ gatewayCode: response.codigo });
      ctx.update({
        gatewayId: response.gateway_id,
        certificateSerial: response.serial_number,
        certificateExpiresAt: response.expires_at,
      });
      step.detail(`serial ${response.serial_number}, expires ${response.expires_at}${identity.previous ? ` (pending; replaces ${identity.previous.serialNumber})` : ''}`);
      return response;
    });

    // ---- factory data
    await ctx.step('factory-data', async (step) => {
      const partition = build.dataPartition;
      const keyPem = await key!.privateKeyPem();
      dataImage = buildFactoryDataImage(
        {
          caPem: issued.ca_pem,
          certPem: issued.certificate_pem,
          keyPem,
          wifiSsid: settings.wifi.ssid,
          wifiPassword: settings.wifi.password,
          mqttHost: settings.broker.host,
          mqttPort: settings.broker.port,
          gatewayCode: issued.codigo ?? codigo,
          mac,
          provisionedAt: new Date().toISOString(),
          provisionedBy: `${settings.operator}@${settings.stationId}`,
        },
        { size: partition.size, label: partition.label },
        bundle.nvsNamespace,
      );
      key!.destroy(); // zeroes the PEM buffer; the image is zeroed after flashing
      key = undefined;
      step.detail(`${partition.label} at 0x${partition.offset.toString(16)}, ${partition.size} bytes (NVS namespace ${bundle.nvsNamespace})`);
    });

    // ---- flash
    await ctx.step('flash', async (step) => {
      const parts: FlashPart[] = [
        ...build.parts.map((p) => ({ name: p.name, address: p.offset, data: p.data })),
        { name: build.dataPartition.label, address: build.dataPartition.offset, data: dataImage!, deviceData: true },
      ];
      const t0 = performance.now();
      const known = await input.imageHistory?.previous(mac, build.chipFamily).catch(() => undefined);
      let outcomes;
      try {
        outcomes = await flashWithFallback(link, input, resetMode, step, () => session!, (s) => (session = s), parts, { known: known?.parts ?? [] });
      } finally {
        dataImage!.fill(0);
        dataImage = undefined;
      }
      flashedNew = true;
      identity!.installed();
      await input.imageHistory?.remember(bundle, build).catch((err: unknown) => step.log(`could not record the image's sector digests: ${String(err)}`, 'warn'));
      const secs = (performance.now() - t0) / 1000;
      step.detail(`${describeOutcomes(outcomes)} in ${secs.toFixed(1)} s at ${session!.chip.baud} baud, MD5 verified`);
    });

    // ---- reboot
    const rebootAt = Date.now();
    let online: Promise<PresenceEvent> | undefined;
    await ctx.step('reboot', async (step) => {
      // Listen before the reset: a fast board may come online while the boot log step runs.
      if (monitor) {
        online = monitor.waitForOnline(mac, {
          since: rebootAt,
          timeoutMs: (settings.bootLogMs ?? 3000) + settings.onlineTimeoutMs,
          signal: ctx.signal,
        });
        online.catch(() => undefined);
      }
      session!.useSignal(step.signal);
      await session!.rebootAndDetach((l) => {
        capture = new BootLogCapture(l);
        capture.onLine((line) => ctx.log(`[device] ${line}`));
      });
      session = undefined;
      step.detail(resetMode === 'manual' ? 'press EN/RESET on the board if it does not start by itself' : 'reset with D0|R1|W100|R0');
    });

    // ---- boot log
    await ctx.step('boot-log', async (step) => {
      const seen = await capture!.waitFor(/./, settings.bootLogMs ?? 3000, step.signal);
      if (seen) await sleepUnlessOnline(1000, online, step.signal);
      const n = capture!.lineCount();
      if (n === 0) step.log('no output from the board after the reset yet', 'warn');
      step.detail(`${n} lines${n ? `; last: ${lastLine(capture!.text())}` : ''}`);
    });

    // ---- online (then a pending certificate is confirmed: only now is the old one revoked)
    if (!monitor || !online) {
      ctx.skip('online', 'no monitor identity in the profile: cannot watch the broker');
      ctx.log('online check skipped: the profile has no monitor identity', 'warn');
      await confirmWithoutProof(ctx, identity!);
      return;
    }
    await ctx.step('online', async (step) => {
      step.detail(`waiting for ${mac} on the broker (up to ${Math.round(settings.onlineTimeoutMs / 1000)} s)`);
      try {
        const e = await online!;
        const seen = `${e.kind === 'status' ? 'status online' : 'telemetry'} after ${((e.at - rebootAt) / 1000).toFixed(1)} s`;
        step.detail(seen);
        await identity!.confirm(step);
        if (identity!.previous) step.detail(`${seen}; ${identity!.previous.serialNumber} revoked (superseded)`);
      } catch (err) {
        if (err instanceof JobFailure && err.code === 'BROKER_NEVER_SAW_DEVICE') {
          throw new JobFailure(err.code, err.message, {
            where: err.where ?? 'online',
            attachment: { label: `boot log of ${mac} (${device.path})`, text: capture?.text() ?? '' },
            hint: err.hint,
          });
        }
        throw err;
      }
    });
  } catch (err) {
    await releaseAfterFailure(ctx, identity, err, flashedNew, memory);
    throw err;
  } finally {
    capture?.stop();
    key?.destroy();
    dataImage?.fill(0);
    await session?.close().catch(() => undefined);
    // Always awaited: a close started by a cancel must finish before the job ends and frees the port.
    await link.close().catch(() => undefined);
  }
}

/**
 * After a failure or a cancel: a pending certificate is cancelled (the board's previous
 * certificate stays in force); a fresh certificate that never reached the board is left for the
 * retry to replace.
 */
async function releaseAfterFailure(ctx: JobContext, identity: DeviceIdentity | undefined, err: unknown, onBoard: boolean, memory: IdentityMemory): Promise<void> {
  if (!identity) return;
  if (identity.pending) {
    await identity.release(ctx, isAbortError(err, ctx.signal) ? 'job cancelled' : 'job failed');
    if (onBoard) ctx.log(`the board was already flashed with certificate ${identity.serial}; run the job again to give it a working identity`, 'warn');
  } else if (memory.issuedNotInstalled.has(identity.serial)) {
    ctx.log(`certificate ${identity.serial} was issued but never reached the board; a retry will replace it`, 'warn');
  }
}

/** No monitor identity: nothing can prove the board online, so a pending successor is confirmed on trust. */
async function confirmWithoutProof(ctx: JobContext, identity: DeviceIdentity): Promise<void> {
  if (!identity.pending) return;
  ctx.log(`confirming certificate ${identity.serial} without seeing the board online (no monitor identity)`, 'warn');
  await identity.confirm(ctx);
}

/** Probe step shared by both key modes: reset into the bootloader, read the chip, check the bundle fits. */
function probeStep(
  ctx: JobContext,
  input: Esp32JobInput,
  link: SerialLink,
  resetMode: ResetMode,
  keep: (s: EspSession) => void,
): Promise<{ chip: ChipInfo; build: BundleBuild }> {
  const { device, bundle } = input;
  return ctx.step('probe', async (step) => {
    if (resetMode === 'manual') {
      const choice = await ctx.ask({
        kind: 'manual-boot',
        message: `Put the board on ${device.path} in download mode: hold BOOT, press and release EN/RESET, then release BOOT.`,
        facts: { port: device.path },
        choices: ['ready', 'cancel'],
      });
      if (choice === 'cancel') throw new JobFailure('CANCELLED', 'The operator cancelled at the manual boot prompt.');
    }
    step.detail(`connecting at ${ROM_BAUD} baud (${resetMode} reset)`);
    const session = await connectSession(link, input, resetMode, baudPlan(input), step);
    keep(session);
    const chip = session.chip;
    ctx.update({ mac: chip.mac, facts: chipFacts(chip) });
    const build = buildForChip(bundle, chip.chipFamily);
    checkFlashSize(chip, build);
    step.detail(`${chip.description}, ${chip.mac}, flash ${chip.flashSize ?? '?'}, ${chip.baud} baud`);
    return { chip, build };
  });
}

function resolveResetMode(input: Esp32JobInput): ResetMode {
  const { settings, device } = input;
  return settings.resetMode === 'manual' ? 'manual' : device.resetMode === 'usb-jtag' ? 'usb-jtag' : settings.resetMode;
}

function checkKeyMode(bundle: FirmwareBundle, mode: 'station' | 'device'): void {
  if (bundle.keyModes && !bundle.keyModes.includes(mode)) {
    throw new JobFailure('PROFILE_INVALID', `Firmware "${bundle.name}" ${bundle.version} does not accept ${mode}-made keys (it supports: ${bundle.keyModes.join(', ')}).`, {
      hint: `Set certificate.keyMode to "${bundle.keyModes[0]}" in the profile, or use a bundle that supports ${mode} keys.`,
    });
  }
}

/**
 * Device-key mode: flash the firmware with an erased data partition, reboot, and let the firmware's
 * console make the key and CSR (tds-console/1); the server signs it; the console installs the
 * certificate and configuration and reboots; then wait for the device on the broker.
 */
async function runDeviceKeyJob(ctx: JobContext, input: Esp32JobInput, memory: IdentityMemory): Promise<void> {
  const { bundle, issuer, monitor, settings } = input;
  if (!input.firmwareInstalled) checkKeyMode(bundle, 'device');
  const resetMode = resolveResetMode(input);
  const link = input.openLink();
  let session: EspSession | undefined;
  let client: DeviceConsoleClient | undefined;
  let booted: Promise<unknown> | undefined;
  let identity: DeviceIdentity | undefined;
  let committed = false;
  try {
    let mac: string;
    if (!input.firmwareInstalled) {
      const probed = await probeStep(ctx, input, link, resetMode, (sess) => (session = sess));
      mac = probed.chip.mac;
      const build = probed.build;
      await ctx.step('flash', async (step) => {
        // An erased data partition: nothing of an earlier provisioning (no old key) survives.
        const blank = new Uint8Array(build.dataPartition.size).fill(0xff);
        const parts: FlashPart[] = [
          ...build.parts.map((p) => ({ name: p.name, address: p.offset, data: p.data })),
          { name: `${build.dataPartition.label} (erased)`, address: build.dataPartition.offset, data: blank, deviceData: true },
        ];
        await flashWithFallback(link, input, resetMode, step, () => session!, (sess) => (session = sess), parts);
        step.detail(`${parts.length} parts, MD5 verified; ${build.dataPartition.label} erased for the device's console`);
      });
      await ctx.step('reboot', async (step) => {
        session!.useSignal(step.signal);
        await session!.rebootAndDetach((l) => {
          client = new DeviceConsoleClient(l, { timeoutMs: 15_000, onLogLine: (line) => ctx.log(`[device] ${line}`) });
          booted = client.waitForEvent((e) => e.event === 'boot', settings.consoleBootTimeoutMs ?? 30_000);
          booted.catch(() => undefined);
        });
        session = undefined;
        step.detail(resetMode === 'manual' ? 'press EN/RESET on the board if it does not start by itself' : 'reset with D0|R1|W100|R0');
      });
    } else {
      await link.open({ baudRate: ROM_BAUD });
      client = new DeviceConsoleClient(link, { timeoutMs: 15_000, onLogLine: (line) => ctx.log(`[device] ${line}`) });
      mac = '';
    }

    let online: Promise<PresenceEvent> | undefined;
    await ctx.step('certificate', async (step) => {
      if (booted) {
        step.detail('waiting for the firmware console');
        try {
          await booted;
        } catch (err) {
          throw new JobFailure('DEVICE_CONSOLE_FAILED', 'The flashed firmware did not start its provisioning console (tds-console/1).', {
            hint: 'Device-key mode needs the TDS firmware; check the bundle, or use station keys.',
            cause: err,
          });
        }
      }
      const info = await client!.info();
      if (!mac) mac = info.mac.toLowerCase();
      ctx.update({ mac, facts: { firmware: `${info.fw.name} ${info.fw.version}`, chip: `${info.chip.model} rev ${info.chip.revision}` } });
      const codigo = expandTemplate(settings.codigoTemplate, mac, input.seq);
      ctx.update({ gatewayCode: codigo });
      // The console reboots the device at the end; only an "online" after that boot counts (the
      // device may connect as soon as the configuration is committed, and then restart).
      let bootAt: number | undefined;
      const offBoot = client!.onEvent((e) => {
        if (e.event === 'boot') bootAt = Date.now();
      });
      const result = await provisionWithDeviceKey({
        console: client!,
        api: {
          provision: async (request) => {
            if (!request.csr_pem) throw new JobFailure('DEVICE_CONSOLE_FAILED', 'the device console gave no CSR');
            const csrRequest = { ...request, csr_pem: request.csr_pem };
            identity = await obtainCertificate({ ctx, step, issuer, request: csrRequest, keyOrigin: 'device', policy: settings.reprovision, memory, device: 'board' });
            checkIssuedCertificate(identity.response, mac);
            return identity.response;
          },
        },
        gateway: { codigo, nome: expandTemplate(settings.nomeTemplate, mac, input.seq), contaId: settings.contaId },
        wifi: { ssid: settings.wifi.ssid, password: settings.wifi.password },
        broker: settings.broker,
        expectedMac: mac,
        operator: `${settings.operator}@${settings.stationId}`,
        reboot: true,
        onStep: (name, detail) => {
          step.log(`[console] ${name}: ${detail}`);
          step.detail(`${name}: ${detail}`);
        },
      });
      offBoot();
      committed = true;
      identity?.installed();
      ctx.update({ gatewayId: result.gatewayId, certificateSerial: result.serialNumber, certificateExpiresAt: result.expiresAt });
      step.detail(`key made on the device; serial ${result.serialNumber}, expires ${result.expiresAt}`);
      if (monitor) {
        online = monitor.waitForOnline(mac, { since: bootAt ?? Date.now(), statusOnly: true, timeoutMs: settings.onlineTimeoutMs, signal: ctx.signal });
        online.catch(() => undefined);
      }
    });

    if (!monitor || !online) {
      ctx.skip('online', 'no monitor identity in the profile: cannot watch the broker');
      if (identity) await confirmWithoutProof(ctx, identity);
      return;
    }
    await ctx.step('online', async (step) => {
      const t0 = Date.now();
      try {
        await online!;
        step.detail(`status online after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        await identity?.confirm(step);
      } catch (err) {
        if (err instanceof JobFailure && err.code === 'BROKER_NEVER_SAW_DEVICE') {
          throw new JobFailure(err.code, err.message, { where: err.where ?? 'online', hint: err.hint });
        }
        throw err;
      }
    });
  } catch (err) {
    await releaseAfterFailure(ctx, identity, err, committed, memory);
    throw err;
  } finally {
    client?.dispose();
    await session?.close().catch(() => undefined);
    // Always awaited: a close started by a cancel must finish before the job ends and frees the port.
    await link.close().catch(() => undefined);
  }
}

/** The speeds for this job's port: bridge ladder, profile cap, port memory (port-rates.ts). */
function baudPlan(input: Esp32JobInput): BaudPlan {
  const { settings } = input;
  const caps = [settings.maxBaud, settings.baud].filter((n): n is number => n !== undefined);
  return baudPlanFor(input.device, { maxBaud: caps.length ? Math.min(...caps) : undefined, portRates: input.portRates });
}

async function connectSession(link: SerialLink, input: Esp32JobInput, resetMode: ResetMode, plan: BaudPlan, step: StepHandle): Promise<EspSession> {
  return EspSession.connect(link, {
    baud: ROM_BAUD,
    plan,
    // Refuse a chip the bundle has no build for before anything is uploaded or written.
    acceptChip: (chipFamily) => void buildForChip(input.bundle, chipFamily),
    resetMode,
    signal: step.signal,
    ...(input.device.vendorId !== undefined ? { usbVendorId: input.device.vendorId } : {}),
    ...(input.device.productId !== undefined ? { usbProductId: input.device.productId } : {}),
    log: (text, level) => step.log(text, level ?? 'info'),
  });
}

/**
 * Flashes; if the board stops answering at a high speed (not an unplug, not a verify failure),
 * reconnects once at 115200 and flashes again.
 */
async function flashWithFallback(
  link: SerialLink,
  input: Esp32JobInput,
  resetMode: ResetMode,
  step: StepHandle,
  getSession: () => EspSession,
  setSession: (s: EspSession) => void,
  parts: FlashPart[],
  options: FlashOptions = {},
): ReturnType<EspSession['flash']> {
  const report = (p: { fraction: number; part: FlashPart; written: number }): void =>
    step.progress(p.fraction, `${p.part.name} @0x${p.part.address.toString(16)}: ${Math.round(p.written / 1024)} of ${Math.round(p.part.data.length / 1024)} KiB`);
  try {
    getSession().useSignal(step.signal);
    return await getSession().flash(parts, report, options);
  } catch (err) {
    const s = getSession();
    if (!(err instanceof JobFailure) || err.code !== 'FLASH_WRITE_FAILED' || s.chip.baud <= ROM_BAUD || resetMode === 'manual') throw err;
    const lower = below(baudPlan(input), s.chip.baud);
    lower.record?.(s.chip.baud, false);
    step.log(`flashing at ${s.chip.baud} baud failed (${err.message}); reconnecting at ${lower.rates[0] ?? ROM_BAUD} baud`, 'warn');
    await s.close();
    const slow = await connectSession(link, input, resetMode, lower, step).catch((reconnectErr: unknown) => {
      // Keep the place of the original failure: the reconnect only confirms what went wrong there.
      if (reconnectErr instanceof JobFailure && reconnectErr.code === 'PORT_GONE') {
        throw new JobFailure('PORT_GONE', reconnectErr.message, { where: err.where, hint: reconnectErr.hint, cause: err });
      }
      throw reconnectErr;
    });
    setSession(slow);
    return await slow.flash(parts, report, options);
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

function lastLine(text: string): string {
  const lines = text.split('\n');
  return (lines[lines.length - 1] ?? '').slice(0, 120);
}

function sleepUnlessOnline(ms: number, online: Promise<unknown> | undefined, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
    online?.then(done, done);
  });
}
