/**
 * `startServer()`: the whole server in this process. The `tds-server serve` command uses it, and
 * so does the desktop app in standalone mode (bundled server on 127.0.0.1, same HTTP client).
 */
import type { Server as HttpsServer } from 'node:https';
import { networkInterfaces } from 'node:os';
import { isIP } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { CertificateAuthority } from '../ca/authority.js';
import { openCa } from '../ca/ca-backend.js';
import { birthCrlPublisher, loadOrCreateBirthCa } from '../config/birth-ca.js';
import { resolveDatabase } from '../config/database.js';
import { dataPath, loadSettings, type Settings } from '../config/data-dir.js';
import { resolveSchedule, type Schedule } from '../config/schedule.js';
import { CrlPublisher } from '../service/crl-publisher.js';
import { isoSeconds } from '../service/clock.js';
import { ServerEvents } from '../service/events.js';
import { createIssuanceServices, type IssuanceServices } from '../service/issuance.js';
import { Scheduler } from '../service/scheduler.js';
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
  /** Unlocks a CA key sealed in the data folder; not needed when `ca` is given. */
  passphrase?: string;
  /** Unlocks a CA key held in a PKCS#11 token (the data folder says which store it is). */
  pkcs11Pin?: string;
  /** An open CA (the caller keeps it and closes it). */
  ca?: CertificateAuthority;
  /**
   * The birth CA of zero-touch onboarding (the caller keeps it and closes it); by default opened
   * with the passphrase or the token PIN (and made first when the data folder predates it).
   * Without either, birth identities answer 503.
   */
  birthCa?: CertificateAuthority;
  /** Turns open enrolment on for this run (the `bootstrap.openEnrolment` setting stays as it is). */
  openEnrolment?: boolean;
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
  /** Overrides of config.json's `schedule` (serve's --renewal-every, --renew-within, --crl-every). */
  schedule?: { renewalEvery?: string; renewWithin?: string; crlEvery?: string };
  /** Overrides config.json's `presenceHistoryDays`. */
  presenceHistoryDays?: number;
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
  /** The birth CA of zero-touch onboarding (absent when no passphrase, token PIN or `birthCa` was given). */
  birthCa: CertificateAuthority | undefined;
  store: StoreBackend;
  repo: Repository;
  crl: CrlPublisher;
  settings: Settings;
  app: FastifyInstance;
  /** CRL/ACL publication to the broker, embedded broker, presence/telemetry/renewal over MQTT. */
  broker: BrokerServices;
  /**
   * Runs the renewal sweep and the CRL re-sign on the schedule (with several instances, each run in
   * one of them); its state is on /healthz.
   */
  scheduler: Scheduler;
  schedule: Schedule;
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
const DAY_MS = 86_400_000;
const BOOTSTRAP_SWEEP_MS = 30_000;
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
  if (options.presenceHistoryDays) settings.presenceHistoryDays = options.presenceHistoryDays;
  const schedule = resolveSchedule(settings.schedule, options.schedule, settings.device.validityDays);
  if (options.openEnrolment) settings.bootstrap.openEnrolment = true;

  const database = options.database ?? resolveDatabase({ dataDir: options.dataDir, settings });
  if (database.kind === 'postgres' && options.broker?.embedded) throw new Error(EMBEDDED_BROKER_WITH_POSTGRES);

  // A CA opened here (file or token key store) is closed with the server; a given one stays the caller's.
  const ca = options.ca ?? (await openCa(options.dataDir, { passphrase: options.passphrase, pin: options.pkcs11Pin }));
  logger.info('CA key', { store: ca.keyDescription });
  /** Started pieces, closed in reverse order by close() or when start-up fails. */
  const started: { close(): Promise<void> }[] = options.ca === undefined ? [{ close: () => ca.close() }] : [];
  const closeStarted = async (): Promise<void> => {
    for (const c of started.splice(0).reverse()) await c.close().catch((err: unknown) => logger.error('stopping failed', { error: (err as Error).message }));
  };
  try {
    const store = await openStore(database, { listen: true, log: (line) => logger.info(line) });
    started.push(store);
    return await serve(options, { logger, host, tlsMode, settings, schedule, ca, store, started }, closeStarted);
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
  schedule: Schedule;
  ca: CertificateAuthority;
  store: StoreBackend;
  /** Started pieces to close, in reverse, when start-up fails. */
  started: { close(): Promise<void> }[];
}

