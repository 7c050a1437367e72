/**
 * The issuance core: provisioning, renewal, revocation, CSV import, certificate download and the
 * queries behind them, with role checks, account isolation and the audit trail. Transport-free:
 * the REST API and the CLIs call it; events announce committed changes.
 */
import { X509Certificate } from 'node:crypto';
import type { Role } from '../contract/api.js';
import type { ServiceKind } from '../contract/identities.js';
import { CsrError } from '../ca/csr.js';
import { IdentityError, type CertificateAuthority, type DeviceProfileSettings, type IssuedCertificate, type RevocationReasonName } from '../ca/authority.js';
import { generateKey, privateKeyPem, type KeyType } from '../ca/keys.js';
import type { Settings } from '../config/data-dir.js';
import {
  ImportRowError,
  MacConflictError,
  NotFoundError,
  StateError,
  type AuditQuery,
  type AuditRecord,
  type AuditResult,
  type CertificateRecord,
  type GatewayQuery,
  type GatewayRecord,
  type GatewayWithCertificate,
  type KeyOrigin,
  type NewAuditEvent,
  type NewCertificate,
  type PendingRenewalResult,
  type ProvisionWrite,
  type Repository,
} from '../store/repository.js';

import { buildCertificateZip } from './cert-bundle.js';
import { isoSeconds } from './clock.js';
import type { CrlPublisher } from './crl-publisher.js';
import { parseImportCsv, type CsvRow } from './csv-rows.js';
import { ForbiddenError, ValidationError } from './errors.js';
import type { ServerEvents } from './events.js';

/** Who is acting: a token of an account, or a local CLI operator. */
export interface Actor {
  accountId: number;
  role: Role;
  /** For the audit trail: "token:<id>" or "cli". */
  label: string;
  sourceIp: string | null;
}

export interface IssueOutcome {
  gateway: GatewayRecord;
  certificate: CertificateRecord;
  /** Only for a server-made key, returned once. */
  privateKeyPem?: string;
  notices: string[];
}

/** A pending renewal: `certificate` waits for confirmation; `replaces` stays valid until then. */
export interface PendingRenewOutcome extends IssueOutcome {
  replaces: CertificateRecord;
}

export interface ConfirmOutcome {
  activated: CertificateRecord;
  /** The predecessor, now revoked (superseded); null when it had expired. */
  superseded: CertificateRecord | null;
  /** The certificate was already active (a repeated confirmation changes nothing). */
  alreadyConfirmed: boolean;
  /** The CRL that lists the superseded certificate. */
  crlNumber: number;
}

export interface CancelOutcome {
  cancelled: CertificateRecord;
  /** It had already been cancelled (a repeated cancellation changes nothing). */
  alreadyCancelled: boolean;
  /** The gateway's certificate, still valid. */
  active: CertificateRecord | null;
  crlNumber: number;
}

/** Revocation note of a pending certificate withdrawn through renew/cancel/ (how a repeat is recognised). */
export const CANCEL_NOTE = 'pending renewal cancelled';

export interface ImportOutcome {
  rows: { line: number; mac: string; gatewayId: number; serialNumber: string; expiresAt: string }[];
}

/** Import refused: every row with its result; nothing was written. */
export class ImportRejectedError extends Error {
  constructor(
    readonly status: 400 | 409,
    readonly rows: { line: number; mac_address: string; status: 'error' | 'ok'; error?: string }[],
  ) {
    super(`import refused: ${rows.filter((r) => r.status === 'error').length} row(s) have errors; nothing was imported`);
  }
}

/** RSA keys are slow to make; a bigger RSA import would outlive any HTTP timeout. */
export const MAX_RSA_IMPORT_ROWS = 200;

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

export const REVOCATION_REASONS: readonly RevocationReasonName[] = [
  'unspecified',
  'keyCompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'privilegeWithdrawn',
];

const PERMISSIONS = {
  provision: ['operator'],
  renew: ['operator'],
  import: ['operator'],
  download: ['operator'],
  revoke: ['operator', 'admin'],
  read: ['operator', 'admin', 'auditor'],
  audit: ['admin', 'auditor'],
} as const satisfies Record<string, readonly Role[]>;
type Permission = keyof typeof PERMISSIONS;

