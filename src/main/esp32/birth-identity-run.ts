import { localText } from '../../shared/local-text.js';
import type { BirthIdentityResponse } from '@tds/server/contract';
import type { BootstrapTarget } from '../certs/birth-issuer.js';
import { mapIssuerError } from '../certs/device-identity.js';
import { DeviceKey } from '../certs/device-key.js';
import { IssuerError } from '../certs/issuer.js';
import type { SerialLink } from '../devices/serial-link.js';
import { JobFailure, JobSkipped } from '../jobs/job-failure.js';
import type { JobContext, StepHandle } from '../jobs/types.js';
import { BootLogCapture } from './boot-log.js';
import { checkBundleKeyMode } from './bundle.js';
import { EspBoard, type MacCheck, type ProbedBoard } from './esp-board.js';
import type { FlashPart } from './esp-session.js';
import { boardFacts, buildBirthFactoryDataImage, describeModbus } from './factory-data.js';
import { describeOutcomes } from './flash-report.js';
import type { Esp32JobInput } from './job-input.js';

/** What the firmware prints when it starts onboarding itself (firmware/esp32 tds_app.cpp). */
const ONBOARDING = /bootstrap: no operational identity; onboarding through (\S+)/;
/** What it prints when it refuses its configuration and stays in provisioning mode. */
const REFUSED = /provisioning mode|configuration invalid|"config_valid":false[^\n]*"state":"provisioning"/;

/** A birth identity this attempt got, until the board holds it. */
interface Birth {
  response: BirthIdentityResponse;
  target: BootstrapTarget;
  key: DeviceKey;
}

/**
 * One attempt of the ESP32 job that gives a board a *birth identity* instead of its final one
 * (zero-touch onboarding, docs/zero-touch.md): probe (a MAC with an operational identity is left
 * alone: the job ends skipped) → birth identity (key made here, in memory; the
 * server's birth CA signs it, with a claim secret for the label) → factory data with the birth keys,
 * the server's URL and CA and no operational identity → flash → reboot → the boot log shows the board
 * starting to onboard. It cannot go online on the broker: that happens in the field, once an
 * installer claims it with the label's QR.
 */
export class BirthIdentityRun {
  private key: DeviceKey | undefined;
  private image: Uint8Array | undefined;
  private capture: BootLogCapture | undefined;
  /** Issued by this attempt and not yet on the board: revoked if the attempt fails before the flash. */
  private unflashed: { mac: string; serial: string } | undefined;

  constructor(
    private readonly ctx: JobContext,
    private readonly input: Esp32JobInput,
    private readonly birth: NonNullable<Esp32JobInput['birth']>,
  ) {}

  async run(): Promise<void> {
    const { ctx, input } = this;
    checkBundleKeyMode(input.bundle, 'station');
    const board = new EspBoard(input);
    try {
      const probed = await board.probe(ctx, this.checkMac);
      const issued = await ctx.step('birth-identity', (step) => this.birthIdentity(step, probed));
      const image = await ctx.step('factory-data', (step) => this.factoryData(step, probed, issued));
      await ctx.step('flash', (step) => this.flash(step, board, probed, image));
      // The board holds its birth identity now: the label can be printed whatever the boot shows.
      const r = issued.response;
      this.birth.label(ctx.jobId, { mac: r.mac_address, labelQr: r.label_qr, claimSecret: r.claim_secret, birthSerial: r.serial_number, expiresAt: r.expires_at });
      const capture = await ctx.step('reboot', (step) => board.reboot(step, (link) => this.startCapture(link)));
      await ctx.step('boot-log', (step) => this.bootLog(step, capture, issued.target));
    } catch (err) {
      await this.revokeUnflashed();
      throw err;
    } finally {
      this.capture?.stop();
      this.key?.destroy();
      this.image?.fill(0);
      await board.close((text, level) => ctx.log(text, level));
    }
  }

  /**
   * Before anything is written: a MAC that has an operational identity cannot get a birth identity
   * (the server refuses it until that certificate is revoked), so the board is left as it was.
   */
  private readonly checkMac: MacCheck = async (step, mac) => {
    const issuer = this.input.issuer;
    const active = await issuer.activeCertificate(mac, step.signal).catch((e: unknown) => {
      throw mapIssuerError(e, issuer.serverUrl);
    });
    if (active) throw operationalIdentity(mac, active.serialNumber);
    return undefined;
  };