async function serve(options: StartServerOptions, parts: ServeParts, closeStarted: () => Promise<void>): Promise<RunningServer> {
  const { logger, host, tlsMode, settings, schedule, ca, store } = parts;
  await store.bindCa(ca.certificatePem);
  const repo = store.repo;
  const cluster = store.cluster;
  const events = new ServerEvents((name, err) => logger.error(`event listener for ${name} failed`, { error: err instanceof Error ? err.message : String(err) }));
  const crl = new CrlPublisher({ ca, repo, events, nextUpdateDays: settings.crl.nextUpdateDays, crlFile: dataPath(options.dataDir, 'crl'), ...(cluster ? { cluster } : {}) });
  let birthCa = options.birthCa;
  if (!birthCa && (options.passphrase !== undefined || options.pkcs11Pin !== undefined)) {
    const unlock = { passphrase: options.passphrase, pin: options.pkcs11Pin };
    const loaded = await loadOrCreateBirthCa({ dataDir: options.dataDir, unlock, repo, settings, actor: 'server', keyType: ca.keyType });
    if (loaded.created) logger.info('made the birth CA of zero-touch onboarding (this data folder predates it)', { subject: loaded.ca.subject });
    birthCa = loaded.ca;
    const own = loaded.ca;
    parts.started.push({ close: () => own.close() });
  }
  if (birthCa) await store.bindCa(birthCa.certificatePem, 'birth');
  const birthCrl = birthCa ? birthCrlPublisher(birthCa, repo, settings, options.dataDir, 'server', cluster) : undefined;
  const service = createIssuanceServices({
    ca,
    repo,
    settings,
    events,
    crl,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(birthCa && birthCrl ? { birth: { ca: birthCa, crl: birthCrl } } : {}),
  });

  let https: { key: string; cert: string } | undefined;
  const names = tlsNames(host, options.hostnames ?? []);
  const makeTls = async (): Promise<{ key: string; cert: string }> => {
    const c = await ca.issueTlsServerCertificate({ ...names, validityDays: TLS_CERT_DAYS });
    return { key: c.privateKeyPem!, cert: c.pem + ca.certificatePem };
  };
  if (tlsMode === 'auto') https = await makeTls();
  else if (typeof tlsMode === 'object') https = { key: tlsMode.keyPem, cert: tlsMode.certPem };

  await crl.ensureFresh();
  await birthCrl?.ensureFresh();
  const onError = (err: unknown): void => logger.error('background task failed', { error: err instanceof Error ? err.message : String(err) });
  // Other instances: their CRLs are adopted (and reach this instance's brokers), certificate changes reach the broker side.
  const relay = cluster ? relayCertificateEvents(cluster, events, [crl, ...(birthCrl ? [birthCrl] : [])], onError) : undefined;
  if (relay) parts.started.push(relay);
  const broker = await startBrokerServices(
    { dataDir: options.dataDir, ca, repo, mqttRepository: store.mqtt, issuance: service, crl, events, sharedConsumers: cluster !== undefined, log: (line) => logger.info(line) },
    options.broker ?? {},
  );
  parts.started.push({ close: () => broker.stop() });
  await repo.purgeExpiredPendingKeys(isoSeconds());
  const readiness = new Readiness({ store, ca });

  const scheduler = new Scheduler(
    {
      // The horizon of the sweep's cancellation is its next run (a day when serve does not run it).
      renewal: { everyMs: schedule.renewal.everyMs, run: () => service.jobs.renewal('scheduler', schedule.renewal.withinMs, schedule.renewal.everyMs ?? DAY_MS) },
      // The CRL is also kept fresh at half its lifetime (crl-publisher.ts): no re-sign at first start.
      crl: { everyMs: schedule.crl.everyMs, run: () => service.jobs.crl('scheduler'), firstRunAfterEvery: true },
    },
    () => service.jobs.lastRuns(),
    (job, err) => logger.error(`scheduled ${job} run failed`, { error: err instanceof Error ? err.message : String(err) }),
    cluster ? { cluster } : {},
  );

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
    health: { version: SERVER_VERSION, schedule: () => scheduler.status() },
    ...(https ? { https } : {}),
  });
  // Closed first: stop accepting, let requests in flight finish (they may still need the broker side
  // and the store), then the broker side, the relay and the store.
  parts.started.push({ close: () => app.close() });
  await app.listen({ host, port: options.port ?? 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 0);

  crl.startSchedule(onError);
  await scheduler.start();
  let minutes = 0;
  birthCrl?.startSchedule(onError);
  const purge = setInterval(() => {
    repo.purgeExpiredPendingKeys(isoSeconds()).catch(onError);
    // Hourly: the presence history's retention.
    if (minutes++ % 60 === 0) repo.purgePresenceEvents(isoSeconds(new Date(Date.now() - settings.presenceHistoryDays * DAY_MS))).catch(onError);
  }, 60_000);
  purge.unref();
  // Zero-touch: pending requests expire, never-fetched certificates are revoked, old rows pruned.
  const sweep = setInterval(() => {
    service.bootstrap.sweep().catch(onError);
  }, BOOTSTRAP_SWEEP_MS);
  sweep.unref();
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
      scheduler.stop();
      crl.stop();
      birthCrl?.stop();
      clearInterval(purge);
      clearInterval(sweep);
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
    birthCa,
    store,
    repo,
    crl,
    settings,
    app,
    broker,
    scheduler,
    schedule,
    readiness: () => readiness.report(),
    async drain(delayMs = 0) {
      readiness.draining = true;
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      await close();
    },
    close,
  };
}
