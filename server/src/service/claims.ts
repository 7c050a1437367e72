/**
 * The operator side of zero-touch onboarding (docs/zero-touch.md §3.4–§3.6, §4): find the request a
 * device made from what the operator holds (the label's claim secret, or the code the device shows
 * plus the MAC on its housing), preview it, approve it for the operator's account (the certificate is
 * issued through the normal issuance path) or reject it. Wrong codes and secrets are counted in the
 * store, so the lockouts hold across server instances.
 */
import { normaliseClaimSecret, normaliseCode, parseClaimQr } from '../contract/bootstrap.js';
import { parseMac } from '../contract/mac.js';
import { MacConflictError, NotFoundError, StateError, type BirthCertificateRecord, type BootstrapRequestRecord, type CertificateRecord, type GatewayRecord } from '../store/repository.js';
import { activationCodeHash, claimSecretHash, sameDigest } from './bootstrap-crypto.js';
import { isoSeconds } from './clock.js';
import type { Actor, IssuanceCore, Permission } from './core.js';
import { TooManyRequestsError, ValidationError } from './errors.js';

export const CLAIM_PERMISSION: Permission = { name: 'claim', roles: ['operator'], what: 'claim devices' };

/** Wrong codes or secrets per operator token before it is locked out, and the window they count in. */
export const OPERATOR_FAILURE_LIMIT = 5;
export const OPERATOR_WINDOW_MS = 15 * 60_000;
/** Wrong codes for one MAC (any tokens) before its pending open requests are voided. */
export const MAC_FAILURE_LIMIT = 10;
export const MAC_WINDOW_MS = 60 * 60_000;

/** How the operator names the device (already shape-checked at the boundary). */
export type ClaimCredentials = { qr: string } | { mac: string; claimSecret: string } | { mac: string; activationCode: string };

export interface ClaimTarget {
  request: BootstrapRequestRecord;
  /** The label path's birth certificate (its secret is used up by the claim). */
  birth: BirthCertificateRecord | null;
}

export interface PreviewOutcome extends ClaimTarget {
  macAvailable: boolean;
  problem: string | null;
}

export interface ClaimOutcome {
  request: BootstrapRequestRecord;
  gateway: GatewayRecord;
  certificate: CertificateRecord;
}

type Named = { kind: 'label'; mac: string; secret: string } | { kind: 'code'; mac: string; code: string };

function named(creds: ClaimCredentials): Named {
  if ('qr' in creds) {
    const q = parseClaimQr(creds.qr);
    if (!q.ok) throw new ValidationError('qr', q.error);
    return q.kind === 'label' ? { kind: 'label', mac: q.mac, secret: q.claimSecret } : { kind: 'code', mac: q.mac, code: q.code };
  }
  const mac = parseMac(creds.mac);
  if (!mac.ok) throw new ValidationError('mac_address', mac.error);
  if ('claimSecret' in creds) {
    const s = normaliseClaimSecret(creds.claimSecret);
    if (!s.ok) throw new ValidationError('claim_secret', s.error);
    return { kind: 'label', mac: mac.mac, secret: s.value };
  }
  const code = normaliseCode(creds.activationCode);
  if (!code.ok) throw new ValidationError('activation_code', code.error);
  return { kind: 'code', mac: mac.mac, code: code.value };
}

export class ClaimService {
  constructor(private readonly core: IssuanceCore) {}

  /** POST gateways/ativar/preview/: what the server saw, and whether this account may claim it now. */
  async preview(actor: Actor, creds: ClaimCredentials): Promise<PreviewOutcome> {
    const c = this.core;
    const target = await this.locate(actor, creds, 'claim.preview');
    let problem: string | null = null;
    try {
      await c.assertMacAvailable(actor.accountId, target.request.mac);
    } catch (err) {
      if (!(err instanceof MacConflictError)) throw err;
      problem = err.message;
    }
    await c.repo.appendAudit(c.audit(actor, 'claim.preview', 'ok', `bootstrap:${target.request.id}`, `mac=${target.request.mac} path=${target.request.path}`));
    return { ...target, macAvailable: problem === null, problem };
  }

  /** POST gateways/ativar/: approve for the actor's account; the certificate is issued now and waits for the device. */
  async claim(actor: Actor, creds: ClaimCredentials, input: { codigo: string; nome: string; bootstrapId?: string }): Promise<ClaimOutcome> {
    const c = this.core;
    const target = await this.locate(actor, creds, 'claim.approve', input.bootstrapId);
    const r = target.request;
    return c.guard(actor, 'claim.approve', `bootstrap:${r.id}`, async () => {
      await c.assertMacAvailable(actor.accountId, r.mac);
      const { cert } = await c.issueForMac(r.mac, { csrPem: r.csrPem, keyOrigin: 'device' });
      const at = c.at();
      const result = await c.repo.approveBootstrapRequest(
        {
          id: r.id,
          write: { accountId: actor.accountId, at, mac: r.mac, codigo: input.codigo, nome: input.nome, certificate: c.newCertificate(cert, 'device') },
          decidedBy: actor.label,
          at,
          fetchBy: c.at(c.settings.bootstrap.fetchHours * 3_600_000),
          ...(target.birth ? { birthId: target.birth.id } : {}),
        },
        c.audit(actor, 'claim.approve', 'ok', null, `mac=${r.mac} path=${r.path} bootstrap=${r.id} serial=${cert.serialNumber} key=${r.keyFingerprint.slice(0, 16)}`),
      );
      c.announceIssued(result.certificate, null);
      return { request: result.request, gateway: result.gateway, certificate: result.certificate };
    });
  }

