/**
 * The device side of zero-touch onboarding (docs/zero-touch.md §3.1–§3.3): attestation nonces, the
 * bootstrap request on both paths, the signed poll, and the sweep that expires and prunes. Checks run
 * cheapest first: nonce, enrolment switch and caps are database reads; the CSR, the birth certificate
 * and the signatures are verified only after them. Every answered refusal is audited.
 */
import { X509Certificate } from 'node:crypto';
import { CsrError, importSpki, parseCsr, type ParsedCsr } from '../ca/csr.js';
import { pemToDer } from '../ca/der.js';
import { attestationMessage, formatCode, pollMessage, type BootstrapErrorCode } from '../contract/bootstrap.js';
import { parseMac } from '../contract/mac.js';
import {
  CapacityError,
  NonceError,
  StateError,
  type AuditResult,
  type BootstrapRequestRecord,
  type BootstrapSweepResult,
  type CertificateRecord,
  type GatewayWithCertificate,
  type NewAuditEvent,
} from '../store/repository.js';
import {
  activationCodeHash,
  BOOTSTRAP_ID,
  checkBirthCertificate,
  keyFingerprint,
  newActivationCode,
  newBootstrapId,
  newNonce,
  sha256HexOf,
  verifySignature,
} from './bootstrap-crypto.js';
import { isoSeconds } from './clock.js';
import type { IssuanceCore } from './core.js';
import { DeviceError } from './errors.js';

export const NONCE_SECONDS = 300;
export const NONCES_PER_MAC = 5;
export const POLL_CLOCK_SKEW_SECONDS = 300;
/** Finished requests stay this long (the audit trail keeps the story after that). */
export const KEEP_FINISHED_MS = 7 * 86_400_000;
const KEEP_FAILURES_MS = 86_400_000;

export interface BootstrapInput {
  mac: string;
  csrPem: string;
  model: string | null;
  firmwareVersion: string | null;
  /** The attested path: the three come together. */
  attestation?: { birthCertificatePem: string; nonce: string; signature: string };
}

export interface BootstrapOutcome {
  request: BootstrapRequestRecord;
  /** False when an approved or issued request of the same key was returned. */
  created: boolean;
  /** Open path, new request: the code to show, `XXXX-XXXX`. */
  activationCode?: string;
}

export type PollOutcome =
  | { kind: 'pending'; request: BootstrapRequestRecord }
  | { kind: 'issued'; request: BootstrapRequestRecord; certificate: CertificateRecord; gateway: GatewayWithCertificate };

const refuse = (status: DeviceError['status'], code: BootstrapErrorCode, message: string, extra: DeviceError['extra'] = {}): DeviceError =>
  new DeviceError(status, code, message, extra);

const secondsUntil = (iso: string | null, now: Date, fallback: number): number =>
  iso === null ? fallback : Math.max(1, Math.ceil((Date.parse(iso) - now.getTime()) / 1000));

export class BootstrapDeviceService {
  private birthX509: { pem: string; cert: X509Certificate } | undefined;

  constructor(private readonly core: IssuanceCore) {}

  private get cfg() {
    return this.core.settings.bootstrap;
  }

  private event(mac: string, sourceIp: string | null, action: string, result: AuditResult, object: string | null, detail: string | null): NewAuditEvent {
    return { at: this.core.at(), accountId: null, actor: `device:${mac}`, action, object, sourceIp, result, detail };
  }

