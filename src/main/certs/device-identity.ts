import { createHash, X509Certificate } from 'node:crypto';
import type { ProvisionRequest, ProvisionResponse } from '@tds/server/contract';
import { localText } from '../../shared/local-text.js';
import { delay, isAbortError, JobFailure, JobSkipped } from '../jobs/job-failure.js';
import type { JobContext, StepHandle } from '../jobs/types.js';
import { IssuerError, type ActiveCertificate, type CertificateIssuer, type KeyOrigin } from './issuer.js';

/**
 * What the operator decides when a MAC already has an active certificate: ask, replace it (a new
 * identity; the old certificate is revoked once the device is online with the new one), or stop.
 * `revoke` is the former name of `replace`.
 */
export type ReprovisionPolicy = 'ask' | 'replace' | 'stop' | 'revoke';

/** What an `IdentityMemory` holds: certificate serial numbers only (no secret). */
export interface IdentityMemoryState {
  /** Certificates this job issued that never reached the device: a retry replaces them without asking. */
  issuedNotInstalled: string[];
  /** Active certificates the operator already agreed to replace in an earlier attempt of this job. */
  approvedReplacements: string[];
}

/**
 * Facts one job definition keeps across its attempts (a retry runs the same definition again). It
 * can start from what an earlier core kept and report each change, so that a job rebuilt after the
 * station core restarted knows them too.
 */
export class IdentityMemory {
  private readonly notInstalled: Set<string>;
  private readonly approved: Set<string>;

  constructor(
    kept?: IdentityMemoryState,
    private readonly changed: (state: IdentityMemoryState) => void = () => undefined,
  ) {
    this.notInstalled = new Set(kept?.issuedNotInstalled);
    this.approved = new Set(kept?.approvedReplacements);
  }

  get issuedNotInstalled(): ReadonlySet<string> {
    return this.notInstalled;
  }

  get approvedReplacements(): ReadonlySet<string> {
    return this.approved;
  }

  /** This job got `serial`; the device does not hold it yet. */
  issued(serial: string): void {
    this.notInstalled.add(serial);
    this.report();
  }

  /** The device holds `serial` now: a retry no longer replaces it silently. */
  installed(serial: string): void {
    if (this.notInstalled.delete(serial)) this.report();
  }

  /** The operator (or the policy) agreed to replace the active certificate `serial`. */
  approve(serial: string): void {
    this.approved.add(serial);
    this.report();
  }

  /** `serial` was revoked (superseded, or a pending one cancelled): nothing is left to decide about it. */
  revoked(serial: string): void {
    const a = this.approved.delete(serial);
    const b = this.notInstalled.delete(serial);
    if (a || b) this.report();
  }

  state(): IdentityMemoryState {
    return { issuedNotInstalled: [...this.notInstalled], approvedReplacements: [...this.approved] };
  }

  private report(): void {
    this.changed(this.state());
  }
}

export interface ObtainCertificateOptions {
  ctx: JobContext;
  step: StepHandle;
  issuer: CertificateIssuer;
  /** The provisioning request; `csr_pem` is required (the key is never made by the server). */
  request: ProvisionRequest & { csr_pem: string };
  keyOrigin: KeyOrigin;
  policy: ReprovisionPolicy;
  memory: IdentityMemory;
  /** How the operator calls the device in questions and messages: "board", "Pi". */
  device: string;
}

/**
 * The certificate a job got for its device, and what is left to do with it on the server: a
 * *pending* successor of an existing identity is confirmed once the device is seen online with it
 * (`confirm`, which revokes the old certificate as superseded), or cancelled on any failure
 * (`release`, which leaves the old certificate in force).
 */
export class DeviceIdentity {
  private state: 'issued' | 'confirmed' | 'cancelled' = 'issued';
  private seenOnline = false;

  constructor(
    readonly response: ProvisionResponse & { codigo?: string },
    readonly previous: ActiveCertificate | undefined,
    readonly pending: boolean,
    private readonly issuer: CertificateIssuer,
    private readonly memory: IdentityMemory,
  ) {}

  get serial(): string {
    return this.response.serial_number;
  }

  /** The device was seen online with this certificate (or it was confirmed on trust): it is in use now. */
  get onlineSeen(): boolean {
    return this.seenOnline;
  }

  /** The device now holds the certificate: a retry must not replace it silently any more. */
  installed(): void {
    this.memory.installed(this.serial);
  }

