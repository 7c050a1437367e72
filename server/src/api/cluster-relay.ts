/**
 * What one server instance tells the others on a shared PostgreSQL store (`store/cluster.ts`), and
 * what it does with what they tell it:
 * - a CRL stored by any instance is adopted here (file written, `crl.updated` announced, so this
 *   instance's brokers reload it and cut live sessions of the newly revoked certificates; the birth
 *   CA's CRL only has its file);
 * - certificate changes that matter to the broker side (every revocation, new service identities,
 *   renewals) go out, and those of other instances arrive as `certificate.remote`.
 * A lost notification is caught up: after the listening connection comes back, the newest CRL is
 * adopted again, and the CRL's freshness check does the same every minute.
 */
import type { CrlPublisher } from '../service/crl-publisher.js';
import type { RemoteCertificateEvent, ServerEvents } from '../service/events.js';
import type { Cluster, ClusterMessage } from '../store/cluster.js';

export function relayCertificateEvents(
  cluster: Cluster,
  events: ServerEvents,
  crls: readonly CrlPublisher[],
  onError: (err: unknown) => void,
): { close(): Promise<void> } {
  const adopt = (): void => {
    for (const crl of crls) crl.adoptLatest().catch(onError);
  };
  const send = (e: RemoteCertificateEvent): void => {
    cluster.publish('certificate', { ...e }).catch(onError);
  };
  const off = [
    cluster.subscribe('crl', adopt),
    cluster.onResync(adopt),
    // Device issuance is left out (the hot path): no other instance can hold anything about a MAC
    // before its device has a certificate; renewals and revocations change what they hold.
    events.on('certificate.issued', (e) => {
      if (e.kind !== 'device' || e.replacesSerial !== null || e.status === 'pending') {
        send({ change: 'issued', serialNumber: e.serialNumber, kind: e.kind, commonName: e.commonName, gatewayId: e.gatewayId });
      }
    }),
    events.on('certificate.revoked', (e) => send({ change: 'revoked', serialNumber: e.serialNumber, kind: e.kind, commonName: e.commonName, gatewayId: e.gatewayId })),
    cluster.subscribe('certificate', (m: ClusterMessage) => {
      if (m.from === cluster.instanceId) return;
      const e = parseRemote(m);
      if (e) void events.emit('certificate.remote', e);
    }),
  ];
  return {
    async close() {
      for (const o of off) o();
    },
  };
}

function parseRemote(m: ClusterMessage): RemoteCertificateEvent | undefined {
  const kinds = ['device', 'service', 'broker'];
  if ((m.change !== 'issued' && m.change !== 'revoked') || typeof m.serialNumber !== 'string' || typeof m.commonName !== 'string' || !kinds.includes(m.kind as string)) return undefined;
  const gatewayId = typeof m.gatewayId === 'number' ? m.gatewayId : null;
  return { change: m.change, serialNumber: m.serialNumber, kind: m.kind as RemoteCertificateEvent['kind'], commonName: m.commonName, gatewayId };
}
