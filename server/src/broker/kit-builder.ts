/**
 * `tds-server broker-kit`: issues the broker's TLS certificate (or keeps the one already in the
 * folder), takes the current CRL and the service identities from the store, writes the kit and
 * records it in `<data>/broker.json`.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import type { CrlPublisher } from '../service/crl-publisher.js';
import type { IssuanceServices } from '../service/issuance.js';
import type { MqttStore } from '../mqtt/store.js';
import { saveBrokerConfig, type BrokerConfig } from './broker-config.js';
import { cutoffStore } from './cutoff-list.js';
import { writeBrokerKit, type KitResult } from './kit.js';
import { brokerUser } from './load-check.js';
import { KIT_FILES, DEFAULT_DYNSEC_STATE, defaultDynsecPlugin } from './mosquitto-conf.js';
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
  /** Issue a new broker key pair even if the folder has a usable one. */
  rotateBrokerKey?: boolean;
  /** The dynamic-security plugin for live-session cut-off; null = none. Default: Debian's path and state file. */
  dynsec?: { plugin: string; stateFile: string } | null;
  actor?: string;
}

/**
 * The CA + store as the broker publisher sees them. `crl`: where the CRL comes from — the CLI
 * re-signs a stale one (`ensureFresh`); the running server passes the latest stored CRL, because its
 * publications run inside the announcement of a new CRL and must not sign another one.
 */
export function storeBrokerState(
  deps: Pick<BrokerKitDeps, 'issuance' | 'crl' | 'store'>,
  crl: () => Promise<string> = async () => (await deps.crl.ensureFresh()).pem,
): BrokerStateSource {
  return {
    caPem: () => deps.issuance.core.caPem,
    crlPem: crl,
    aclInput: async () => ({ services: await deps.store.serviceIdentities(), quarantined: await deps.store.quarantinedIdentities() }),
    commonNamesOf: (serials) => deps.store.commonNamesOfSerials(serials),
  };
}

/**
 * The broker key pair already in the kit folder, if it can stay: issued by this CA, matching key,
 * not expired, and naming every requested host. Anything else is an error that says to rotate it:
 * the kit never silently replaces a key a running broker uses.
 */
async function keptBrokerPair(outDir: string, caPem: string, names: { hostnames: string[]; ips: string[] }): Promise<{ certPem: string; keyPem: string; serial: string } | undefined> {
  const certFile = path.join(outDir, KIT_FILES.cert);
  const keyFile = path.join(outDir, KIT_FILES.key);
  const [certPem, keyPem] = await Promise.all([readFile(certFile, 'utf8').catch(() => undefined), readFile(keyFile, 'utf8').catch(() => undefined)]);
  if (certPem === undefined && keyPem === undefined) return undefined;
  const rotate = 'run again with --rotate-broker-key to replace the key pair';
  if (certPem === undefined || keyPem === undefined) throw new Error(`${outDir} has ${certPem === undefined ? KIT_FILES.key : KIT_FILES.cert} but not ${certPem === undefined ? KIT_FILES.cert : KIT_FILES.key}; ${rotate}`);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) throw new Error(`${KIT_FILES.key} does not belong to ${KIT_FILES.cert}`);
  } catch (err) {
    throw new Error(`the broker key pair in ${outDir} is not usable (${(err as Error).message}); ${rotate}`);
  }
  const ca = new X509Certificate(caPem);
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) throw new Error(`${certFile} was not issued by this server's CA; ${rotate}`);
  if (Date.parse(cert.validTo) <= Date.now()) throw new Error(`${certFile} expired on ${cert.validTo}; ${rotate}`);
  const san = (cert.subjectAltName ?? '').split(/,\s*/);
  const missing = [...names.hostnames.filter((h) => !san.includes(`DNS:${h}`)), ...names.ips.filter((ip) => !san.includes(`IP Address:${ip}`))];
  if (missing.length > 0) throw new Error(`${certFile} does not name ${missing.join(', ')}; ${rotate}`);
  return { certPem, keyPem, serial: cert.serialNumber.toUpperCase() };
}

export function splitNames(names: readonly string[]): { hostnames: string[]; ips: string[] } {
  const unique = [...new Set(names.map((n) => n.trim()).filter(Boolean))];
  return { hostnames: unique.filter((n) => isIP(n) === 0), ips: unique.filter((n) => isIP(n) !== 0) };
}

export async function buildBrokerKit(deps: BrokerKitDeps, o: BrokerKitOptions): Promise<KitResult & { config: BrokerConfig; brokerKeyKept: boolean }> {
  const outDir = path.resolve(o.outDir);
  const installDir = o.installDir ? path.resolve(o.installDir) : '/etc/mosquitto/tds';
  const names = splitNames([o.host, ...(o.altNames ?? [])]);
  const publishDir = o.publishDir ? path.resolve(o.publishDir) : null;
  const reload = o.reload ?? { kind: 'none' };
  const overKit = existsSync(path.join(outDir, KIT_FILES.conf)) || existsSync(path.join(outDir, KIT_FILES.cert));
  const kept = o.rotateBrokerKey ? undefined : await keptBrokerPair(outDir, deps.issuance.core.caPem, names);
  let pair = kept;
  if (!pair) {
    const cert = await deps.issuance.identities.issueBrokerIdentity({ hostnames: names.hostnames, ips: names.ips }, o.actor ?? 'cli');
    if (!cert.privateKeyPem) throw new Error('no key was generated for the broker certificate');
    pair = { certPem: cert.pem, keyPem: cert.privateKeyPem, serial: cert.serialNumber };
  }
  const state = storeBrokerState(deps);
  const dynsec = o.dynsec === undefined ? { plugin: defaultDynsecPlugin(), stateFile: DEFAULT_DYNSEC_STATE } : o.dynsec;
  const cutoffs = await cutoffStore(deps.dataDir).load();
  const acl = await state.aclInput();
  const result = await writeBrokerKit({
    outDir,
    installDir,
    host: o.host,
    port: o.port,
    bindAddress: o.bindAddress,
    caPem: deps.issuance.core.caPem,
    brokerCertPem: pair.certPem,
    brokerKeyPem: pair.keyPem,
    crlPem: await state.crlPem(),
    // Identities whose live sessions the server still has to cut stay denied.
    acl: { ...acl, quarantined: [...new Set([...(acl.quarantined ?? []), ...cutoffs])] },
    ...(dynsec ? { sessionControl: dynsec } : {}),
    // Written over a kit in the folder the broker reads: only if that broker could load the result.
    ...(publishDir === outDir && overKit ? { liveBroker: { user: await brokerUser(reload) } } : {}),
  });
  const config: BrokerConfig = {
    host: o.host,
    port: o.port,
    installDir,
    publishDir,
    reload,
    sessionControl: dynsec !== null,
    brokerCertificateSerial: pair.serial,
    builtAt: new Date().toISOString(),
  };
  await saveBrokerConfig(deps.dataDir, config);
  return { ...result, config, brokerKeyKept: kept !== undefined };
}