const WHAT: Record<Permission, string> = {
  provision: 'provision gateways',
  renew: 'renew certificates',
  import: 'import gateways',
  download: 'download certificates',
  revoke: 'revoke certificates',
  read: 'read gateways',
  audit: 'read the audit log',
};

export interface IssuanceDeps {
  ca: CertificateAuthority;
  repo: Repository;
  settings: Settings;
  events: ServerEvents;
  crl: CrlPublisher;
}

export class IssuanceService {
  private readonly profile: DeviceProfileSettings;

  constructor(private readonly d: IssuanceDeps) {
    this.profile = { subject: d.settings.device.subject, domain: d.settings.device.domain, validityDays: d.settings.device.validityDays };
  }

  get settings(): Settings {
    return this.d.settings;
  }

  get caPem(): string {
    return this.d.ca.certificatePem;
  }

  // ------------------------------------------------------------------------------------ helpers

  private audit(actor: Actor, action: string, result: AuditResult, object: string | null, detail: string | null): NewAuditEvent {
    return { at: isoSeconds(), accountId: actor.accountId, actor: actor.label, action, object, sourceIp: actor.sourceIp, result, detail };
  }

  /** Records a refused or failed attempt (the write itself rolled back). */
  private async auditFailure(actor: Actor, action: string, object: string | null, err: unknown): Promise<void> {
    const result: AuditResult = err instanceof ForbiddenError || err instanceof MacConflictError ? 'denied' : 'error';
    const message = err instanceof Error ? err.message : String(err);
    await this.d.repo.appendAudit(this.audit(actor, action, result, object, message.slice(0, 300)));
  }

  async authorize(actor: Actor, permission: Permission, object: string | null = null): Promise<void> {
    const allowed: readonly Role[] = PERMISSIONS[permission];
    if (allowed.includes(actor.role)) return;
    const err = new ForbiddenError(`role '${actor.role}' may not ${WHAT[permission]} (needs ${allowed.join(' or ')})`);
    await this.auditFailure(actor, `${permission}.denied`, object, err);
    throw err;
  }

  private async gatewayOf(actor: Actor, id: number): Promise<GatewayWithCertificate> {
    const gw = await this.d.repo.getGateway(actor.accountId, id);
    if (!gw) throw new NotFoundError(`gateway ${id} not found`);
    return gw;
  }

  private newCertificate(cert: IssuedCertificate, keyOrigin: KeyOrigin, kind: NewCertificate['kind'] = 'device'): NewCertificate {
    return {
      kind,
      serialNumber: cert.serialNumber,
      subjectCn: cert.commonName,
      certificatePem: cert.pem,
      keyOrigin,
      keyType: cert.keyType,
      issuedAt: isoSeconds(),
      expiresAt: isoSeconds(cert.notAfter),
    };
  }

  private async issueForMac(
    mac: string,
    input: { csrPem?: string; keyType?: KeyType },
  ): Promise<{ cert: IssuedCertificate; keyOrigin: KeyOrigin }> {
    if (input.csrPem !== undefined) {
      try {
        return { cert: this.d.ca.issueDeviceFromCsr({ mac, csrPem: input.csrPem, profile: this.profile }), keyOrigin: 'device' };
      } catch (err) {
        if (err instanceof CsrError || err instanceof IdentityError) throw new ValidationError('csr_pem', err.message);
        throw err;
      }
    }
    const cert = await this.d.ca.issueDeviceWithNewKey({ mac, keyType: input.keyType ?? this.d.settings.device.keyType, profile: this.profile });
    return { cert, keyOrigin: 'server' };
  }

