/**
 * Provisioning and plain renewal (the seed's behaviour): a gateway gets its certificate; a renewal
 * replaces it at once (the previous one and any pending successor are revoked as superseded).
 */
import type { CertificateRecord, GatewayRecord } from '../store/repository.js';
import type { Actor, DeviceKeyInput, IssuanceCore } from './core.js';

export interface IssueOutcome {
  gateway: GatewayRecord;
  certificate: CertificateRecord;
  /** Only for a server-made key, returned once. */
  privateKeyPem?: string;
  notices: string[];
}

export interface ProvisionInput extends DeviceKeyInput {
  mac: string;
  codigo: string;
  nome: string;
  notices?: string[];
}

export class ProvisioningService {
  constructor(private readonly core: IssuanceCore) {}

  /** POST gateways/provision/. `keyOrigin` says who made the CSR's key (device or station). */
  async provision(actor: Actor, input: ProvisionInput): Promise<IssueOutcome> {
    const c = this.core;
    await c.authorize(actor, 'provision', `mac:${input.mac}`);
    return c.guard(actor, 'gateway.provision', `mac:${input.mac}`, async () => {
      await c.assertMacAvailable(actor.accountId, input.mac);
      const { cert, keyOrigin } = await c.issueForMac(input.mac, input);
      const result = await c.repo.provisionGateway(
        { accountId: actor.accountId, at: c.at(), mac: input.mac, codigo: input.codigo, nome: input.nome, certificate: c.newCertificate(cert, keyOrigin) },
        c.audit(actor, 'gateway.provision', 'ok', null, `mac=${input.mac} serial=${cert.serialNumber} key=${keyOrigin}`),
      );
      c.announceIssued(result.certificate, null);
      const notices = [...(input.notices ?? [])];
      if (result.reused) notices.push(`gateway ${result.gateway.id} already existed for this MAC in this account; it was reused`);
      return { gateway: result.gateway, certificate: result.certificate, notices, ...(cert.privateKeyPem ? { privateKeyPem: cert.privateKeyPem } : {}) };
    });
  }

  /** POST gateways/{id}/renew/: a new certificate; the previous one is revoked as superseded. */
  async renew(actor: Actor, gatewayId: number, input: DeviceKeyInput): Promise<IssueOutcome> {
    const c = this.core;
    await c.authorize(actor, 'renew', `gateway:${gatewayId}`);
    return c.guard(actor, 'certificate.renew', `gateway:${gatewayId}`, async () => {
      const gw = await c.gatewayOf(actor, gatewayId);
      const { cert, keyOrigin } = await c.issueForMac(gw.mac, input);
      const { certificate, superseded, revoked } = await c.repo.renewGatewayCertificate(
        { accountId: actor.accountId, gatewayId, certificate: c.newCertificate(cert, keyOrigin), at: c.at() },
        c.audit(actor, 'certificate.renew', 'ok', null, `serial=${cert.serialNumber} replaces=${gw.activeCertificate?.serialNumber ?? 'none'}`),
      );
      for (const r of revoked) c.announceRevoked(r);
      if (revoked.length > 0) await c.crl.publish(`certificate(s) ${revoked.map((r) => r.serialNumber).join(', ')} superseded`);
      c.announceIssued(certificate, superseded?.serialNumber ?? null);
      return { gateway: gw, certificate, notices: [], ...(cert.privateKeyPem ? { privateKeyPem: cert.privateKeyPem } : {}) };
    });
  }
}
