import { buildCertificateZip } from '@tds/server';
import type { GatewayDetailView, PresenceHistoryView, RenewResultView } from '../../shared/views.js';
import type { Gateways } from './gateways.js';
import type { ServerLink } from './server-link.js';

const DAY_MS = 86_400_000;

/**
 * Renewing a gateway's certificate from the Gateways screen, and its online/offline history. The
 * active certificate stays valid in every case until the new one is confirmed: by the device over
 * MQTT (`deliver`), or from the detail once a pending certificate is installed by hand.
 */
export class GatewayRenewals {
  constructor(
    private readonly server: ServerLink,
    private readonly gateways: Gateways,
  ) {}

  async renew(id: number, mode: 'deliver' | 'pending'): Promise<RenewResultView> {
    if (mode === 'deliver') {
      const r = await this.server.call((c) => c.renewAndDeliver(id));
      return { gateway: await this.gateways.get(id), delivery: r.delivery.status, file: null };
    }
    const r = await this.server.call((c) => c.renewPending(id));
    const gateway = await this.gateways.get(id);
    // The server made the key and returns it this once: it leaves as the seed's ZIP, for the gateway only.
    const zip = buildCertificateZip({
      codigo: gateway.code,
      nome: gateway.name,
      mac: gateway.mac,
      serialNumber: r.serial_number,
      expiresAt: r.expires_at,
      certificatePem: r.certificate_pem,
      caPem: r.ca_pem,
      ...(r.private_key_pem ? { privateKeyPem: r.private_key_pem } : {}),
      mqttBroker: r.mqtt_broker,
      mqttPort: r.mqtt_port,
    });
    const file = { fileName: `${gateway.mac.replace(/:/g, '')}_renewal_${r.serial_number.slice(0, 8)}.zip`, mime: 'application/zip', base64: Buffer.from(zip).toString('base64') };
    return { gateway, delivery: null, file };
  }

  /** The pending certificate is installed and works: it becomes active, the previous one is revoked. */
  async confirm(id: number, serialNumber: string): Promise<GatewayDetailView> {
    await this.server.call((c) => c.confirmRenewal(id, serialNumber));
    return this.gateways.get(id);
  }

  /** The pending certificate is abandoned (revoked); the active one stays. */
  async cancel(id: number, serialNumber: string): Promise<GatewayDetailView> {
    await this.server.call((c) => c.cancelRenewal(id, serialNumber));
    return this.gateways.get(id);
  }

  async presence(id: number, days: number): Promise<PresenceHistoryView> {
    // The server keeps whole seconds and its window excludes its end: up to the next whole second,
    // so a change made this very second is in it.
    const until = new Date(Math.floor(Date.now() / 1000) * 1000 + 1000);
    const h = await this.server.call((c) => c.presenceHistory(id, { since: new Date(until.getTime() - days * DAY_MS), until }));
    return {
      since: h.since,
      until: h.until,
      stateAtStart: h.state_at_start === null ? null : h.state_at_start === 'online',
      transitions: h.transitions.map((t) => ({ online: t.status === 'online', at: t.at })),
      onlineSeconds: h.online_seconds,
      windowSeconds: h.window_seconds,
      uptimePercent: h.uptime_percent,
      truncated: h.truncated,
    };
  }
}