  private announceIssued(c: CertificateRecord, replacesSerial: string | null): void {
    this.d.events.emit('certificate.issued', {
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

  private announceRevoked(c: CertificateRecord): void {
    this.d.events.emit('certificate.revoked', {
      serialNumber: c.serialNumber,
      kind: c.kind,
      commonName: c.subjectCn,
      accountId: c.accountId,
      gatewayId: c.gatewayId,
      reason: c.revokeReason ?? 'unspecified',
      revokedAt: c.revokedAt ?? isoSeconds(),
    });
  }

  // ------------------------------------------------------------------------------------ writes

  /** POST gateways/provision/. `keyOrigin` says who made the CSR's key (device or station). */
  async provision(
    actor: Actor,
    input: { mac: string; codigo: string; nome: string; csrPem?: string; keyType?: KeyType; keyOrigin?: 'device' | 'station'; notices?: string[] },
  ): Promise<IssueOutcome> {
    await this.authorize(actor, 'provision', `mac:${input.mac}`);
    try {
      // Cheap refusal before any key generation or signing; the write re-checks atomically.
      const active = await this.d.repo.getActiveDeviceCertificate(input.mac, isoSeconds());
      if (active) throw new MacConflictError(input.mac, active.accountId === actor.accountId ? (active.gatewayId ?? undefined) : undefined);
      const { cert, keyOrigin } = await this.issueForMac(input.mac, input);
      const origin = keyOrigin === 'device' ? (input.keyOrigin ?? 'device') : keyOrigin;
      const result = await this.d.repo.provisionGateway(
        { accountId: actor.accountId, mac: input.mac, codigo: input.codigo, nome: input.nome, certificate: this.newCertificate(cert, origin) },
        this.audit(actor, 'gateway.provision', 'ok', null, `mac=${input.mac} serial=${cert.serialNumber} key=${origin}`),
      );
      this.announceIssued(result.certificate, null);
      const notices = [...(input.notices ?? [])];
      if (result.reused) notices.push(`gateway ${result.gateway.id} already existed for this MAC in this account; it was reused`);
      return { gateway: result.gateway, certificate: result.certificate, notices, ...(cert.privateKeyPem ? { privateKeyPem: cert.privateKeyPem } : {}) };
    } catch (err) {
      await this.auditFailure(actor, 'gateway.provision', `mac:${input.mac}`, err);
      throw err;
    }
  }

  /** POST gateways/{id}/renew/: a new certificate; the previous one is revoked as superseded. */
  async renew(actor: Actor, gatewayId: number, input: { csrPem?: string; keyType?: KeyType; keyOrigin?: 'device' | 'station' }): Promise<IssueOutcome> {
    await this.authorize(actor, 'renew', `gateway:${gatewayId}`);
    try {
      const gw = await this.gatewayOf(actor, gatewayId);
      const { cert, keyOrigin } = await this.issueForMac(gw.mac, input);
      const origin = keyOrigin === 'device' ? (input.keyOrigin ?? 'device') : keyOrigin;
      const at = isoSeconds();
      const { certificate, superseded, revoked } = await this.d.repo.renewGatewayCertificate(
        { accountId: actor.accountId, gatewayId, certificate: this.newCertificate(cert, origin), at },
        this.audit(actor, 'certificate.renew', 'ok', null, `serial=${cert.serialNumber} replaces=${gw.activeCertificate?.serialNumber ?? 'none'}`),
      );
      for (const c of revoked) this.announceRevoked(c);
      if (revoked.length > 0) await this.d.crl.publish(`certificate(s) ${revoked.map((c) => c.serialNumber).join(', ')} superseded`);
      this.announceIssued(certificate, superseded?.serialNumber ?? null);
      return { gateway: gw, certificate, notices: [], ...(cert.privateKeyPem ? { privateKeyPem: cert.privateKeyPem } : {}) };
    } catch (err) {
      await this.auditFailure(actor, 'certificate.renew', `gateway:${gatewayId}`, err);
      throw err;
    }
  }

  /**
   * POST gateways/{id}/renew/ with `pending: true`: a new certificate that waits for confirmation;
   * the active one stays valid until then (field re-provisioning: the old identity keeps working until
   * the new one has been seen working). An earlier unconfirmed successor is replaced (revoked).
   */
  async renewPending(
    actor: Actor,
    gatewayId: number,
    input: { csrPem?: string; keyType?: KeyType; keyOrigin?: 'device' | 'station' },
  ): Promise<PendingRenewOutcome> {
    await this.authorize(actor, 'renew', `gateway:${gatewayId}`);
    try {
      const gw = await this.gatewayOf(actor, gatewayId);
      const active = gw.activeCertificate;
      if (!active) throw new StateError(`gateway ${gatewayId} has no active certificate to keep valid during the renewal; renew it without "pending"`);
      if (active.expiresAt <= isoSeconds()) {
        throw new StateError(`the certificate of gateway ${gatewayId} expired at ${active.expiresAt}, so there is nothing to keep valid; renew it without "pending"`);
      }
      const { cert, keyOrigin } = await this.issueForMac(gw.mac, input);
      const origin = keyOrigin === 'device' ? (input.keyOrigin ?? 'device') : keyOrigin;
      const { certificate, replaced } = await this.addPendingSuccessor(
        active,
        cert,
        origin,
        this.audit(actor, 'certificate.renew_pending', 'ok', null, `gateway=${gatewayId} serial=${cert.serialNumber} replaces=${active.serialNumber}; waiting for confirmation`),
      );
      const notices = [`certificate ${active.serialNumber} stays valid until this one is confirmed (renew/confirm/) or cancelled (renew/cancel/)`];
      if (replaced) notices.push(`the unconfirmed certificate ${replaced.serialNumber} was revoked (superseded) and replaced by this one`);
      return { gateway: gw, certificate, replaces: active, notices, ...(cert.privateKeyPem ? { privateKeyPem: cert.privateKeyPem } : {}) };
    } catch (err) {
      await this.auditFailure(actor, 'certificate.renew_pending', `gateway:${gatewayId}`, err);
      throw err;
    }
  }

  /**
   * POST gateways/{id}/renew/confirm/: the pending certificate becomes active and its predecessor is
   * revoked (superseded); the CRL is re-signed before the answer. Confirming the active certificate
   * again is a no-op (idempotent).
   */
  async confirmRenewal(actor: Actor, gatewayId: number, serialNumber: string): Promise<ConfirmOutcome> {
    await this.authorize(actor, 'renew', `gateway:${gatewayId}`);
    try {
      await this.gatewayOf(actor, gatewayId);
      const certs = await this.d.repo.listGatewayCertificates(gatewayId);
      const cert = certs.find((c) => c.serialNumber === serialNumber);
      if (!cert) throw new NotFoundError(`gateway ${gatewayId} has no certificate with serial ${serialNumber}`);
      if (cert.status === 'active') {
        await this.d.repo.appendAudit(this.audit(actor, 'certificate.activate', 'ok', `certificate:${serialNumber}`, `gateway=${gatewayId}; already active (repeated confirmation, nothing changed)`));
        const previous = certs.find((c) => c.id === cert.replacesId && c.status === 'revoked') ?? null;
        return { activated: cert, superseded: previous, alreadyConfirmed: true, crlNumber: (await this.d.crl.ensureFresh()).crlNumber };
      }
      if (cert.status !== 'pending') {
        throw new StateError(`certificate ${serialNumber} is ${describeStatus(cert)} and cannot be confirmed; only a certificate waiting for confirmation can (renew again with "pending")`);
      }
      const r = await this.activate(serialNumber, this.audit(actor, 'certificate.activate', 'ok', null, `gateway=${gatewayId}; confirmed over the API`));
      return { activated: r.activated, superseded: r.superseded, alreadyConfirmed: false, crlNumber: r.crlNumber };
    } catch (err) {
      await this.auditFailure(actor, 'certificate.activate', `gateway:${gatewayId}`, err);
      throw err;
    }
  }

  /**
   * POST gateways/{id}/renew/cancel/: the pending certificate is revoked (cessationOfOperation) and the
   * active one stays; for a failed install. With a serial, only that certificate; cancelling it again
   * is a no-op (idempotent).
   */
  async cancelRenewal(actor: Actor, gatewayId: number, serialNumber?: string): Promise<CancelOutcome> {
    await this.authorize(actor, 'renew', `gateway:${gatewayId}`);
    try {
      const gw = await this.gatewayOf(actor, gatewayId);
      const certs = await this.d.repo.listGatewayCertificates(gatewayId);
      const target = serialNumber === undefined ? certs.find((c) => c.status === 'pending') : certs.find((c) => c.serialNumber === serialNumber);
      if (!target) {
        if (serialNumber === undefined) throw new StateError(`gateway ${gatewayId} has no certificate waiting for confirmation`);
        throw new NotFoundError(`gateway ${gatewayId} has no certificate with serial ${serialNumber}`);
      }
      if (target.status === 'revoked' && target.revokeNote === CANCEL_NOTE) {
        await this.d.repo.appendAudit(this.audit(actor, 'certificate.renew_cancel', 'ok', `certificate:${target.serialNumber}`, `gateway=${gatewayId}; already cancelled (repeated cancellation, nothing changed)`));
        return { cancelled: target, alreadyCancelled: true, active: gw.activeCertificate, crlNumber: (await this.d.crl.ensureFresh()).crlNumber };
      }
      if (target.status !== 'pending') {
        const hint = target.status === 'active' ? ' (it was already confirmed); to withdraw it, revoke the gateway' : '';
        throw new StateError(`certificate ${target.serialNumber} is ${describeStatus(target)}${hint}; only a certificate waiting for confirmation can be cancelled`);
      }
      const [cancelled] = await this.d.repo.revokeCertificateBySerial(
        target.serialNumber,
        'cessationOfOperation',
        CANCEL_NOTE,
        isoSeconds(),
        this.audit(actor, 'certificate.renew_cancel', 'ok', null, `gateway=${gatewayId}; reason=cessationOfOperation; ${gw.activeCertificate ? `${gw.activeCertificate.serialNumber} stays active` : 'no active certificate'}`),
        // Refused if a confirmation got there first: the certificate is then active, not pending.
        { status: 'pending', gatewayId },
      );
      this.announceRevoked(cancelled!);
      const crl = await this.d.crl.publish(`pending certificate ${target.serialNumber} cancelled`);
      return { cancelled: cancelled!, alreadyCancelled: false, active: gw.activeCertificate, crlNumber: crl.crlNumber };
    } catch (err) {
      await this.auditFailure(actor, 'certificate.renew_cancel', `gateway:${gatewayId}`, err);
      throw err;
    }
  }

  /** POST gateways/{id}/revoke/: `reason` is an RFC 5280 reason name or free text (kept as the note). */
  async revoke(actor: Actor, gatewayId: number, reasonText: string): Promise<{ revoked: CertificateRecord[]; crlNumber: number }> {
    await this.authorize(actor, 'revoke', `gateway:${gatewayId}`);
    try {
      const reason = REVOCATION_REASONS.find((r) => r.toLowerCase() === reasonText.toLowerCase());
      const revoked = await this.d.repo.revokeGatewayCertificates(
        { accountId: actor.accountId, gatewayId, reason: reason ?? 'unspecified', note: reason ? null : reasonText, at: isoSeconds() },
        this.audit(actor, 'certificate.revoke', 'ok', null, `reason=${reason ?? 'unspecified'}`),
      );
      for (const c of revoked) this.announceRevoked(c);
      const crl = await this.d.crl.publish(`gateway ${gatewayId} revoked`);
      return { revoked, crlNumber: crl.crlNumber };
    } catch (err) {
      await this.auditFailure(actor, 'certificate.revoke', `gateway:${gatewayId}`, err);
      throw err;
    }
  }

  /**
   * POST gateways/import/: all rows or none. Keys are made by the server and kept sealed for the
   * one ZIP download (at most `pendingKeyTtlHours`).
   */
  async importCsv(actor: Actor, csvText: string, keyType?: KeyType): Promise<ImportOutcome> {
    await this.authorize(actor, 'import', null);
    try {
      const rows = parseImportCsv(csvText);
      const now = isoSeconds();
      const checked: CsvRow[] = [];
      for (const row of rows) {
        if (row.ok) {
          const active = await this.d.repo.getActiveDeviceCertificate(row.mac, now);
          if (active) {
            checked.push({ line: row.line, ok: false, rawMac: row.rawMac, error: new MacConflictError(row.mac, active.accountId === actor.accountId ? (active.gatewayId ?? undefined) : undefined).message });
            continue;
          }
        }
        checked.push(row);
      }
      if (checked.some((r) => !r.ok)) throw new ImportRejectedError(400, resultRows(checked));

      const ttlMs = this.d.settings.pendingKeyTtlHours * 3_600_000;
      const type = keyType ?? this.d.settings.device.keyType;
      const valid = checked.filter((r): r is Extract<CsvRow, { ok: true }> => r.ok);
      if (type === 'rsa' && valid.length > MAX_RSA_IMPORT_ROWS) {
        throw new ValidationError('key_type', `RSA-2048 keys take ~0.2 s each: import at most ${MAX_RSA_IMPORT_ROWS} rows with key_type rsa (or use ec)`);
      }
      // Key generation runs in the libuv pool; a few at a time keeps every core busy.
      const keys = await mapLimit(valid, 4, () => generateKey(type));
      const writes: ProvisionWrite[] = valid.map((row, i) => {
        const key = keys[i]!;
        const cert = this.d.ca.issueDevice({ mac: row.mac, spkiDer: key.spkiDer, profile: this.profile });
        const write: ProvisionWrite = { accountId: actor.accountId, mac: row.mac, codigo: row.codigo, nome: row.nome, certificate: this.newCertificate(cert, 'server') };
        if (ttlMs > 0) {
          write.pendingKey = {
            sealed: this.d.ca.vault.seal(Buffer.from(privateKeyPem(key.privateKey)), cert.serialNumber),
            expiresAt: isoSeconds(new Date(Date.now() + ttlMs)),
          };
        }
        return write;
      });
      let results;
      try {
        results = await this.d.repo.importGateways(writes, this.audit(actor, 'gateway.import', 'ok', null, `${writes.length} gateways`));
      } catch (err) {
        if (err instanceof ImportRowError) {
          const line = valid[err.index]!.line;
          throw new ImportRejectedError(
            409,
            resultRows(checked.map((r) => (r.line === line ? { line, ok: false, rawMac: r.rawMac, error: err.message } : r))),
          );
        }
        throw err;
      }
      const okRows = valid;
      for (const r of results) this.announceIssued(r.certificate, null);
      return {
        rows: results.map((r, i) => ({
          line: okRows[i]!.line,
          mac: r.gateway.mac,
          gatewayId: r.gateway.id,
          serialNumber: r.certificate.serialNumber,
          expiresAt: r.certificate.expiresAt,
        })),
      };
    } catch (err) {
      await this.auditFailure(actor, 'gateway.import', null, err);
      throw err;
    }
  }

  /** GET gateways/{id}/certificados/: ZIP; a waiting server-made key is included once, then gone. */
  async downloadZip(actor: Actor, gatewayId: number): Promise<{ filename: string; zip: Uint8Array; includesKey: boolean }> {
    await this.authorize(actor, 'download', `gateway:${gatewayId}`);
    try {
      const gw = await this.gatewayOf(actor, gatewayId);
      const cert = gw.activeCertificate;
      if (!cert) throw new StateError(`gateway ${gatewayId} has no active certificate; renew it first`);
      const sealed = await this.d.repo.takePendingKey(
        cert.id,
        isoSeconds(),
        this.audit(actor, 'device_key.download', 'ok', `certificate:${cert.serialNumber}`, 'one-time download of the server-made key; key destroyed'),
      );
      const privateKey = sealed ? this.d.ca.vault.open(sealed, cert.serialNumber).toString('utf8') : undefined;
      const zip = buildCertificateZip({
        codigo: gw.codigo,
        nome: gw.nome,
        mac: gw.mac,
        serialNumber: cert.serialNumber,
        expiresAt: cert.expiresAt,
        certificatePem: cert.certificatePem,
        caPem: this.d.ca.certificatePem,
        mqttBroker: this.d.settings.mqtt.broker,
        mqttPort: this.d.settings.mqtt.port,
        ...(privateKey ? { privateKeyPem: privateKey } : {}),
      });
      if (!sealed) {
        await this.d.repo.appendAudit(this.audit(actor, 'certificate.download', 'ok', `gateway:${gatewayId}`, `serial=${cert.serialNumber}`));
      }
      return { filename: `${gw.mac}_certificados.zip`, zip, includesKey: privateKey !== undefined };
    } catch (err) {
      await this.auditFailure(actor, 'certificate.download', `gateway:${gatewayId}`, err);
      throw err;
    }
  }

  // ------------------------------------------------------------------------------------ reads

  async listGateways(actor: Actor, query: GatewayQuery): Promise<{ count: number; rows: GatewayWithCertificate[] }> {
    await this.authorize(actor, 'read');
    return this.d.repo.listGateways(actor.accountId, query);
  }

  async getGateway(actor: Actor, id: number): Promise<{ gateway: GatewayWithCertificate; certificates: CertificateRecord[]; keyWaiting: boolean }> {
    await this.authorize(actor, 'read', `gateway:${id}`);
    const gateway = await this.gatewayOf(actor, id);
    const certificates = await this.d.repo.listGatewayCertificates(id);
    const keyWaiting = gateway.activeCertificate ? await this.d.repo.hasPendingKey(gateway.activeCertificate.id, isoSeconds()) : false;
    return { gateway, certificates, keyWaiting };
  }

  async listAudit(actor: Actor, query: AuditQuery): Promise<{ count: number; rows: AuditRecord[] }> {
    await this.authorize(actor, 'audit');
    return this.d.repo.listAudit(actor.accountId, query);
  }

  // ------------------------------------------------------------------------------------ operator tasks (CLI, broker hooks)

  /**
   * The seed's `renovar_certificados`: every active device certificate expiring within `withinMs`
   * gets a successor for the same public key, issued as *pending*. The old certificate keeps
   * working until the device confirms the new one (cert/ack → activatePending), so a device that
   * never hears about it is not locked out. Devices that can make new keys should be asked to
   * (`cert_renew` over MQTT) instead.
   */
  async renewExpiring(withinMs: number, actorLabel: string, dryRun = false): Promise<{ renewed: { mac: string; oldSerial: string; newSerial: string | null; oldExpiresAt: string }[] }> {
    const before = isoSeconds(new Date(Date.now() + withinMs));
    const expiring = await this.d.repo.listExpiringDeviceCertificates(before);
    const renewed: { mac: string; oldSerial: string; newSerial: string | null; oldExpiresAt: string }[] = [];
    for (const old of expiring) {
      if (dryRun) {
        renewed.push({ mac: old.subjectCn, oldSerial: old.serialNumber, newSerial: null, oldExpiresAt: old.expiresAt });
        continue;
      }
      const spkiDer = publicKeyOf(old.certificatePem);
      const cert = this.d.ca.issueDevice({ mac: old.subjectCn, spkiDer, profile: this.profile });
      const { certificate: record } = await this.addPendingSuccessor(
        old,
        cert,
        old.keyOrigin,
        {
          at: isoSeconds(),
          accountId: old.accountId,
          actor: actorLabel,
          action: 'certificate.renew_pending',
          object: null,
          sourceIp: null,
          result: 'ok',
          detail: `replaces=${old.serialNumber} expiring=${old.expiresAt}`,
        },
        false,
      );
      renewed.push({ mac: old.subjectCn, oldSerial: old.serialNumber, newSerial: record.serialNumber, oldExpiresAt: old.expiresAt });
    }
    return { renewed };
  }

  /**
   * The one path for pending successors (renew-expiring, REST renew with `pending`, renewal over
   * MQTT): stored next to the active predecessor, which stays valid until activatePending. With
   * `replacePending`, the MAC's earlier unconfirmed successor is revoked (superseded) in the same
   * transaction and the CRL re-signed.
   */
  async addPendingSuccessor(
    predecessor: Pick<CertificateRecord, 'id' | 'serialNumber'>,
    cert: IssuedCertificate,
    keyOrigin: KeyOrigin,
    audit: NewAuditEvent,
    replacePending = true,
  ): Promise<PendingRenewalResult> {
    const result = await this.d.repo.addPendingRenewal(predecessor.id, this.newCertificate(cert, keyOrigin), audit, { replacePending, at: isoSeconds() });
    if (result.replaced) {
      this.announceRevoked(result.replaced);
      await this.d.crl.publish(`unconfirmed certificate ${result.replaced.serialNumber} replaced`);
    }
    this.announceIssued(result.certificate, predecessor.serialNumber);
    return result;
  }

  /** The device installed its pending successor certificate (cert/ack): activate it, revoke the old one. */
  async activatePending(serialNumber: string, actorLabel: string): Promise<{ activated: CertificateRecord; superseded: CertificateRecord | null; crlNumber: number }> {
    return this.activate(serialNumber, {
      at: isoSeconds(),
      accountId: null,
      actor: actorLabel,
      action: 'certificate.activate',
      object: null,
      sourceIp: null,
      result: 'ok',
      detail: null,
    });
  }

  private async activate(serialNumber: string, audit: NewAuditEvent): Promise<{ activated: CertificateRecord; superseded: CertificateRecord | null; crlNumber: number }> {
    const result = await this.d.repo.activatePendingCertificate(serialNumber, isoSeconds(), audit);
    let crlNumber: number;
    if (result.superseded) {
      this.announceRevoked(result.superseded);
      crlNumber = (await this.d.crl.publish(`certificate ${result.superseded.serialNumber} superseded`)).crlNumber;
    } else {
      crlNumber = (await this.d.crl.ensureFresh()).crlNumber;
    }
    return { ...result, crlNumber };
  }

  /** A service identity (server MQTT client, station monitor), recorded so it can be revoked. */
  async issueServiceIdentity(
    options: { kind: ServiceKind; name: string; publicKeyPem?: string; keyType?: KeyType; validityDays?: number },
    actorLabel: string,
  ): Promise<IssuedCertificate> {
    const cert = await this.d.ca.issueServiceCertificate({
      kind: options.kind,
      name: options.name,
      ...(options.publicKeyPem ? { publicKey: options.publicKeyPem } : {}),
      ...(options.keyType ? { keyType: options.keyType } : {}),
      ...(options.validityDays ? { validityDays: options.validityDays } : {}),
      subject: { country: this.d.settings.device.subject.country, organization: this.d.settings.device.subject.organization },
    });
    await this.recordOther(cert, 'service', options.publicKeyPem ? 'station' : 'server', actorLabel);
    return cert;
  }

  /** A broker (or other TLS server) certificate, recorded so it can be revoked. */
  async issueBrokerIdentity(
    options: { hostnames?: string[]; ips?: string[]; publicKeyPem?: string; keyType?: KeyType; validityDays?: number },
    actorLabel: string,
  ): Promise<IssuedCertificate> {
    const cert = await this.d.ca.issueBrokerCertificate({
      ...(options.hostnames ? { hostnames: options.hostnames } : {}),
      ...(options.ips ? { ips: options.ips } : {}),
      ...(options.publicKeyPem ? { publicKey: options.publicKeyPem } : {}),
      ...(options.keyType ? { keyType: options.keyType } : {}),
      ...(options.validityDays ? { validityDays: options.validityDays } : {}),
      subject: { country: this.d.settings.device.subject.country, organization: this.d.settings.device.subject.organization },
    });
    await this.recordOther(cert, 'broker', options.publicKeyPem ? 'station' : 'server', actorLabel);
    return cert;
  }

  private async recordOther(cert: IssuedCertificate, kind: 'service' | 'broker', keyOrigin: KeyOrigin, actorLabel: string): Promise<void> {
    const record = await this.d.repo.recordCertificate(this.newCertificate(cert, keyOrigin, kind), {
      at: isoSeconds(),
      accountId: null,
      actor: actorLabel,
      action: `${kind}_certificate.issue`,
      object: null,
      sourceIp: null,
      result: 'ok',
      detail: `cn=${cert.commonName}`,
    });
    this.announceIssued(record, null);
  }

  /** Revokes any certificate by serial (operator CLI; service identities); an active device certificate takes its pending successor with it. */
  async revokeBySerial(serialNumber: string, reasonText: string, actorLabel: string): Promise<CertificateRecord> {
    const reason = REVOCATION_REASONS.find((r) => r.toLowerCase() === reasonText.toLowerCase());
    const revoked = await this.d.repo.revokeCertificateBySerial(serialNumber.toUpperCase(), reason ?? 'unspecified', reason ? null : reasonText, isoSeconds(), {
      at: isoSeconds(),
      accountId: null,
      actor: actorLabel,
      action: 'certificate.revoke',
      object: null,
      sourceIp: null,
      result: 'ok',
      detail: `reason=${reason ?? 'unspecified'}`,
    });
    for (const c of revoked) this.announceRevoked(c);
    await this.d.crl.publish(`certificate ${serialNumber} revoked`);
    return revoked[0]!;
  }
}

function describeStatus(c: CertificateRecord): string {
  if (c.status === 'revoked') return `revoked (${c.revokeReason ?? 'unspecified'}${c.revokeNote ? `: ${c.revokeNote}` : ''})`;
  return c.status;
}

function resultRows(rows: CsvRow[]): { line: number; mac_address: string; status: 'error' | 'ok'; error?: string }[] {
  return rows.map((r) => (r.ok ? { line: r.line, mac_address: r.mac, status: 'ok' as const } : { line: r.line, mac_address: r.rawMac, status: 'error' as const, error: r.error }));
}

function publicKeyOf(certificatePem: string): Buffer {
  return new X509Certificate(certificatePem).publicKey.export({ type: 'spki', format: 'der' });
}
