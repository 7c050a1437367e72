/**
 * The certificate ZIP (GET gateways/{id}/certificados/): certificate, CA and README; a waiting
 * server-made key is included once and destroyed in the same transaction.
 */
import { StateError } from '../store/repository.js';
import { buildCertificateZip } from './cert-bundle.js';
import type { Actor, IssuanceCore } from './core.js';

export class CertificateExportService {
  constructor(private readonly core: IssuanceCore) {}

  async downloadZip(actor: Actor, gatewayId: number): Promise<{ filename: string; zip: Uint8Array; includesKey: boolean }> {
    const c = this.core;
    await c.authorize(actor, 'download', `gateway:${gatewayId}`);
    return c.guard(actor, 'certificate.download', `gateway:${gatewayId}`, async () => {
      const gw = await c.gatewayOf(actor, gatewayId);
      const cert = gw.activeCertificate;
      if (!cert) throw new StateError(`gateway ${gatewayId} has no active certificate; renew it first`);
      const sealed = await c.repo.takePendingKey(
        cert.id,
        c.at(),
        c.audit(actor, 'device_key.download', 'ok', `certificate:${cert.serialNumber}`, 'one-time download of the server-made key; key destroyed'),
      );
      const privateKey = sealed ? c.ca.vault.open(sealed, cert.serialNumber).toString('utf8') : undefined;
      const zip = buildCertificateZip({
        codigo: gw.codigo,
        nome: gw.nome,
        mac: gw.mac,
        serialNumber: cert.serialNumber,
        expiresAt: cert.expiresAt,
        certificatePem: cert.certificatePem,
        caPem: c.caPem,
        mqttBroker: c.settings.mqtt.broker,
        mqttPort: c.settings.mqtt.port,
        ...(privateKey ? { privateKeyPem: privateKey } : {}),
      });
      if (!sealed) {
        await c.repo.appendAudit(c.audit(actor, 'certificate.download', 'ok', `gateway:${gatewayId}`, `serial=${cert.serialNumber}`));
      }
      return { filename: `${gw.mac}_certificados.zip`, zip, includesKey: privateKey !== undefined };
    });
  }
}
