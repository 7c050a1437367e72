/** The reads behind the API: the account's gateways, one gateway with its history (the audit log: admin.ts). */
import type { CertificateRecord, GatewayQuery, GatewayWithCertificate } from '../store/repository.js';
import type { Actor, IssuanceCore } from './core.js';

export class GatewayQueries {
  constructor(private readonly core: IssuanceCore) {}

  async listGateways(actor: Actor, query: GatewayQuery): Promise<{ count: number; rows: GatewayWithCertificate[] }> {
    await this.core.authorize(actor, 'read');
    return this.core.repo.listGateways(actor.accountId, query);
  }

  async getGateway(actor: Actor, id: number): Promise<{ gateway: GatewayWithCertificate; certificates: CertificateRecord[]; keyWaiting: boolean }> {
    const c = this.core;
    await c.authorize(actor, 'read', `gateway:${id}`);
    const gateway = await c.gatewayOf(actor, id);
    const certificates = await c.repo.listGatewayCertificates(id);
    const keyWaiting = gateway.activeCertificate ? await c.repo.hasPendingKey(gateway.activeCertificate.id, c.at()) : false;
    return { gateway, certificates, keyWaiting };
  }
}
