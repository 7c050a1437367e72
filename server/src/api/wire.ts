/** Store records → the seed's wire shapes (field names exactly as the seed). */
import type {
  AuditEvent,
  CertificateSummary,
  Gateway,
  GatewayDetail,
  PendingRenewResponse,
  ProvisionResponse,
  RenewalCancelResponse,
  RenewalConfirmResponse,
  RenewalDeliveryState,
} from '../contract/api.js';
import { topics } from '../contract/topics.js';
import type { AuditRecord, CertificateRecord, GatewayWithCertificate, RenewalDeliveryRecord } from '../store/repository.js';
import type { CancelOutcome, ConfirmOutcome, IssueOutcome, PendingRenewOutcome } from '../service/issuance.js';

export function certificateSummary(c: CertificateRecord): CertificateSummary {
  return {
    id: c.id,
    mac_address: c.subjectCn,
    serial_number: c.serialNumber,
    issued_at: c.issuedAt,
    expires_at: c.expiresAt,
    is_revoked: c.status === 'revoked',
    revoked_at: c.revokedAt,
    revoke_reason: c.revokeReason === null ? null : c.revokeNote ? `${c.revokeReason}: ${c.revokeNote}` : c.revokeReason,
    key_origin: c.keyOrigin,
    status: c.status,
  };
}

export function gatewayWire(g: GatewayWithCertificate): Gateway {
  return {
    id: g.id,
    conta_id: g.accountId,
    codigo: g.codigo,
    mac: g.mac,
    nome: g.nome,
    qte_max_dispositivos: g.qteMaxDispositivos,
    is_online: g.isOnline,
    last_seen: g.lastSeen,
    firmware_version: g.firmwareVersion,
    created_at: g.createdAt,
    active_certificate: g.activeCertificate ? certificateSummary(g.activeCertificate) : null,
  };
}

export function gatewayDetailWire(g: GatewayWithCertificate, certs: CertificateRecord[], keyWaiting: boolean): GatewayDetail {
  return { ...gatewayWire(g), certificados: certs.map(certificateSummary), private_key_available: keyWaiting };
}

export function provisionWire(o: IssueOutcome, caPem: string, mqtt: { broker: string; port: number }): ProvisionResponse {
  return {
    gateway_id: o.gateway.id,
    certificate_pem: o.certificate.certificatePem,
    ...(o.privateKeyPem ? { private_key_pem: o.privateKeyPem } : {}),
    ca_pem: caPem,
    expires_at: o.certificate.expiresAt,
    serial_number: o.certificate.serialNumber,
    mqtt_broker: mqtt.broker,
    mqtt_port: mqtt.port,
    mqtt_topic: topics.telemetry(o.gateway.mac),
    mac_address: o.gateway.mac,
    ...(o.notices.length > 0 ? { notices: o.notices } : {}),
  };
}

export function pendingRenewWire(o: PendingRenewOutcome, caPem: string, mqtt: { broker: string; port: number }): PendingRenewResponse {
  return { ...provisionWire(o, caPem, mqtt), status: 'pending', replaces_serial_number: o.replaces.serialNumber };
}

const revokedRef = (c: CertificateRecord): { serial_number: string; revoked_at: string; reason: string } => ({
  serial_number: c.serialNumber,
  revoked_at: c.revokedAt ?? '',
  reason: c.revokeReason ?? 'unspecified',
});

export function confirmWire(gatewayId: number, o: ConfirmOutcome): RenewalConfirmResponse {
  return {
    gateway_id: gatewayId,
    serial_number: o.activated.serialNumber,
    status: 'active',
    superseded: o.superseded ? revokedRef(o.superseded) : null,
    already_confirmed: o.alreadyConfirmed,
    crl_number: o.crlNumber,
  };
}

export function cancelWire(gatewayId: number, o: CancelOutcome): RenewalCancelResponse {
  return {
    gateway_id: gatewayId,
    ...revokedRef(o.cancelled),
    status: 'revoked',
    already_cancelled: o.alreadyCancelled,
    active_serial_number: o.active?.serialNumber ?? null,
    crl_number: o.crlNumber,
  };
}

export function auditWire(a: AuditRecord): AuditEvent {
  return {
    id: a.id,
    at: a.at,
    conta_id: a.accountId,
    actor: a.actor,
    action: a.action,
    object: a.object,
    source_ip: a.sourceIp,
    result: a.result,
    detail: a.detail,
  };
}

export function deliveryWire(d: RenewalDeliveryRecord): RenewalDeliveryState {
  return {
    pending_serial_number: d.pendingSerial,
    replaces_serial_number: d.predecessorSerial,
    attempts: d.attempts,
    last_attempt_at: d.lastAttemptAt,
    last_command_id: d.lastCommandId,
    created_at: d.createdAt,
  };
}
