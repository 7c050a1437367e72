/**
 * Everything broker-related that runs inside `tds-server serve`:
 * - publication of every new CRL (and the ACL) to the Mosquitto kit folder recorded by broker-kit,
 *   with a reload, and to the embedded broker;
 * - the embedded aedes broker (`serve --broker`);
 * - the server's own MQTT client: presence, telemetry, renewal over MQTT.
 * It hooks into the issuance core only through its events. With several server instances on one
 * PostgreSQL store (`sharedConsumers`), the device topics are read through a shared subscription, so
 * each message is handled by one instance, and presence timeouts are decided in the store.
 */
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { serviceCommonName } from '../contract/index.js';
import type { CertificateAuthority } from '../ca/authority.js';
import type { CrlPublisher } from '../service/crl-publisher.js';
import type { ServerEvents } from '../service/events.js';
import type { IssuanceServices } from '../service/issuance.js';
import type { MqttRepository } from '../store/mqtt-repository.js';
import type { Repository } from '../store/repository.js';
// Types only: the MQTT client (mqtt.js) and the embedded broker (aedes) are loaded when used, so a
// server without --broker/--mqtt-url does not carry them (start-up time, idle memory).
import type { MqttService } from '../mqtt/service.js';
import { MqttStore } from '../mqtt/store.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { loadBrokerConfig } from './broker-config.js';
import type { EmbeddedBroker } from './embedded.js';
import { cutoffStore } from './cutoff-list.js';
import { identityDir, issueServiceIdentity, readIdentity, writeIdentity, type ServiceIdentity } from './identity-files.js';
import { splitNames, storeBrokerState } from './kit-builder.js';
import { PublicationLog, type BrokerStatus } from './publication-log.js';
import { BrokerPublisher, type PublishResult } from './publisher.js';
import { MosquittoSessionControl } from './session-control.js';

export interface BrokerServicesDeps {
  dataDir: string;
  ca: CertificateAuthority;
  repo: Repository;
  /** The MQTT side's storage (telemetry, presence, ACL queries) on the same store. */
  mqttRepository: MqttRepository;
  /** Several server instances read the device topics: shared subscriptions, presence timeouts in the store. */
  sharedConsumers?: boolean;
  issuance: IssuanceServices;
  crl: CrlPublisher;
  events: ServerEvents;
  log?: (line: string) => void;
}

export interface BrokerServicesOptions {
  /** `serve --broker`: run the embedded broker on this port (0 = any free port). */
  embedded?: { port: number; host?: string; altNames?: string[] };
  /**
   * The server's MQTT client. Default: connect to the embedded broker when it runs, else none.
   * For Mosquitto: its address and the server identity (`tds-server-<name>` from `identity create`).
   */
  mqtt?: { host: string; port: number; identity: string; servername?: string };
  /** Offline after this long without any message from the device (default 180 s). */
  presenceTimeoutMs?: number;
  telemetryRetentionDays?: number;
}

export interface BrokerServices {
  store: MqttStore;
  publisher: BrokerPublisher;
  embedded: EmbeddedBroker | undefined;
  mqtt: MqttService | undefined;
  /** Sends `cert_renew` to a device over MQTT; throws when there is no MQTT client or broker. */
  requestRenewal(mac: string, commandId?: string): Promise<string>;
  /** Configured brokers and the last publication to each (admin console). */
  status(): Promise<BrokerStatus>;
  stop(): Promise<void>;
}

const EMBEDDED_DIR = 'embedded-broker';
/** The shared-subscription group of the server instances (`$share/tds-server/…`). */
export const SHARE_GROUP = 'tds-server';
const RENEW_BEFORE_MS = 30 * 86_400_000;
/** How often a live session that could not be disconnected is tried again (also on every reconnect). */
const CUTOFF_RETRY_MS = 30_000;
/** How often renewals waiting for devices that are online are delivered (resends are rate-limited by the delivery service). */
const DELIVERY_PASS_MS = 60_000;

/** The embedded broker's TLS certificate, kept in the data folder and re-issued when due or renamed. */
async function embeddedBrokerCertificate(deps: BrokerServicesDeps, names: string[]): Promise<{ certPem: string; keyPem: string }> {
  const dir = path.join(deps.dataDir, EMBEDDED_DIR);
  const certFile = path.join(dir, 'broker.crt');
  const keyFile = path.join(dir, 'broker.key');
  const namesFile = path.join(dir, 'names.json');
  try {
    const [certPem, keyPem, saved] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8'), readFile(namesFile, 'utf8')]);
    const cert = new X509Certificate(certPem);
    const record = await deps.repo.getCertificateBySerial(cert.serialNumber.toUpperCase());
    const fresh = Date.parse(cert.validTo) - Date.now() > RENEW_BEFORE_MS;
    if (fresh && record?.status === 'active' && saved === JSON.stringify(names) && cert.checkIssued(new X509Certificate(deps.ca.certificatePem))) {
      return { certPem, keyPem };
    }
  } catch {
    /* missing or unreadable: issue a new one */
  }
  const split = splitNames(names);
  const cert = await deps.issuance.identities.issueBrokerIdentity({ hostnames: split.hostnames, ips: split.ips }, 'server');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(keyFile, cert.privateKeyPem!, 0o600);
  await writeFileAtomic(certFile, cert.pem, 0o644);
  await writeFileAtomic(namesFile, JSON.stringify(names), 0o644);
  return { certPem: cert.pem, keyPem: cert.privateKeyPem! };
}

