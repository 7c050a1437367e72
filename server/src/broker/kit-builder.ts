/**
 * `tds-server broker-kit`: issues the broker's TLS certificate, takes the current CRL and the
 * service identities from the store, writes the kit and records it in `<data>/broker.json`.
 */
import { isIP } from 'node:net';
import path from 'node:path';
import type { CrlPublisher } from '../service/crl-publisher.js';
import type { IssuanceServices } from '../service/issuance.js';
import type { MqttStore } from '../mqtt/store.js';
import { saveBrokerConfig, type BrokerConfig } from './broker-config.js';
import { writeBrokerKit, type KitResult } from './kit.js';
import type { BrokerStateSource } from './publisher.js';
import type { ReloadTarget } from './reloader.js';

export interface BrokerKitDeps {
  dataDir: string;
  issuance: IssuanceServices;
  crl: CrlPublisher;
  store: MqttStore;
}

export interface BrokerKitOptions {
  outDir: string;
  /** Host name or IP the devices use for the broker; goes into the certificate's SAN. */
  host: string;
  port: number;
  /** More SAN entries (host names or IPs). */
  altNames?: string[];
  /** Where the files will live on the broker host (default /etc/mosquitto/tds). */
  installDir?: string;
  bindAddress?: string;
  /** Folder the server keeps crl.pem and acl.conf current in (on this host). */
  publishDir?: string;
  reload?: ReloadTarget;
  actor?: string;
}

/** The CA + store as the broker publisher sees them. */
export function storeBrokerState(deps: Pick<BrokerKitDeps, 'issuance' | 'crl' | 'store'>): BrokerStateSource {
  return {
    caPem: () => deps.issuance.core.caPem,
    crlPem: async () => (await deps.crl.ensureFresh()).pem,
    aclInput: () => ({ services: deps.store.serviceIdentities(), quarantined: deps.store.quarantinedIdentities() }),
  };
}

export function splitNames(names: readonly string[]): { hostnames: string[]; ips: string[] } {
  const unique = [...new Set(names.map((n) => n.trim()).filter(Boolean))];
  return { hostnames: unique.filter((n) => isIP(n) === 0), ips: unique.filter((n) => isIP(n) !== 0) };
}

export async function buildBrokerKit(deps: BrokerKitDeps, o: BrokerKitOptions): Promise<KitResult & { config: BrokerConfig }> {
  const outDir = path.resolve(o.outDir);
  const installDir = o.installDir ? path.resolve(o.installDir) : '/etc/mosquitto/tds';
  const names = splitNames([o.host, ...(o.altNames ?? [])]);
  const cert = await deps.issuance.identities.issueBrokerIdentity({ hostnames: names.hostnames, ips: names.ips }, o.actor ?? 'cli');
  if (!cert.privateKeyPem) throw new Error('no key was generated for the broker certificate');
  const state = storeBrokerState(deps);
  const result = await writeBrokerKit({
    outDir,
    installDir,
    host: o.host,
    port: o.port,
    bindAddress: o.bindAddress,
    caPem: deps.issuance.core.caPem,
    brokerCertPem: cert.pem,
    brokerKeyPem: cert.privateKeyPem,
    crlPem: await state.crlPem(),
    acl: await state.aclInput(),
  });
  const config: BrokerConfig = {
    host: o.host,
    port: o.port,
    installDir,
    publishDir: o.publishDir ? path.resolve(o.publishDir) : null,
    reload: o.reload ?? { kind: 'none' },
    brokerCertificateSerial: cert.serialNumber,
    builtAt: new Date().toISOString(),
  };
  await saveBrokerConfig(deps.dataDir, config);
  return { ...result, config };
}