  /** Key made here; the server's birth CA signs its CSR; a MAC that has one already: ask before replacing it. */
  private async birthIdentity(step: StepHandle, probed: ProbedBoard): Promise<Birth> {
    const { settings } = this.input;
    const issuer = this.birth.issuer;
    const mac = probed.chip.mac;
    const key = (this.key = await DeviceKey.generate(settings.keyType));
    step.detail(`${settings.keyType === 'ec' ? 'EC P-256' : 'RSA-2048'} birth key made in memory; requesting the birth certificate`);
    const request = { mac, csrPem: await key.csrPem(mac), model: probed.chip.description };
    let response: BirthIdentityResponse;
    try {
      response = await issuer.issueBirth(request, step.signal);
    } catch (err) {
      if (!(err instanceof IssuerError) || err.kind !== 'conflict') throw mapIssuerError(err, this.input.issuer.serverUrl);
      // Provisioned since the probe asked (another station): still nothing written to the board.
      if (err.details?.field === 'mac_address') throw operationalIdentity(mac, undefined, err.message);
      await this.decideReplacement(mac, err.message);
      response = await issuer.issueBirth({ ...request, replace: true }, step.signal).catch((e: unknown) => {
        throw mapIssuerError(e, this.input.issuer.serverUrl);
      });
    }
    this.unflashed = { mac, serial: response.serial_number };
    if (response.mac_address !== mac) throw new JobFailure('SERVER_REJECTED', `The server issued a birth identity for ${response.mac_address}, not ${mac}.`);
    const target = await issuer.bootstrapTarget(response.server_url, step.signal).catch((e: unknown) => {
      throw mapIssuerError(e, this.input.issuer.serverUrl);
    });
    if (/^https:\/\/(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-f:]+\])[:/]/i.test(target.url)) {
      step.log(`the server URL for the field is an IP address (${target.url}): the ESP32 firmware checks DNS names only; set the server's zero-touch URL (tds-server zero-touch --server-url)`, 'warn');
    }
    this.ctx.update({ facts: { identity: 'birth', birthSerial: response.serial_number, birthExpires: response.expires_at, bootstrapUrl: target.url } });
    step.detail(`birth certificate ${response.serial_number}, expires ${response.expires_at}; the board will ask ${target.url}`);
    return { response, target, key };
  }

  private async decideReplacement(mac: string, serverMessage: string): Promise<void> {
    const policy = this.input.settings.reprovision;
    let choice: string = policy === 'revoke' ? 'replace' : policy;
    if (choice === 'ask') {
      choice = await this.ctx.ask({
        kind: 'reprovision',
        message: `${mac} already has a birth identity (${serverMessage}). Replace it (the old one is revoked and its label stops working), or stop?`,
        facts: { mac, identity: 'birth' },
        choices: ['replace', 'stop'],
      });
    }
    if (choice !== 'replace') {
      throw new JobSkipped('MAC_ALREADY_PROVISIONED', `${mac} already has a birth identity; stopped without changing anything on the board.`, {
        hint: 'Nothing to do if its label was printed; choose "replace" to give it a new birth identity and a new label.',
      });
    }
  }

  /** The NVS image: birth keys, server URL and CA, Wi-Fi; no operational identity. */
  private async factoryData(step: StepHandle, probed: ProbedBoard, birth: Birth): Promise<Uint8Array> {
    const { settings, bundle } = this.input;
    const partition = probed.build.dataPartition;
    const image = (this.image = buildBirthFactoryDataImage(
      {
        birthCertPem: birth.response.birth_certificate_pem,
        birthKeyPem: await birth.key.privateKeyPem(),
        bootstrapUrl: birth.target.url,
        bootstrapCaPem: birth.target.caPem,
        ...boardFacts(settings, probed.chip.mac),
      },
      { size: partition.size, label: partition.label },
      bundle.nvsNamespace,
    ));
    birth.key.destroy();
    this.key = undefined;
    step.detail(`${partition.label}: birth identity, server URL and CA, Wi-Fi; no operational identity; ${describeModbus(settings.modbus)}`);
    return image;
  }

  private async flash(step: StepHandle, board: EspBoard, probed: ProbedBoard, image: Uint8Array): Promise<void> {
    const { build } = probed;
    const parts: FlashPart[] = [
      ...build.parts.map((p) => ({ name: p.name, address: p.offset, data: p.data })),
      { name: build.dataPartition.label, address: build.dataPartition.offset, data: image, deviceData: true },
    ];
    const known = await this.input.imageHistory?.previous(probed.chip.mac, build.chipFamily).catch(() => undefined);
    const t0 = performance.now();
    try {
      const outcomes = await board.flash(step, parts, { known: known?.parts ?? [] });
      this.unflashed = undefined;
      this.ctx.update({ facts: { baud: String(board.baud) } });
      await this.input.imageHistory?.remember(this.input.bundle, build).catch((err: unknown) => step.log(`could not record the image's sector digests: ${String(err)}`, 'warn'));
      step.detail(`${describeOutcomes(outcomes)} in ${((performance.now() - t0) / 1000).toFixed(1)} s at ${board.baud} baud, MD5 verified`);
    } finally {
      image.fill(0);
      this.image = undefined;
    }
  }

  private startCapture(link: SerialLink): BootLogCapture {
    const capture = (this.capture = new BootLogCapture(link));
    capture.onLine((line) => this.ctx.log(`[device] ${line}`));
    return capture;
  }

  /**
   * The board started: it says it is onboarding through the server (our firmware), or at least it
   * printed something. A firmware that refuses the configuration fails the job with its boot log.
   */
  private async bootLog(step: StepHandle, capture: BootLogCapture, target: BootstrapTarget): Promise<void> {
    const ms = (this.input.settings.bootLogMs ?? 3000) + 10_000;
    const seen = await capture.waitFor(new RegExp(`${ONBOARDING.source}|${REFUSED.source}`), ms, step.signal);
    const text = capture.text();
    const refused = REFUSED.exec(text);
    if (refused && !ONBOARDING.test(text)) {
      throw new JobFailure('BUNDLE_INVALID', 'The board did not accept its birth identity configuration (it stays in provisioning mode).', {
        hint: 'Check that the bundle is the TDS gateway firmware with zero-touch onboarding, and the boot log below.',
        attachment: { label: `boot log of ${this.input.device.path}`, text },
      });
    }
    const m = ONBOARDING.exec(text);
    const note = 'it goes online only in the field, after an installer claims it with the label QR';
    if (seen && m) step.detail(`the board asks ${m[1]} to join; ${note}`);
    else if (capture.lineCount() > 0) step.detail(`${capture.lineCount()} lines, no onboarding message yet (expected it to ask ${target.url}); ${note}`);
    else {
      step.log('no output from the board after the reset', 'warn');
      step.detail(`no output after the reset; ${note}`);
    }
  }

  /** A birth identity that never reached the board is revoked: its claim secret was never printed. */
  private async revokeUnflashed(): Promise<void> {
    const u = this.unflashed;
    if (!u) return;
    this.unflashed = undefined;
    try {
      await this.birth.issuer.revokeBirth(u.mac, 'cessationOfOperation', AbortSignal.timeout(20_000));
      this.ctx.log(`birth certificate ${u.serial} revoked: it never reached the board`, 'warn');
    } catch (err) {
      this.ctx.log(`could not revoke birth certificate ${u.serial} (${(err as Error).message}); a retry replaces it`, 'warn');
    }
  }
}

/** The job stops, skipped: the board already has its final identity, which a birth identity may not replace. */
function operationalIdentity(mac: string, serial: string | undefined, serverSays?: string): JobSkipped {
  return new JobSkipped(
    'MAC_ALREADY_PROVISIONED',
    `${mac} has an operational identity${serial ? ` (certificate ${serial})` : ''}, so it cannot get a birth identity${serverSays ? ` (${serverSays})` : ''}; stopped without changing anything on the board.`,
    {
      hint: 'Revoke its certificate in Gateways first (a device is onboarded again only after that), or use a profile without the birth identity.',
      ...(serial ? { text: localText('core:identity.error.stoppedBoard', { mac, serial }) } : {}),
    },
  );
}
