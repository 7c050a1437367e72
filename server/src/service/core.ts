/**
 * The issuance core that every service module is built on: who acts (Actor), what each role may
 * do (authorize), the audit trail (audit, guard), the one way a device certificate is made for a
 * MAC (issueForMac), and the events that announce committed changes. Transport-free: the REST API,
 * the CLIs and the broker side call the service modules; a new concern (bootstrap/claim, backup,
 * a renewal scheduler) is a new module that takes this core, without editing the others.
 */
import type { Role } from '../contract/api.js';
import type { KeyType } from '../contract/api.js';
import { CsrError } from '../ca/csr.js';
import { IdentityError, type CertificateAuthority, type DeviceProfileSettings, type IssuedCertificate } from '../ca/authority.js';
import type { Settings } from '../config/data-dir.js';
import {
  MacConflictError,
  NotFoundError,
  type AuditResult,
  type CertificateRecord,
  type GatewayWithCertificate,
  type KeyOrigin,
  type NewAuditEvent,
  type NewCertificate,
  type Repository,
} from '../store/repository.js';
import { isoSeconds } from './clock.js';
import type { CrlPublisher } from './crl-publisher.js';
import { ForbiddenError, UnavailableError, ValidationError } from './errors.js';
import type { ServerEvents } from './events.js';

/** Who is acting: a token of an account, or a local CLI operator. */
export interface Actor {
  accountId: number;
  role: Role;
  /** For the audit trail: "token:<id>" or "cli". */
  label: string;
  sourceIp: string | null;
  /** An admin token of the server: acts on every account (accounts, tokens, audit, broker state). */
  serverAdmin?: boolean;
}

/** A permission: the roles that hold it, and what it allows in words (for the 403 message). */
export interface Permission {
  name: string;
  roles: readonly Role[];
  what: string;
}

const permission = (name: string, roles: readonly Role[], what: string): Permission => ({ name, roles, what });

/** The permissions of the API's operations; a new module may define its own `Permission`. */
export const PERMISSIONS = {
  provision: permission('provision', ['operator'], 'provision gateways'),
  renew: permission('renew', ['operator'], 'renew certificates'),
  import: permission('import', ['operator'], 'import gateways'),
  download: permission('download', ['operator'], 'download certificates'),
  revoke: permission('revoke', ['operator', 'admin'], 'revoke certificates'),
  read: permission('read', ['operator', 'admin', 'auditor'], 'read gateways'),
  audit: permission('audit', ['admin', 'auditor'], 'read the audit log'),
} as const satisfies Record<string, Permission>;
export type PermissionName = keyof typeof PERMISSIONS;

export interface IssuanceDeps {
  ca: CertificateAuthority;
  repo: Repository;
  settings: Settings;
  events: ServerEvents;
  crl: CrlPublisher;
  /** The time every decision and record uses (default: the system clock); tests move it. */
  clock?: () => Date;
  /** The birth CA of zero-touch onboarding and its CRL; absent, birth identities are unavailable (503). */
  birth?: { ca: CertificateAuthority; crl: CrlPublisher };
}

/** How a device certificate's key came to be: from a CSR (the device or station made it) or made here. */
export interface DeviceKeyInput {
  csrPem?: string;
  keyType?: KeyType;
  /** Who made the CSR's key, for the records (default device). */
  keyOrigin?: 'device' | 'station';
}

export class IssuanceCore {
  readonly ca: CertificateAuthority;
  readonly repo: Repository;
  readonly settings: Settings;
  readonly events: ServerEvents;
  readonly crl: CrlPublisher;
  readonly profile: DeviceProfileSettings;
  private readonly clock: () => Date;
  private readonly birthCa: { ca: CertificateAuthority; crl: CrlPublisher } | undefined;

  constructor(d: IssuanceDeps) {
    this.ca = d.ca;
    this.repo = d.repo;
    this.settings = d.settings;
    this.events = d.events;
    this.crl = d.crl;
    this.clock = d.clock ?? (() => new Date());
    this.birthCa = d.birth;
    this.profile = { subject: d.settings.device.subject, domain: d.settings.device.domain, validityDays: d.settings.device.validityDays };
  }

  get caPem(): string {
    return this.ca.certificatePem;
  }

  now(): Date {
    return this.clock();
  }

  /** The birth CA and its CRL publisher, or a 503 that says how to get one. */
  get birth(): { ca: CertificateAuthority; crl: CrlPublisher } {
    if (!this.birthCa) throw new UnavailableError('this server has no birth CA loaded (start it with the CA passphrase or token PIN, or run "tds-server birth-ca create")');
    return this.birthCa;
  }

  /** Now, as stored: ISO-8601 UTC with whole seconds. */
  at(later = 0): string {
    return isoSeconds(new Date(this.clock().getTime() + later));
  }

  // ------------------------------------------------------------------------------------ audit and roles

  audit(actor: Actor, action: string, result: AuditResult, object: string | null, detail: string | null): NewAuditEvent {
    return { at: this.at(), accountId: actor.accountId, actor: actor.label, action, object, sourceIp: actor.sourceIp, result, detail };
  }