/**
 * The server's own MQTT identity from `<data>/identities/<cn>/`. `if-missing`: issued when the
 * folder has none, but a revoked or expiring one is an error (an admin's revocation must stick);
 * `always`: also re-issued when revoked or due (the embedded broker's internal identity).
 */
export async function ensureServerIdentity(deps: BrokerServicesDeps, name: string, issue: 'if-missing' | 'always'): Promise<ServiceIdentity> {
  const cn = serviceCommonName('server', name);
  const dir = identityDir(deps.dataDir, cn);
  const existing = await readIdentity(dir);
  if (existing) {
    const record = await deps.repo.getCertificateBySerial(existing.serialNumber);
    if (record?.status === 'active' && Date.parse(existing.expiresAt) - Date.now() > RENEW_BEFORE_MS) return existing;
    if (issue === 'if-missing') {
      throw new Error(
        `the MQTT identity ${cn} in ${dir} is ${record?.status === 'active' ? 'about to expire' : (record?.status ?? 'unknown to this server')}; run "tds-server identity create server --name ${name} --replace"`,
      );
    }
  }
  const id = await issueServiceIdentity(deps.issuance, 'server', name, 'server');
  await writeIdentity(dir, id);
  return id;
}

export async function startBrokerServices(deps: BrokerServicesDeps, opts: BrokerServicesOptions = {}): Promise<BrokerServices> {
  const log = deps.log ?? ((): void => undefined);
  const fail = (what: string) => (err: unknown): void => log(`[broker] ${what}: ${(err as Error).message}`);
  const store = new MqttStore(deps.mqttRepository);
  const kit = await loadBrokerConfig(deps.dataDir);
  let handedOutCrl: number | null = null;
  const publisher = new BrokerPublisher({
    // The latest stored CRL, never a new signature: publications run inside the announcement of a
    // new CRL, which waits for them (the schedule keeps the stored CRL fresh).
    state: storeBrokerState({ issuance: deps.issuance, crl: deps.crl, store }, async () => {
      const latest = await deps.repo.getLatestCrl();
      if (!latest) throw new Error('no CRL has been signed yet');
      handedOutCrl = latest.crlNumber;
      return latest.pem;
    }),
    cutoffs: cutoffStore(deps.dataDir),
    // Read again on every publication: broker-kit may be run while the server is running.
    target: async () => {
      const k = await loadBrokerConfig(deps.dataDir);
      return k?.publishDir ? { dir: k.publishDir, reload: k.reload, sessionControl: k.sessionControl } : undefined;
    },
    log,
  });

  let embedded: EmbeddedBroker | undefined;
  if (opts.embedded) {
    const host = opts.embedded.host ?? '127.0.0.1';
    const names = [...new Set(['localhost', '127.0.0.1', ...(host === '0.0.0.0' || host === '::' ? [] : [host]), ...(opts.embedded.altNames ?? [])])];
    const tlsFiles = await embeddedBrokerCertificate(deps, names);
    const { EmbeddedBroker } = await import('./embedded.js');
    embedded = await EmbeddedBroker.start({
      host,
      port: opts.embedded.port,
      caPem: deps.ca.certificatePem,
      certPem: tlsFiles.certPem,
      keyPem: tlsFiles.keyPem,
      crlPem: (await deps.crl.ensureFresh()).pem,
      log,
    });
    publisher.setEmbedded(embedded);
    log(`[broker] embedded MQTT broker (mTLS) on ${embedded.host}:${embedded.port}`);
  }

  let mqtt: MqttService | undefined;
  const connection = opts.mqtt
    ? { ...opts.mqtt, identity: await ensureServerIdentity(deps, opts.mqtt.identity.replace(/^tds-server-/, ''), 'if-missing') }
    : embedded
      ? { host: '127.0.0.1', port: embedded.port, servername: 'localhost', identity: await ensureServerIdentity(deps, 'embedded', 'always') }
      : undefined;
  if (connection) {
    const [{ MqttService }, { RepositoryRenewalBackend }] = await Promise.all([import('../mqtt/service.js'), import('../mqtt/renewal-backend.js')]);
    mqtt = new MqttService({
      connection: {
        host: connection.host,
        port: connection.port,
        servername: connection.servername,
        caPem: deps.ca.certificatePem,
        certPem: connection.identity.certPem,
        keyPem: connection.identity.keyPem,
        clientId: connection.identity.cn,
      },
      presence: { freshnessMs: opts.presenceTimeoutMs ?? 180_000, sink: store, timeoutsInStore: deps.sharedConsumers ?? false },
      ...(deps.sharedConsumers ? { shareGroup: SHARE_GROUP } : {}),
      telemetry: { sink: store, retentionDays: opts.telemetryRetentionDays ?? 30 },
      renewal: { backend: new RepositoryRenewalBackend({ ca: deps.ca, repo: deps.repo, store, issuance: deps.issuance }) },
      // Mosquitto: the answers of its dynamic-security plugin and the reload markers (session-control.ts).
      ...(opts.mqtt ? { extraSubscriptions: MosquittoSessionControl.subscriptions } : {}),
      log,
    });
    // Live sessions on revoked certificates are disconnected on the Mosquitto this client talks to
    // (the embedded broker does it itself, per certificate serial).
    if (opts.mqtt) publisher.setSessions(new MosquittoSessionControl(mqtt.client, connection.identity.cn));
  }
  // Every publication's outcome is kept per broker for the admin console (publication-log.ts).
  const publications = new PublicationLog();
  const publish = async (): Promise<PublishResult> => {
    const targets = { mosquitto: await loadBrokerConfig(deps.dataDir).catch(() => undefined), embedded: embedded !== undefined };
    try {
      const r = await publisher.publish();
      publications.record(targets, handedOutCrl, { disconnected: r.disconnected.length });
      return r;
    } catch (err) {
      publications.record(targets, handedOutCrl, err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
  };
  async function revoked(kind: string, commonName: string, gatewayId: number | null): Promise<void> {
    store.invalidate(commonName);
    if (kind === 'device' && (await store.deviceCertificates(commonName)).length === 0) {
      mqtt?.presence.markOffline(commonName);
      if (gatewayId !== null) await store.setGatewayOffline(gatewayId);
    }
  }
  const retryCutoffs = (): void => {
    if (publisher.pendingCutoffs.length > 0) publish().catch(fail('retry of the live-session cut-off failed'));
  };
  mqtt?.client.on('connected', retryCutoffs);
  const retryTimer = setInterval(retryCutoffs, CUTOFF_RETRY_MS);
  retryTimer.unref();

  // Renewals that reach the device (service/renewal-delivery.ts): cert_renew when a device with a
  // waiting renewal comes online, and a periodic pass over the devices online now.
  const deliveries = deps.issuance.deliveries;
  let deliveryTimer: NodeJS.Timeout | undefined;
  if (mqtt?.renewal) {
    const client = mqtt;
    deliveries.attachSender(async (mac, commandId) => {
      await client.requestRenewal(mac, commandId);
    });
    client.presence.on('change', (u) => {
      if (u.isOnline && client.client.connected) deliveries.onOnline(u.mac).catch(fail(`renewal delivery to ${u.mac} failed`));
    });
    deliveryTimer = setInterval(() => {
      if (client.client.connected) deliveries.deliverToOnline().catch(fail('renewal delivery pass failed'));
    }, DELIVERY_PASS_MS);
    deliveryTimer.unref();
  }

  const unsubscribe = [
    // Awaited by the CRL's announcement: a revocation answers once live sessions on it are cut.
    deps.events.on('crl.updated', () => publish().then(() => undefined, fail('CRL publication failed'))),
    deps.events.on('certificate.issued', (e) => {
      store.invalidate(e.commonName);
      // A new service identity needs its ACL block; a re-provisioned identity must leave the deny list,
      // also when the publication that quarantines it (after a revoke) is still running and may have
      // read the state before this issuance: publish() then queues one more pass over fresh state.
      if (e.kind === 'service' || publisher.lastQuarantined.has(e.commonName) || publisher.busy) {
        publish().catch(fail('ACL publication failed'));
      }
    }),
    deps.events.on('certificate.revoked', (e) => revoked(e.kind, e.commonName, e.gatewayId)),
    // Another instance on the same store issued or revoked a certificate.
    deps.events.on('certificate.remote', async (e) => {
      store.invalidate(e.commonName);
      if (e.change === 'revoked') await revoked(e.kind, e.commonName, e.gatewayId);
      else if (e.kind === 'service' || publisher.lastQuarantined.has(e.commonName)) await publish().then(() => undefined, fail('ACL publication failed'));
    }),
  ];

  // Revocations from now on cut live sessions off, also before a kit folder exists.
  await publisher.prime().catch(fail('reading the CRL failed'));
  // Bring the broker files in line with the store (the CLI may have changed it while we were down).
  if (kit?.publishDir || embedded) await publish().catch(fail('initial publication failed'));
  mqtt?.start();

  return {
    store,
    publisher,
    embedded,
    mqtt,
    async requestRenewal(mac: string, commandId?: string) {
      if (!mqtt) throw new Error('this server has no MQTT connection (start it with --broker or --mqtt-url)');
      return mqtt.requestRenewal(mac, commandId);
    },
    async status() {
      const k = await loadBrokerConfig(deps.dataDir).catch(() => undefined);
      return publications.status(k, embedded ? { host: embedded.host, port: embedded.port } : undefined, { enabled: mqtt !== undefined, connected: mqtt?.client.connected ?? false });
    },
    async stop() {
      clearInterval(retryTimer);
      if (deliveryTimer) clearInterval(deliveryTimer);
      deliveries.attachSender(undefined);
      for (const u of unsubscribe) u();
      await mqtt?.stop();
      await embedded?.close();
    },
  };
}