  /** Runs a device step; an answered refusal is audited as denied (the rate limits answer before this). */
  private async audited<T>(mac: string, sourceIp: string | null, action: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof DeviceError) await this.core.repo.appendAudit(this.event(mac, sourceIp, action, 'denied', null, `${err.code}: ${err.message}`.slice(0, 300)));
      throw err;
    }
  }

  private birthCaCert(): X509Certificate {
    const pem = this.core.birth.ca.certificatePem;
    if (this.birthX509?.pem !== pem) this.birthX509 = { pem, cert: new X509Certificate(pem) };
    return this.birthX509.cert;
  }

  /** POST gateways/bootstrap/nonce/ (attested path). Not audited one by one: the table is bounded and the request that uses a nonce is audited. */
  async nonce(mac: string, sourceIp: string | null): Promise<{ nonce: string; expiresAt: string }> {
    const c = this.core;
    const birth = await c.repo.getBirthCertificate(mac);
    if (!birth || birth.expiresAt <= c.at()) {
      throw refuse(404, 'no_birth_identity', `MAC ${mac} has no valid birth identity on this server: give the device one at the bench, or use open enrolment`, { field: 'mac_address' });
    }
    const nonce = newNonce();
    const expiresAt = c.at(NONCE_SECONDS * 1000);
    try {
      await c.repo.createBootstrapNonce({ nonce, mac, at: c.at(), expiresAt, sourceIp }, { perMac: NONCES_PER_MAC, total: this.cfg.maxPendingTotal });
    } catch (err) {
      if (err instanceof CapacityError) throw refuse(429, 'too_many_nonces', err.message, { retryAfterSeconds: secondsUntil(err.retryAt, c.now(), NONCE_SECONDS) });
      throw err;
    }
    return { nonce, expiresAt };
  }

  /** POST gateways/bootstrap/. */
  async bootstrap(input: BootstrapInput, sourceIp: string | null): Promise<BootstrapOutcome> {
    return this.audited(input.mac, sourceIp, 'bootstrap.request', () => this.bootstrapChecked(input, sourceIp));
  }

  private async bootstrapChecked(input: BootstrapInput, sourceIp: string | null): Promise<BootstrapOutcome> {
    const c = this.core;
    const { mac, attestation } = input;
    const at = c.at();
    const now = c.now();
    // 1. Cheap: the nonce or the enrolment switch, then the caps.
    if (attestation) {
      const n = await c.repo.findBootstrapNonce(attestation.nonce);
      if (!n || n.mac !== mac || n.usedAt !== null || n.expiresAt <= at) {
        throw refuse(401, 'nonce_invalid', 'the nonce is unknown, was already used, has expired or is for another MAC; ask for a new one (bootstrap/nonce/)', { field: 'nonce' });
      }
    } else if (!this.cfg.openEnrolment) {
      throw refuse(
        403,
        'open_enrolment_off',
        'open enrolment is off on this server: a device without a birth identity cannot bootstrap (give it a birth identity at the bench, or ask the administrator to turn open enrolment on)',
      );
    }
    const all = await c.repo.countPendingBootstrap({}, at);
    if (all.count >= this.cfg.maxPendingTotal) throw refuse(429, 'too_many_pending', 'the server holds as many pending bootstrap requests as it allows; try again later', { retryAfterSeconds: secondsUntil(all.oldestExpiresAt, now, 60) });
    if (!attestation) {
      const mine = await c.repo.countPendingBootstrap({ mac, path: 'open' }, at);
      if (mine.count >= this.cfg.maxPendingPerMac) {
        throw refuse(429, 'too_many_pending', `MAC ${mac} already has ${this.cfg.maxPendingPerMac} pending requests; wait until one is claimed or expires`, {
          retryAfterSeconds: secondsUntil(mine.oldestExpiresAt, now, 60),
        });
      }
    }
    // 2. The CSR: proof of possession, CN = the MAC.
    const csr = this.deviceCsr(mac, input.csrPem);
    const fingerprint = keyFingerprint(csr.spkiDer);
    // 3. Attested: the birth certificate and the signature over the nonce and the CSR.
    let birthSerial: string | null = null;
    if (attestation) birthSerial = await this.checkAttestation(mac, attestation, input.csrPem, now);
    else {
      // Open path: a MAC with an identity is refused, unless this key's own request is being recovered.
      const own = await c.repo.findBootstrapRequests(mac, { statuses: ['approved', 'issued'], keyFingerprint: fingerprint });
      if (!own.some((r) => r.status === 'issued' || r.expiresAt > at)) await this.refuseIfIdentity(mac, at);
    }
    // 4. One transaction: nonce used, older requests superseded, caps, the new request.
    const id = newBootstrapId();
    const code = attestation ? undefined : newActivationCode();
    try {
      const { request, recovered } = await c.repo.createBootstrapRequest(
        {
          id,
          mac,
          path: attestation ? 'attested' : 'open',
          csrPem: input.csrPem,
          publicKeyDer: csr.spkiDer,
          keyFingerprint: fingerprint,
          keyType: csr.key.description,
          codeHash: code ? activationCodeHash(id, code) : null,
          birthSerial,
          model: input.model,
          firmwareVersion: input.firmwareVersion,
          sourceIp,
          createdAt: at,
          expiresAt: c.at(this.cfg.pendingMinutes * 60_000),
          pollInterval: this.cfg.pollSeconds,
        },
        {
          ...(attestation ? { nonce: attestation.nonce } : {}),
          supersede: attestation ? 'attested' : 'same-key',
          caps: { perMac: this.cfg.maxPendingPerMac, total: this.cfg.maxPendingTotal },
        },
        this.event(mac, sourceIp, 'bootstrap.request', 'ok', null, `path=${attestation ? 'attested' : 'open'} key=${fingerprint.slice(0, 16)}${birthSerial ? ` birth=${birthSerial}` : ''}`),
      );
      return recovered ? { request, created: false } : { request, created: true, ...(code ? { activationCode: formatCode(code) } : {}) };
    } catch (err) {
      if (err instanceof NonceError) throw refuse(401, 'nonce_invalid', err.message, { field: 'nonce' });
      if (err instanceof CapacityError) throw refuse(429, 'too_many_pending', err.message, { retryAfterSeconds: secondsUntil(err.retryAt, now, 60) });
      throw err;
    }
  }

  private deviceCsr(mac: string, csrPem: string): ParsedCsr {
    let csr: ParsedCsr;
    try {
      csr = parseCsr(csrPem);
    } catch (err) {
      if (err instanceof CsrError) throw refuse(400, 'csr_invalid', err.message, { field: 'csr_pem' });
      throw err;
    }
    const cn = csr.commonNames.length === 1 ? parseMac(csr.commonNames[0]) : undefined;
    if (!cn?.ok || cn.mac !== mac) {
      const shown = csr.commonNames.length === 1 ? `'${csr.commonNames[0]!.slice(0, 64)}'` : `${csr.commonNames.length} CNs`;
      throw refuse(400, 'csr_invalid', `the CSR's CN (${shown}) must be the device's MAC ${mac}`, { field: 'csr_pem' });
    }
    return csr;
  }

  /** The attested path's checks; returns the birth certificate's serial. */
  private async checkAttestation(mac: string, a: NonNullable<BootstrapInput['attestation']>, csrPem: string, now: Date): Promise<string> {
    const check = checkBirthCertificate(a.birthCertificatePem, this.birthCaCert(), now);
    if (!check.ok) throw refuse(401, 'birth_certificate_invalid', check.problem, { field: 'birth_certificate_pem' });
    if (check.mac !== mac) {
      throw refuse(403, 'birth_certificate_mac_mismatch', `the birth certificate is for ${check.mac.slice(0, 40)}, not for ${mac}`, { field: 'birth_certificate_pem' });
    }
    const stored = await this.core.repo.getBirthCertificateBySerial(check.serialNumber);
    if (!stored || stored.mac !== mac || !new X509Certificate(stored.certificatePem).raw.equals(check.cert.raw)) {
      throw refuse(401, 'birth_certificate_invalid', 'the birth certificate is not one this server issued', { field: 'birth_certificate_pem' });
    }
    if (stored.status === 'revoked') {
      throw refuse(403, 'birth_certificate_revoked', `the birth certificate ${stored.serialNumber} was revoked (${stored.revokeReason ?? 'unspecified'}); this device needs a new birth identity from the bench`, {
        field: 'birth_certificate_pem',
      });
    }
    const csrHash = sha256HexOf(pemToDer(csrPem, ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST']));
    if (!verifySignature(check.cert.publicKey, attestationMessage(mac, a.nonce, csrHash), a.signature)) {
      throw refuse(401, 'attestation_invalid', "the attestation signature does not verify with the birth certificate's key over this nonce and CSR", { field: 'attestation_signature' });
    }
    return stored.serialNumber;
  }

  private async refuseIfIdentity(mac: string, at: string): Promise<void> {
    const birth = await this.core.repo.getBirthCertificate(mac);
    const holder = await this.core.repo.getMacHolder(mac, at);
    if ((birth && birth.expiresAt > at) || holder) {
      throw refuse(409, 'mac_has_identity', `MAC ${mac} already has an identity on this server (a birth or operational certificate); a device with an identity cannot use open enrolment`, {
        field: 'mac_address',
      });
    }
  }

  /** GET gateways/bootstrap/{id}/, signed with the CSR's key. */
  async poll(id: string, headers: { timestamp?: string | undefined; signature?: string | undefined }, sourceIp: string | null): Promise<PollOutcome> {
    const c = this.core;
    if (!BOOTSTRAP_ID.test(id)) throw refuse(404, 'not_found', 'no such bootstrap request');
    const r = await c.repo.getBootstrapRequest(id);
    if (!r) throw refuse(404, 'not_found', 'no such bootstrap request');
    const now = c.now();
    const at = isoSeconds(now);
    // Cheap checks before the signature: header shape, then the polling pace.
    const { timestamp, signature } = headers;
    if (timestamp === undefined || signature === undefined) {
      throw refuse(401, 'signature_invalid', 'send X-TDS-Timestamp and X-TDS-Signature (a signature by the CSR key, docs/zero-touch.md §2.5)');
    }
    if (!/^[0-9]{1,12}$/.test(timestamp)) throw refuse(401, 'timestamp_invalid', 'X-TDS-Timestamp must be Unix time in whole seconds');
    if (r.lastPollAt !== null) {
      const wait = r.pollInterval - 1 - (now.getTime() - Date.parse(r.lastPollAt)) / 1000;
      if (wait > 0) {
        throw refuse(429, 'slow_down', `slow down: poll at most every ${r.pollInterval} s`, { retryAfterSeconds: Math.ceil(wait), details: { poll_interval: r.pollInterval } });
      }
    }
    return this.audited(r.mac, sourceIp, 'bootstrap.poll', async () => {
      const ts = Number(timestamp);
      if (Math.abs(ts - now.getTime() / 1000) > POLL_CLOCK_SKEW_SECONDS) {
        throw refuse(401, 'timestamp_invalid', `X-TDS-Timestamp is more than ${POLL_CLOCK_SKEW_SECONDS} s from the server's time (${Math.floor(now.getTime() / 1000)}); use server_time from the bootstrap answer plus the seconds since`);
      }
      if (r.lastPollTs !== null && ts <= r.lastPollTs) throw refuse(401, 'timestamp_invalid', 'X-TDS-Timestamp must be later than the last accepted poll (a replayed poll?)');
      if (!verifySignature(importSpki(r.publicKeyDer), pollMessage(id, ts), signature)) {
        throw refuse(401, 'signature_invalid', 'X-TDS-Signature does not verify with the key of this request\'s CSR');
      }
      const expired = (r.status === 'pending' || r.status === 'approved') && r.expiresAt <= at;
      if (expired || r.status === 'expired') throw refuse(410, 'expired', `this bootstrap request expired (${r.statusReason ?? 'not claimed in time'}); start again with a new request`, { details: { status: 'expired' } });
      if (r.status === 'rejected') {
        throw refuse(410, 'rejected', `this bootstrap request was rejected (${r.statusReason ?? 'by an operator'}); start again with a new request`, { details: { status: 'rejected', reason: r.statusReason } });
      }
      let issued: { certificate: CertificateRecord; gateway: GatewayWithCertificate } | undefined;
      if (r.status === 'approved' || r.status === 'issued') {
        issued = await this.issuedCertificate(r);
        if (!issued) throw refuse(410, 'rejected', 'the certificate issued for this request was revoked; start again with a new request', { details: { status: 'rejected' } });
      }
      let updated: BootstrapRequestRecord;
      try {
        updated = await c.repo.recordBootstrapPoll(
          id,
          { at, deviceTs: ts, fetched: issued !== undefined },
          r.status === 'approved' ? this.event(r.mac, sourceIp, 'bootstrap.fetch', 'ok', null, `serial=${issued!.certificate.serialNumber}`) : null,
        );
      } catch (err) {
        if (err instanceof StateError) throw refuse(401, 'timestamp_invalid', err.message);
        throw err;
      }
      return issued ? { kind: 'issued', request: updated, ...issued } : { kind: 'pending', request: updated };
    });
  }

  private async issuedCertificate(r: BootstrapRequestRecord): Promise<{ certificate: CertificateRecord; gateway: GatewayWithCertificate } | undefined> {
    if (r.accountId === null || r.gatewayId === null) return undefined;
    const gateway = await this.core.repo.getGateway(r.accountId, r.gatewayId);
    const certificate = (await this.core.repo.listGatewayCertificates(r.gatewayId)).find((x) => x.id === r.certificateId);
    return gateway && certificate && (certificate.status === 'active' || certificate.status === 'pending') && certificate.expiresAt > this.core.at() ? { certificate, gateway } : undefined;
  }

  /** Expiry and pruning (every 30 s in `serve`): never-fetched certificates are revoked and the CRL re-signed. */
  async sweep(): Promise<BootstrapSweepResult> {
    const c = this.core;
    const now = c.now().getTime();
    const result = await c.repo.sweepBootstrap(c.at(), {
      finishedBefore: isoSeconds(new Date(now - KEEP_FINISHED_MS)),
      failuresBefore: isoSeconds(new Date(now - KEEP_FAILURES_MS)),
      actor: 'server',
    });
    for (const cert of result.revoked) c.announceRevoked(cert);
    if (result.revoked.length > 0) await c.crl.publish(`${result.revoked.length} bootstrap certificate(s) never fetched`);
    return result;
  }
}