  /**
   * The device was seen online with the new certificate: a pending successor becomes active and
   * the old certificate is revoked (superseded). Retried a few times (the call is idempotent); if
   * the server stays unreachable the job fails, but the certificate is *not* cancelled afterwards
   * (the device is using it).
   */
  async confirm(step: Pick<StepHandle, 'signal' | 'log'>): Promise<void> {
    this.seenOnline = true;
    this.installed();
    if (!this.pending || this.state === 'confirmed') return;
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      if (attempt > 0) await delay(1000 * attempt, step.signal);
      try {
        await this.issuer.confirmRenewal(this.response.gateway_id, this.serial, step.signal);
        this.state = 'confirmed';
        const old = this.previous?.serialNumber ?? '?';
        if (this.previous) this.memory.revoked(this.previous.serialNumber);
        step.log(`certificate ${this.serial} confirmed; the previous certificate ${old} is revoked (superseded)`);
        return;
      } catch (err) {
        if (isAbortError(err, step.signal)) throw err;
        lastError = err;
        step.log(`confirming certificate ${this.serial} failed (${(err as Error).message})${attempt < 2 ? '; trying again' : ''}`, 'warn');
      }
    }
    throw withHint(mapIssuerError(lastError, this.issuer.serverUrl), `The device is online with certificate ${this.serial}, but the server did not confirm it, so the previous certificate ${this.previous?.serialNumber ?? ''} is still valid too. Run the job again once the server is reachable.`);
  }

  /**
   * After a failure or a cancel: a pending certificate the device was not seen using is cancelled
   * on the server (revoked), so the previous certificate stays the one identity of this MAC. Never
   * throws (the job's own error is what the operator must see); a failed cancel is logged.
   */
  async release(ctx: JobContext, why: string): Promise<void> {
    if (!this.pending || this.state !== 'issued' || this.seenOnline) return;
    try {
      // Not the job's signal: this must run also (especially) after a cancel.
      await this.issuer.cancelRenewal(this.response.gateway_id, this.serial, AbortSignal.timeout(20_000));
      this.state = 'cancelled';
      this.memory.revoked(this.serial);
      ctx.log(`pending certificate ${this.serial} cancelled (${why}); certificate ${this.previous?.serialNumber ?? '?'} stays in force`, 'warn');
    } catch (err) {
      ctx.log(
        `could not cancel the pending certificate ${this.serial} (${(err as Error).message}); certificate ${this.previous?.serialNumber ?? '?'} stays in force, and the next provisioning of this MAC replaces the pending one`,
        'warn',
      );
    }
  }
}

/**
 * The certificate step both jobs share: provision a new MAC; for a MAC with an active certificate
 * ask the operator (or follow the policy) and get a *pending* successor, so the old identity stays
 * in force until the device proves the new one online.
 */
export async function obtainCertificate(o: ObtainCertificateOptions): Promise<DeviceIdentity> {
  const { step, issuer, request, memory } = o;
  const mac = request.mac_address;
  try {
    const response = await issuer.provision({ ...request, key_origin: o.keyOrigin }, step.signal);
    memory.issued(response.serial_number);
    return new DeviceIdentity(response, undefined, false, issuer, memory);
  } catch (err) {
    if (!(err instanceof IssuerError) || err.kind !== 'conflict') throw mapIssuerError(err, issuer.serverUrl);
  }
  const active = await issuer.activeCertificate(mac, step.signal).catch((e: unknown) => {
    throw mapIssuerError(e, issuer.serverUrl);
  });
  if (!active) throw new JobFailure('SERVER_REJECTED', `The server refused ${mac} as already provisioned but shows no active certificate for it.`);
  await decideReplacement({ ...o, mac }, active);
  if (active.codigo && active.codigo !== request.codigo) {
    step.log(`the gateway keeps its code ${active.codigo} (the template gave ${request.codigo})`, 'warn');
  }
  try {
    const pending = await issuer.renewPending(active.gatewayId, { csrPem: request.csr_pem, keyOrigin: o.keyOrigin }, step.signal);
    memory.issued(pending.serial_number);
    step.log(`certificate ${pending.serial_number} issued as the pending successor of ${active.serialNumber}, which stays valid until the ${o.device} is online with the new one`);
    return new DeviceIdentity({ ...pending, ...(active.codigo ? { codigo: active.codigo } : {}) }, active, true, issuer, memory);
  } catch (err) {
    throw mapIssuerError(err, issuer.serverUrl);
  }
}

/** What deciding about an active certificate needs (a subset of ObtainCertificateOptions). */
export interface ReplacementDecision {
  ctx: JobContext;
  step: StepHandle;
  memory: IdentityMemory;
  policy: ReprovisionPolicy;
  /** How the operator calls the device: "board", "Pi". */
  device: string;
  mac: string;
}

/**
 * Before anything on the device is changed: asks the server whether `mac` already has an active
 * certificate and, if it has, decides (asks the operator, or follows the policy) whether to replace
 * it. "Stop" ends the job as skipped, with the device as it was. Resolves with the active
 * certificate the job may replace (the certificate step then does not ask again), or undefined.
 */
