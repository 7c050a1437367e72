import { checkIssuedCertificate, expandTemplate, obtainCertificate, type DeviceIdentity, type IdentityMemory } from '../certs/device-identity.js';
import { DeviceKey } from '../certs/device-key.js';
import { awaitOnlineAndConfirm, watchOnline, type OnlineWatch } from '../certs/online-proof.js';
import type { SerialLink } from '../devices/serial-link.js';
import type { JobContext, StepHandle } from '../jobs/types.js';
import { BootLogCapture } from './boot-log.js';
import { checkBundleKeyMode } from './bundle.js';
import { EspBoard, finalIdentityCheck, type ProbedBoard } from './esp-board.js';
import type { FlashPart } from './esp-session.js';
import { boardFacts, buildFactoryDataImage, describeModbus } from './factory-data.js';
import { describeOutcomes } from './flash-report.js';
import type { PartOutcome } from './flash-writer.js';
import { releaseAfterFailure } from './failed-attempt.js';
import type { Esp32JobInput } from './job-input.js';

/** What the certificate step hands on: the new identity and the key its certificate is for. */
interface Issued {
  identity: DeviceIdentity;
  key: DeviceKey;
  /** The gateway code the factory data gets (the server's when it keeps an existing gateway's code). */
  codigo: string;
}

/**
 * One attempt of the ESP32 job with a station-made key: probe → certificate (key made here, in
 * memory) → factory-data NVS image → flash bundle + data partition → reboot → boot log → online.
 * Each step returns what the next needs; the fields hold only what must be cleaned up however the
 * attempt ends (key and image zeroed, boot-log capture stopped, a pending certificate released).
 */
export class StationKeyRun {
  /** From the certificate step until the factory-data step has put it in the image. */
  private key: DeviceKey | undefined;
  /** The factory-data image (it holds the key) until it is flashed. */
  private image: Uint8Array | undefined;
  /** The board's output after the reset, from the reboot step on. */
  private capture: BootLogCapture | undefined;
  /** The certificate this attempt got (a pending successor when the MAC already had one). */
  private identity: DeviceIdentity | undefined;
  private flashed = false;

  constructor(
    private readonly ctx: JobContext,
    private readonly input: Esp32JobInput,
    private readonly memory: IdentityMemory,
  ) {}

  async run(): Promise<void> {
    const { ctx, input } = this;
    const { settings } = input;
    checkBundleKeyMode(input.bundle, 'station');
    const board = new EspBoard(input);
    try {
      const probed = await board.probe(ctx, finalIdentityCheck(ctx, input, this.memory));
      const mac = probed.chip.mac;
      const codigo = expandTemplate(settings.codeTemplate, mac, input.seq);
      ctx.update({ gatewayCode: codigo });
      const issued = await ctx.step('certificate', (step) => this.certificate(step, mac, codigo));
      const image = await ctx.step('factory-data', (step) => this.factoryData(step, probed, issued));
      await ctx.step('flash', (step) => this.flash(step, board, probed, image, issued.identity));
      // Listen before the reset: a fast board may come online while the boot-log step runs.
      const watch = watchOnline(input.monitor, mac, { since: Date.now(), timeoutMs: (settings.bootLogMs ?? 3000) + settings.onlineTimeoutMs, signal: ctx.signal });
      const capture = await ctx.step('reboot', (step) => board.reboot(step, (link) => this.startCapture(link)));
      await ctx.step('boot-log', (step) => this.bootLog(step, capture, watch));
      await awaitOnlineAndConfirm({
        ctx,
        identity: issued.identity,
        watch,
        device: 'board',
        attachment: () => ({ label: `boot log of ${mac} (${input.device.path})`, text: capture.text() }),
      });
    } catch (err) {
      await releaseAfterFailure(ctx, this.identity, err, this.flashed, this.memory);
      throw err;
    } finally {
      this.capture?.stop();
      this.key?.destroy();
      this.image?.fill(0);
      await board.close((text, level) => ctx.log(text, level));
    }
  }

  /** The key is made here, in memory; the server signs its CSR. */
  private async certificate(step: StepHandle, mac: string, codigo: string): Promise<Issued> {
    const { ctx, input } = this;
    const { settings } = input;
    const nome = expandTemplate(settings.nameTemplate, mac, input.seq);
    const key = (this.key = await DeviceKey.generate(settings.keyType));
    step.detail(`${settings.keyType === 'ec' ? 'EC P-256' : 'RSA-2048'} key made in memory; requesting certificate`, { key: 'core:stepDetail.keyMade', params: { keyType: settings.keyType } });
    const csrPem = await key.csrPem(mac);
    const request = { mac_address: mac, codigo, nome, conta_id: settings.accountId, csr_pem: csrPem };
    const identity = (this.identity = await obtainCertificate({
      ctx,
      step,
      issuer: input.issuer,
      request,
      keyOrigin: 'station',
      policy: settings.reprovision,
      memory: this.memory,
      device: 'board',
    }));
    const response = identity.response;
    checkIssuedCertificate(response, mac, await key.publicKeySha256());
    if (response.codigo) ctx.update({ gatewayCode: response.codigo });
    ctx.update({ gatewayId: response.gateway_id, certificateSerial: response.serial_number, certificateExpiresAt: response.expires_at });
    step.detail(`serial ${response.serial_number}, expires ${response.expires_at}${identity.previous ? ` (pending; replaces ${identity.previous.serialNumber})` : ''}`, {
      key: identity.previous ? 'core:stepDetail.certificateReplacing' : 'core:stepDetail.certificate',
      params: { serial: response.serial_number, expires: response.expires_at, ...(identity.previous ? { previous: identity.previous.serialNumber } : {}) },
    });
    return { identity, key, codigo: response.codigo ?? codigo };
  }

