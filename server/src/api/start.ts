/**
 * `startServer()`: the whole server in this process. The `tds-server serve` command uses it, and
 * so does the desktop app in standalone mode (bundled server on 127.0.0.1, same HTTP client).
 */
import type { Server as HttpsServer } from 'node:https';
import { networkInterfaces } from 'node:os';
import { isIP } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { CertificateAuthority } from '../ca/authority.js';
import { loadCa } from '../ca/key-store.js';
import { resolveDatabase } from '../config/database.js';
import { dataPath, loadSettings, type Settings } from '../config/data-dir.js';
import { CrlPublisher } from '../service/crl-publisher.js';
import { isoSeconds } from '../service/clock.js';
import { ServerEvents } from '../service/events.js';
import { createIssuanceServices, type IssuanceServices } from '../service/issuance.js';
import type { DatabaseConfig, StoreBackend } from '../store/backend.js';
import { openStore } from '../store/open.js';
import type { Repository } from '../store/repository.js';
import { stderrLogger, type Logger } from '../util/logger.js';
import { SERVER_VERSION } from '../version.js';
import { API_PREFIX, buildApp } from './app.js';
import { relayCertificateEvents } from './cluster-relay.js';
import { Readiness, type ReadinessReport } from './readiness.js';
import { brokerApiHooks } from '../broker/api-routes.js';
import { startBrokerServices, type BrokerServices, type BrokerServicesOptions } from '../broker/services.js';

export interface StartServerOptions {
  dataDir: string;
  /** Unlocks the CA key; not needed when `ca` is given. */
  passphrase?: string;
  ca?: CertificateAuthority;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (any free port; read it back from the result). */
  port?: number;
  /**
   * "auto" (default): an HTTPS certificate from the server's own CA, made at start-up and kept in
   * memory only; or given PEM files; or "off" (plain HTTP, loopback only unless allowInsecureHttp).
   */
  tls?: 'auto' | 'off' | { certPem: string; keyPem: string };
  allowInsecureHttp?: boolean;
  /** Extra host names/IPs for the automatic HTTPS certificate. */
  hostnames?: string[];
  /** Overrides of the settings file for this run. */
  mqtt?: { broker?: string; port?: number };
  deviceValidityDays?: number;
  authFailures?: { max: number; windowMs: number };
  publicRateLimit?: { max: number; windowMs: number };
  trustProxy?: boolean;
  logger?: Logger;
  /** MQTT side: embedded broker, the server's MQTT client (presence, telemetry, renewal). */
  broker?: BrokerServicesOptions;
  /** The time issuance decisions and records use (default: the system clock). */
  clock?: () => Date;
  /** The store (default: `--database`/$TDS_DATABASE_URL/config.json, else SQLite in the data folder; config/database.ts). */
  database?: DatabaseConfig;
}

export interface RunningServer {
  /** e.g. https://127.0.0.1:8443 */
  url: string;
  /** url + /api/v1 (the seed's base URL) */
  apiUrl: string;
  host: string;
  port: number;
  caPem: string;
  tls: boolean;
  events: ServerEvents;
  service: IssuanceServices;
  ca: CertificateAuthority;
  store: StoreBackend;
  repo: Repository;
  crl: CrlPublisher;
  settings: Settings;
  app: FastifyInstance;
  /** CRL/ACL publication to the broker, embedded broker, presence/telemetry/renewal over MQTT. */
  broker: BrokerServices;
  /** What `/readyz` answers: database reachable, CA loaded, not draining. */
  readiness(): Promise<ReadinessReport>;
  /**
   * Graceful stop (SIGTERM): `/readyz` answers 503 at once so a load balancer stops sending, after
   * `delayMs` the listener closes (requests in flight finish; new ones on kept-alive connections get
   * 503), then the broker side and the store.
   */
  drain(delayMs?: number): Promise<void>;
  close(): Promise<void>;
}

export const EMBEDDED_BROKER_WITH_POSTGRES =
  'the embedded MQTT broker (--broker) serves a single server instance and has no shared subscriptions; with a PostgreSQL store (several instances) run Mosquitto: "tds-server broker-kit", then serve with --mqtt-url';

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

const TLS_CERT_DAYS = 90;
/** Re-issued daily (in memory), so a long-running server never serves an old certificate. */
const TLS_RENEW_MS = 86_400_000;

function tlsNames(host: string, extra: readonly string[]): { hostnames: string[]; ips: string[] } {
  const hostnames = new Set<string>(['localhost']);
  const ips = new Set<string>(['127.0.0.1', '::1']);
  const add = (name: string): void => {
    if (isIP(name)) {
      if (name !== '0.0.0.0' && name !== '::') ips.add(name);
    } else hostnames.add(name.toLowerCase());
  };
  add(host);
  extra.forEach(add);
  if (host === '0.0.0.0' || host === '::') {
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (!a.internal) ips.add(a.address.split('%')[0]!);
  }
  return { hostnames: [...hostnames], ips: [...ips] };
}