export async function checkExistingIdentity(o: ReplacementDecision & { issuer: CertificateIssuer }): Promise<ActiveCertificate | undefined> {
  const active = await o.issuer.activeCertificate(o.mac, o.step.signal).catch((e: unknown) => {
    throw mapIssuerError(e, o.issuer.serverUrl);
  });
  if (!active) return undefined;
  await decideReplacement(o, active);
  return active;
}

/** Replace the active certificate, or stop (JobSkipped); the decision is kept in the job's memory. */
async function decideReplacement(o: ReplacementDecision, active: ActiveCertificate): Promise<void> {
  const { ctx, step, memory, mac } = o;
  if (memory.issuedNotInstalled.has(active.serialNumber)) {
    step.log(`certificate ${active.serialNumber} came from an earlier attempt of this job and never reached the ${o.device}: replacing it`);
    return;
  }
  if (memory.approvedReplacements.has(active.serialNumber)) {
    step.log(`replacing certificate ${active.serialNumber}, as agreed in an earlier attempt of this job`);
    return;
  }
  let choice: string = o.policy === 'revoke' ? 'replace' : o.policy;
  if (choice === 'ask') {
    choice = await ctx.ask({
      kind: 'reprovision',
      message: `${mac} already has an active certificate (serial ${active.serialNumber}, expires ${active.expiresAt}). Replace it with a new identity (the old certificate stays valid until the ${o.device} is online with the new one, then it is revoked), or stop?`,
      text: localText('core:identity.question.reprovision', { mac, serial: active.serialNumber, expires: active.expiresAt }),
      facts: {
        mac,
        serial: active.serialNumber,
        expiresAt: active.expiresAt,
        gatewayId: String(active.gatewayId),
        ...(active.codigo ? { codigo: active.codigo } : {}),
      },
      choices: ['replace', 'stop'],
    });
  }
  if (choice !== 'replace') {
    // The operator's (or the policy's) stop: nothing was changed, which is not a failure.
    throw new JobSkipped('MAC_ALREADY_PROVISIONED', `${mac} already has an active certificate (serial ${active.serialNumber}); stopped without changing anything on the ${o.device}.`, {
      hint: 'Nothing to do if it was provisioned on purpose; choose "replace" to give it a new identity.',
      text: localText(o.device === 'board' ? 'core:identity.error.stoppedBoard' : 'core:identity.error.stopped', { mac, serial: active.serialNumber }),
    });
  }
  memory.approve(active.serialNumber);
}

/** Server errors as failures a technician can act on. */
export function mapIssuerError(err: unknown, serverUrl: string): unknown {
  if (!(err instanceof IssuerError)) return err;
  switch (err.kind) {
    case 'unreachable':
      return new JobFailure('SERVER_UNREACHABLE', `The issuance server ${serverUrl} could not be reached: ${err.message}`, {
        hint: 'Check the server URL and pinned CA (profile or Settings → Server), the network, and that the server is running; then retry.',
        cause: err,
      });
    case 'conflict':
      return new JobFailure('MAC_ALREADY_PROVISIONED', err.message, { cause: err });
    case 'unauthorized':
      return new JobFailure('SERVER_REJECTED', `The server refused the station's token: ${err.message}`, {
        hint: 'Check the server token (profile or Settings → Server): an operator token of this account.',
        cause: err,
      });
    default:
      return new JobFailure('SERVER_REJECTED', `The server rejected the request: ${err.message}`, { cause: err });
  }
}

function withHint(err: unknown, hint: string): unknown {
  return err instanceof JobFailure ? new JobFailure(err.code, err.message, { hint, cause: err }) : err;
}

/**
 * The issued certificate must be for this MAC (and, when the station made the key, for this key):
 * never trust a server blindly.
 */
export function checkIssuedCertificate(response: ProvisionResponse, mac: string, publicKeySha256?: string): void {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(response.certificate_pem);
  } catch (err) {
    throw new JobFailure('SERVER_REJECTED', `The server returned an unreadable certificate: ${(err as Error).message}`);
  }
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
  if (cn !== mac) throw new JobFailure('SERVER_REJECTED', `The server returned a certificate for CN=${cn ?? '?'}, not ${mac}.`);
  if (publicKeySha256 !== undefined) {
    const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
    if (createHash('sha256').update(spki).digest('hex') !== publicKeySha256) {
      throw new JobFailure('SERVER_REJECTED', 'The server returned a certificate for a different public key than the CSR.');
    }
  }
}

/** Gateway code/name templates: {mac12} (aabbccddeeff), {MAC12}, {mac} (with colons), {seq}. */
export function expandTemplate(template: string, mac: string, seq?: number): string {
  const mac12 = mac.replace(/:/g, '');
  return template
    .replaceAll('{mac12}', mac12)
    .replaceAll('{MAC12}', mac12.toUpperCase())
    .replaceAll('{mac}', mac)
    .replaceAll('{seq}', String(seq ?? 1));
}