  /** An audit event of a local operator task or a device, outside any account token. */
  systemAudit(actorLabel: string, action: string, detail: string | null, accountId: number | null = null): NewAuditEvent {
    return { at: this.at(), accountId, actor: actorLabel, action, object: null, sourceIp: null, result: 'ok', detail };
  }

  /** Records a refused or failed attempt (the write itself rolled back). */
  async auditFailure(actor: Actor, action: string, object: string | null, err: unknown): Promise<void> {
    const result: AuditResult = err instanceof ForbiddenError || err instanceof MacConflictError ? 'denied' : 'error';
    const message = err instanceof Error ? err.message : String(err);
    await this.repo.appendAudit(this.audit(actor, action, result, object, message.slice(0, 300)));
  }

  /** Refuses (403, audited as `<permission>.denied`) unless the actor's role holds the permission. */
  async authorize(actor: Actor, wanted: PermissionName | Permission, object: string | null = null): Promise<void> {
    const p = typeof wanted === 'string' ? PERMISSIONS[wanted] : wanted;
    if (p.roles.includes(actor.role)) return;
    const err = new ForbiddenError(`role '${actor.role}' may not ${p.what} (needs ${p.roles.join(' or ')})`);
    await this.auditFailure(actor, `${p.name}.denied`, object, err);
    throw err;
  }

  /** Runs one operation; a failure is audited under `action` and rethrown. */
  async guard<T>(actor: Actor, action: string, object: string | null, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      await this.auditFailure(actor, action, object, err);
      throw err;
    }
  }

  /**
   * The MAC-ownership rule (a MAC belongs to at most one account while any active or pending
   * certificate exists for it) as an early refusal, before any key is made or signed. Every write
   * re-checks it in its own transaction; this read only saves the work.
   */
  async assertMacAvailable(accountId: number, mac: string): Promise<void> {
    const holder = await this.repo.getMacHolder(mac, this.at());
    if (holder) throw MacConflictError.of(mac, holder, accountId);
  }

  /** The actor's own gateway; another account's is the same 404 as a missing one. */
  async gatewayOf(actor: Actor, id: number): Promise<GatewayWithCertificate> {
    const gw = await this.repo.getGateway(actor.accountId, id);
    if (!gw) throw new NotFoundError(`gateway ${id} not found`);
    return gw;
  }

  // ------------------------------------------------------------------------------------ certificates

  newCertificate(cert: IssuedCertificate, keyOrigin: KeyOrigin, kind: NewCertificate['kind'] = 'device'): NewCertificate {
    return {
      kind,
      serialNumber: cert.serialNumber,
      subjectCn: cert.commonName,
      certificatePem: cert.pem,
      keyOrigin,
      keyType: cert.keyType,
      issuedAt: this.at(),
      expiresAt: isoSeconds(cert.notAfter),
    };
  }

  /** The one way a device certificate is made for a MAC: from a CSR, or with a key made here. */
  async issueForMac(mac: string, input: DeviceKeyInput): Promise<{ cert: IssuedCertificate; keyOrigin: KeyOrigin }> {
    const now = this.now();
    if (input.csrPem !== undefined) {
      try {
        return { cert: await this.ca.issueDeviceFromCsr({ mac, csrPem: input.csrPem, profile: this.profile, now }), keyOrigin: input.keyOrigin ?? 'device' };
      } catch (err) {
        if (err instanceof CsrError || err instanceof IdentityError) throw new ValidationError('csr_pem', err.message);
        throw err;
      }
    }
    const cert = await this.ca.issueDeviceWithNewKey({ mac, keyType: input.keyType ?? this.settings.device.keyType, profile: this.profile, now });
    return { cert, keyOrigin: 'server' };
  }

  // ------------------------------------------------------------------------------------ events

  announceIssued(c: CertificateRecord, replacesSerial: string | null): void {
    this.events.emit('certificate.issued', {
      serialNumber: c.serialNumber,
      kind: c.kind,
      commonName: c.subjectCn,
      accountId: c.accountId,
      gatewayId: c.gatewayId,
      certificatePem: c.certificatePem,
      expiresAt: c.expiresAt,
      status: c.status === 'pending' ? 'pending' : 'active',
      replacesSerial,
    });
  }

  announceRevoked(c: CertificateRecord): void {
    this.events.emit('certificate.revoked', {
      serialNumber: c.serialNumber,
      kind: c.kind,
      commonName: c.subjectCn,
      accountId: c.accountId,
      gatewayId: c.gatewayId,
      reason: c.revokeReason ?? 'unspecified',
      revokedAt: c.revokedAt ?? this.at(),
    });
  }
}

/** "revoked (keyCompromise: note)", "active", ... for messages about a certificate's state. */
export function describeStatus(c: CertificateRecord): string {
  if (c.status === 'revoked') return `revoked (${c.revokeReason ?? 'unspecified'}${c.revokeNote ? `: ${c.revokeNote}` : ''})`;
  return c.status;
}