  /** POST gateways/ativar/reject/: the request becomes rejected; a label's claim secret stays unused. */
  async reject(actor: Actor, creds: ClaimCredentials, input: { reason?: string; bootstrapId?: string }): Promise<BootstrapRequestRecord> {
    const c = this.core;
    const target = await this.locate(actor, creds, 'claim.reject', input.bootstrapId);
    const reason = `rejected by an operator${input.reason ? `: ${input.reason}` : ''}`;
    return c.guard(actor, 'claim.reject', `bootstrap:${target.request.id}`, () =>
      c.repo.rejectBootstrapRequest(
        target.request.id,
        { reason, at: c.at(), decidedBy: actor.label, accountId: actor.accountId },
        c.audit(actor, 'claim.reject', 'ok', null, `mac=${target.request.mac} ${reason}`.slice(0, 300)),
      ),
    );
  }

  /**
   * The pending request the credentials name. Refusals are audited under `action`; a wrong code or
   * secret is also counted for the operator and the MAC (lockouts, §4).
   */
  private async locate(actor: Actor, creds: ClaimCredentials, action: string, expectedId?: string): Promise<ClaimTarget> {
    const c = this.core;
    await c.authorize(actor, CLAIM_PERMISSION);
    const deny = async (err: Error): Promise<never> => {
      await c.auditFailure(actor, action, null, err);
      throw err;
    };
    const lockedFor = await this.lockedFor(actor);
    if (lockedFor > 0) {
      return deny(new TooManyRequestsError(`too many wrong activation codes or claim secrets from this token; retry in ${lockedFor} s`, lockedFor));
    }
    const n = named(creds);
    const at = c.at();
    let target: ClaimTarget | undefined;
    if (n.kind === 'label') {
      const birth = await c.repo.getBirthCertificate(n.mac);
      if (!birth || !sameDigest(birth.claimSecretHash, claimSecretHash(n.secret))) return this.wrong(actor, action, n.mac, 'claim_secret');
      if (birth.claimedAt !== null) return deny(new StateError(`the label of ${n.mac} was already used to claim the device (at ${birth.claimedAt}); a claim secret works once`));
      const [request] = await c.repo.findBootstrapRequests(n.mac, { statuses: ['pending'], path: 'attested' });
      if (request && request.expiresAt > at) target = { request, birth };
    } else {
      const pending = (await c.repo.findBootstrapRequests(n.mac, { statuses: ['pending'], path: 'open' })).filter((r) => r.expiresAt > at);
      const request = pending.find((r) => r.codeHash !== null && sameDigest(r.codeHash, activationCodeHash(r.id, n.code)));
      if (!request) return this.wrong(actor, action, n.mac, 'activation_code');
      target = { request, birth: null };
    }
    if (!target) {
      return deny(new NotFoundError(`the device ${n.mac} has not asked to join yet (no pending request): power it on with network access, wait for it to contact the server, then scan the label again`));
    }
    if (expectedId !== undefined && expectedId !== target.request.id) {
      return deny(new StateError(`the pending request of ${n.mac} is now ${target.request.id}, not ${expectedId}: preview it again before approving`));
    }
    return target;
  }

  /** Seconds this token stays locked out (0: not locked). */
  private async lockedFor(actor: Actor): Promise<number> {
    const now = this.core.now().getTime();
    const recent = await this.core.repo.recentClaimFailures(`operator:${actor.label}`, isoSeconds(new Date(now - OPERATOR_WINDOW_MS)), OPERATOR_FAILURE_LIMIT);
    if (recent.length < OPERATOR_FAILURE_LIMIT) return 0;
    return Math.max(1, Math.ceil((Date.parse(recent[recent.length - 1]!) + OPERATOR_WINDOW_MS - now) / 1000));
  }

  /** A wrong code or secret: counted for the operator and the MAC; the MAC rule may void its open requests. */
  private async wrong(actor: Actor, action: string, mac: string, field: 'claim_secret' | 'activation_code'): Promise<never> {
    const c = this.core;
    const at = c.at();
    const now = c.now().getTime();
    const err = new NotFoundError(
      field === 'activation_code' ? `no pending request of ${mac} has this activation code` : `no device ${mac} with this claim secret`,
    );
    await c.repo.recordClaimFailure([`operator:${actor.label}`, `mac:${mac}`], at, c.audit(actor, action, 'denied', `mac:${mac}`, `wrong ${field}`));
    const mine = await c.repo.recentClaimFailures(`operator:${actor.label}`, isoSeconds(new Date(now - OPERATOR_WINDOW_MS)), OPERATOR_FAILURE_LIMIT);
    const forMac = await c.repo.recentClaimFailures(`mac:${mac}`, isoSeconds(new Date(now - MAC_WINDOW_MS)), MAC_FAILURE_LIMIT);
    if (field === 'activation_code' && forMac.length >= MAC_FAILURE_LIMIT) {
      const voided = await c.repo.rejectPendingBootstrapOfMac(mac, 'open', 'too many wrong codes', at, c.audit(actor, 'claim.lockout', 'ok', `mac:${mac}`, null));
      if (voided.length > 0) {
        await c.repo.appendAudit(c.audit(actor, 'claim.lockout', 'ok', `mac:${mac}`, `${voided.length} pending request(s) of ${mac} voided after ${MAC_FAILURE_LIMIT} wrong codes within ${MAC_WINDOW_MS / 60_000} min`));
      }
    }
    throw new WrongClaimError(field, err.message, Math.max(0, OPERATOR_FAILURE_LIMIT - mine.length));
  }
}

/** A wrong activation code or claim secret (404): says which field and how many tries are left. */
export class WrongClaimError extends NotFoundError {
  constructor(
    readonly field: 'claim_secret' | 'activation_code',
    message: string,
    readonly attemptsLeft: number,
  ) {
    super(message);
  }
}