export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const logger = options.logger ?? stderrLogger();
  const host = options.host ?? '127.0.0.1';
  const tlsMode = options.tls ?? 'auto';
  if (tlsMode === 'off' && !isLoopback(host) && !options.allowInsecureHttp) {
    throw new Error(`refusing to serve plain HTTP on ${host}: tokens and private keys would cross the network unencrypted. Use TLS, bind 127.0.0.1, or force it explicitly (--allow-insecure-http).`);
  }

  const settings = await loadSettings(options.dataDir);
  if (options.mqtt?.broker) settings.mqtt.broker = options.mqtt.broker;
  if (options.mqtt?.port) settings.mqtt.port = options.mqtt.port;
  if (options.deviceValidityDays) settings.device.validityDays = options.deviceValidityDays;

  const database = options.database ?? resolveDatabase({ dataDir: options.dataDir, settings });
  if (database.kind === 'postgres' && options.broker?.embedded) throw new Error(EMBEDDED_BROKER_WITH_POSTGRES);

  let ca = options.ca;
  if (!ca) {
    if (options.passphrase === undefined) throw new Error('the CA passphrase is required to start the server');
    ca = await loadCa(options.dataDir, options.passphrase);
  }

  const store = await openStore(database, { listen: true, log: (line) => logger.info(line) });
  const started: { close(): Promise<void> }[] = [store];
  const closeStarted = async (): Promise<void> => {
    for (const c of started.splice(0).reverse()) await c.close().catch((err: unknown) => logger.error('stopping failed', { error: (err as Error).message }));
  };
  try {
    return await serve(options, { logger, host, tlsMode, settings, ca, store, started }, closeStarted);
  } catch (err) {
    await closeStarted();
    throw err;
  }
}

interface ServeParts {
  logger: Logger;
  host: string;
  tlsMode: NonNullable<StartServerOptions['tls']>;
  settings: Settings;
  ca: CertificateAuthority;
  store: StoreBackend;
  /** Started pieces to close, in reverse, when start-up fails. */
  started: { close(): Promise<void> }[];
}

async function serve(options: StartServerOptions, parts: ServeParts, closeStarted: () => Promise<void>): Promise<RunningServer> {
  const { logger, host, tlsMode, settings, ca, store } = parts;
  await store.bindCa(ca.certificatePem);
  const repo = store.repo;
  const cluster = store.cluster;
  const events = new ServerEvents((name, err) => logger.error(`event listener for ${name} failed`, { error: err instanceof Error ? err.message : String(err) }));
  const crl = new CrlPublisher({ ca, repo, events, nextUpdateDays: settings.crl.nextUpdateDays, crlFile: dataPath(options.dataDir, 'crl'), ...(cluster ? { cluster } : {}) });
  const service = createIssuanceServices({ ca, repo, settings, events, crl, ...(options.clock ? { clock: options.clock } : {}) });

  let https: { key: string; cert: string } | undefined;
  const names = tlsNames(host, options.hostnames ?? []);
  const makeTls = async (): Promise<{ key: string; cert: string }> => {
    const c = await ca.issueTlsServerCertificate({ ...names, validityDays: TLS_CERT_DAYS });
    return { key: c.privateKeyPem!, cert: c.pem + ca.certificatePem };
  };
  if (tlsMode === 'auto') https = await makeTls();
  else if (typeof tlsMode === 'object') https = { key: tlsMode.keyPem, cert: tlsMode.certPem };

  await crl.ensureFresh();
  const onError = (err: unknown): void => logger.error('background task failed', { error: err instanceof Error ? err.message : String(err) });
  // Other instances: their CRLs are adopted (and reach this instance's brokers), certificate changes reach the broker side.
  const relay = cluster ? relayCertificateEvents(cluster, events, crl, onError) : undefined;
  if (relay) parts.started.push(relay);
  const broker = await startBrokerServices(
    { dataDir: options.dataDir, ca, repo, mqttRepository: store.mqtt, issuance: service, crl, events, sharedConsumers: cluster !== undefined, log: (line) => logger.info(line) },
    options.broker ?? {},
  );
  parts.started.push({ close: () => broker.stop() });
  await repo.purgeExpiredPendingKeys(isoSeconds());
  const readiness = new Readiness({ store, ca });

  const app = await buildApp({
    service,
    repo,
    crl,
    mqtt: settings.mqtt,
    authFailures: options.authFailures ?? { max: 20, windowMs: 60_000 },
    publicRateLimit: options.publicRateLimit ?? { max: 300, windowMs: 60_000 },
    limits: { counters: store.counters, ...(cluster ? { cluster } : {}) },
    readiness: () => readiness.report(),
    trustProxy: options.trustProxy ?? false,
    logger,
    version: SERVER_VERSION,
    broker: brokerApiHooks({ service, repo, broker, prefix: API_PREFIX }),
    ...(https ? { https } : {}),
  });
  // Closed first: stop accepting, let requests in flight finish (they may still need the broker side
  // and the store), then the broker side, the relay and the store.
  parts.started.push({ close: () => app.close() });
  await app.listen({ host, port: options.port ?? 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 0);

  crl.startSchedule(onError);
  const purge = setInterval(() => {
    repo.purgeExpiredPendingKeys(isoSeconds()).catch(onError);
  }, 60_000);
  purge.unref();
  const tlsRenew =
    tlsMode === 'auto'
      ? setInterval(() => {
          makeTls()
            .then((t) => (app.server as HttpsServer).setSecureContext({ key: t.key, cert: t.cert, minVersion: 'TLSv1.2' }))
            .catch(onError);
        }, TLS_RENEW_MS)
      : undefined;
  tlsRenew?.unref();

  const urlHost = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : isIP(host) === 6 ? `[${host}]` : host;
  const url = `${https ? 'https' : 'http'}://${urlHost}:${port}`;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      readiness.draining = true;
      crl.stop();
      clearInterval(purge);
      if (tlsRenew) clearInterval(tlsRenew);
      await closeStarted();
    })());
  return {
    url,
    apiUrl: `${url}${API_PREFIX}`,
    host,
    port,
    caPem: ca.certificatePem,
    tls: https !== undefined,
    events,
    service,
    ca,
    store,
    repo,
    crl,
    settings,
    app,
    broker,
    readiness: () => readiness.report(),
    async drain(delayMs = 0) {
      readiness.draining = true;
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      await close();
    },
    close,
  };
}