  /** The NVS image of the data partition: certificate, key, Wi-Fi, broker, gateway code. */
  private async factoryData(step: StepHandle, probed: ProbedBoard, issued: Issued): Promise<Uint8Array> {
    const { settings, bundle } = this.input;
    const { response } = issued.identity;
    const partition = probed.build.dataPartition;
    const keyPem = await issued.key.privateKeyPem();
    const image = (this.image = buildFactoryDataImage(
      {
        caPem: response.ca_pem,
        certPem: response.certificate_pem,
        keyPem,
        mqttHost: settings.broker.host,
        mqttPort: settings.broker.port,
        gatewayCode: issued.codigo,
        ...boardFacts(settings, probed.chip.mac),
      },
      { size: partition.size, label: partition.label },
      bundle.nvsNamespace,
    ));
    issued.key.destroy(); // zeroes the PEM buffer; the image is zeroed after flashing
    this.key = undefined;
    step.detail(`${partition.label} at 0x${partition.offset.toString(16)}, ${partition.size} bytes (NVS namespace ${bundle.nvsNamespace}); ${describeModbus(settings.modbus)}`, {
      key: 'core:stepDetail.factoryData',
      params: { partition: partition.label, offset: `0x${partition.offset.toString(16)}`, size: partition.size, namespace: bundle.nvsNamespace, readings: settings.modbus?.slaves.length ?? 0 },
    });
    return image;
  }

  /**
   * The bundle's parts and the data partition, compressed and MD5-verified. Parts the board already
   * holds are skipped; when the station knows the image this MAC last received, only the sectors that
   * differ are written. The data partition is always written whole.
   */
  private async flash(step: StepHandle, board: EspBoard, probed: ProbedBoard, image: Uint8Array, identity: DeviceIdentity): Promise<void> {
    const { bundle, imageHistory } = this.input;
    const { build, chip } = probed;
    const parts: FlashPart[] = [
      ...build.parts.map((p) => ({ name: p.name, address: p.offset, data: p.data })),
      { name: build.dataPartition.label, address: build.dataPartition.offset, data: image, deviceData: true },
    ];
    const t0 = performance.now();
    // Unknown or unreadable history only costs the sector diff: every part is then checked and written whole.
    const known = await imageHistory?.previous(chip.mac, build.chipFamily).catch(() => undefined);
    let outcomes: PartOutcome[];
    try {
      outcomes = await board.flash(step, parts, { known: known?.parts ?? [] });
    } finally {
      image.fill(0);
      this.image = undefined;
    }
    this.flashed = true;
    identity.installed();
    // A step-down during the flash changed the rate the probe reported.
    this.ctx.update({ facts: { baud: String(board.baud) } });
    await imageHistory?.remember(bundle, build).catch((err: unknown) => step.log(`could not record the image's sector digests: ${String(err)}`, 'warn'));
    const secs = (performance.now() - t0) / 1000;
    step.detail(`${describeOutcomes(outcomes)} in ${secs.toFixed(1)} s at ${board.baud} baud, MD5 verified`, {
      key: 'core:stepDetail.flashed',
      params: { kib: Math.round(outcomes.reduce((n, o) => n + o.sent, 0) / 1024), skipped: outcomes.filter((o) => o.action === 'skipped').length, seconds: Number(secs.toFixed(1)), baud: board.baud },
    });
  }

  /** Attached to the link just before the reset: every line the board prints goes to the job log. */
  private startCapture(link: SerialLink): BootLogCapture {
    const capture = (this.capture = new BootLogCapture(link));
    capture.onLine((line) => this.ctx.log(`[device] ${line}`));
    return capture;
  }

  /** Listens for `bootLogMs` (the capture goes on during the online step). */
  private async bootLog(step: StepHandle, capture: BootLogCapture, watch: OnlineWatch | undefined): Promise<void> {
    const seen = await capture.waitFor(/./, this.input.settings.bootLogMs ?? 3000, step.signal);
    if (seen) await sleepUnlessOnline(1000, watch?.seen, step.signal);
    const n = capture.lineCount();
    if (n === 0) step.log('no output from the board after the reset yet', 'warn');
    step.detail(`${n} lines${n ? `; last: ${lastLine(capture.text())}` : ''}`, n ? { key: 'core:stepDetail.bootLog', params: { count: n, last: lastLine(capture.text()) } } : { key: 'core:stepDetail.bootLogNone' });
  }
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
