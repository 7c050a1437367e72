import type { JobQuestion, JobSnapshot } from '../../shared/jobs.js';
import type { Profile } from '../../shared/profile.js';
import type { CertificateIssuer } from '../certs/issuer.js';
import type { SerialDeviceDescriptor, SerialDeviceSource } from '../devices/serial-link.js';
import { JobFailure } from '../jobs/job-failure.js';
import { JobQueue } from '../jobs/queue.js';
import type { JobLogLine } from '../jobs/types.js';
import type { StationLog } from '../log/station-log.js';
import { BrokerMonitor } from '../monitor/broker-monitor.js';
import path from 'node:path';
import { loadBundle, type FirmwareBundle } from './bundle.js';
import { ImageHistory, lastBundleFromLog } from './image-history.js';
import { PortRates } from './port-rates.js';
import { esp32ProvisionJob, type Esp32JobSettings, type ReprovisionPolicy } from './provision-job.js';
import { resolveSecret } from './profile-file.js';

export interface ProvisionPortsOptions {
  profile: Profile;
  source: SerialDeviceSource;
  /** Port paths (or source ids) to provision, one job each. */
  ports: string[];
  issuer: CertificateIssuer;
  stationId: string;
  operator: string;
  reprovision: ReprovisionPolicy;
  /** Jobs at once (default: all ports). */
  concurrency?: number;
  log?: StationLog;
  /** Answers a question a job asks (CLI prompt, UI). Without it questions fail the job. */
  answer?: (job: JobSnapshot, question: JobQuestion) => Promise<string>;
  onUpdate?: (s: JobSnapshot) => void;
  onLog?: (l: JobLogLine) => void;
  env?: NodeJS.ProcessEnv;
  /** Overrides for tests and benches (e.g. a shorter boot-log window). */
  settings?: Partial<Esp32JobSettings>;
  /** An already connected monitor (else one is made from the profile's monitor identity). */
  monitor?: BrokerMonitor;
  /** An already loaded bundle (else it is read from the profile). */
  bundle?: FirmwareBundle;
  /** Aborting cancels every job (Ctrl+C in the CLI). */
  signal?: AbortSignal;
  /**
   * The station's data folder: the speed that worked on each port and the sector digests of flashed
   * bundles are kept there. Default: the station log's folder (none without a log file).
   */
  dataDir?: string;
}

export interface ProvisionPortsResult {
  jobs: JobSnapshot[];
  bundle: { name: string; version: string; sha256: string };
}

/**
 * The headless ESP32 flow the CLI runs: one job per port on a queue, recorded in the station log,
 * watched on the broker through the station's monitor identity. Returns the final snapshots.
 */
export async function provisionPorts(options: ProvisionPortsOptions): Promise<ProvisionPortsResult> {
  const { profile } = options;
  const env = options.env ?? process.env;
  if (!profile.esp32) throw new JobFailure('PROFILE_INVALID', `Profile "${profile.name}" has no esp32 section (bundle, wifi).`);
  const settings = jobSettings(profile, options, env);
  const bundle = options.bundle ?? (await loadBundle(profile.esp32.bundle));
  const devices = await resolvePorts(options.source, options.ports);
  let monitor = options.monitor;
  const ownMonitor = !monitor && profile.monitor !== undefined;
  if (!monitor && profile.monitor) {
    monitor = await BrokerMonitor.fromFiles(
      profile.monitor,
      profile.monitor.host ?? profile.broker.host,
      profile.monitor.port ?? profile.broker.port,
    );
  }
  const { portRates, imageHistory } = await flashMemory(options);
  const queue = new JobQueue({ concurrency: options.concurrency ?? Math.max(1, devices.length) });
  const offLog = options.log?.attach(queue);
  const offUpdate = queue.onUpdate((s) => {
    options.onUpdate?.(s);
    if (s.state === 'waiting-input' && s.question) void answerQuestion(queue, s, options.answer);
  });
  const offLines = options.onLog ? queue.onLog(options.onLog) : undefined;
  const cancelAll = (): void => {
    for (const j of queue.list()) queue.cancel(j.id);
  };
  options.signal?.addEventListener('abort', cancelAll, { once: true });
  try {
    devices.forEach((device, i) => {
      queue.submit(
        esp32ProvisionJob({
          device,
          openLink: () => options.source.link(device),
          bundle,
          issuer: options.issuer,
          ...(monitor ? { monitor } : {}),
          settings,
          seq: i + 1,
          ...(portRates ? { portRates } : {}),
          ...(imageHistory ? { imageHistory } : {}),
        }),
      );
    });
    const jobs = await queue.idle();
    return { jobs, bundle: { name: bundle.name, version: bundle.version, sha256: bundle.sha256 } };
  } finally {
    options.signal?.removeEventListener('abort', cancelAll);
    offUpdate();
    offLines?.();
    offLog?.();
    if (ownMonitor) await monitor?.close().catch(() => undefined);
  }
}

/** Port speeds and image history in the data folder (next to the station log unless told otherwise). */
async function flashMemory(options: ProvisionPortsOptions): Promise<{ portRates?: PortRates; imageHistory?: ImageHistory }> {
  const logFile = options.log?.file;
  const dataDir = options.dataDir ?? (logFile && logFile !== ':memory:' ? path.dirname(logFile) : undefined);
  if (!dataDir) return {};
  const portRates = await PortRates.open(dataDir, { onWarning: (m) => console.warn(m) });
  return { portRates, ...(options.log ? { imageHistory: ImageHistory.inDataDir(dataDir, lastBundleFromLog(options.log)) } : {}) };
}

const answering = new Set<string>();

async function answerQuestion(
  queue: JobQueue,
  s: JobSnapshot,
  answer: ProvisionPortsOptions['answer'],
): Promise<void> {
  const q = s.question!;
  if (answering.has(q.id)) return;
  answering.add(q.id);
  try {
    if (!answer) throw new Error('no operator to answer');
    const choice = await answer(s, q);
    queue.answer(s.id, q.id, choice);
  } catch {
    // Nobody can answer: cancel rather than hang.
    queue.cancel(s.id);
  } finally {
    answering.delete(q.id);
  }
}

export function jobSettings(profile: Profile, options: Pick<ProvisionPortsOptions, 'operator' | 'stationId' | 'reprovision' | 'settings'>, env: NodeJS.ProcessEnv): Esp32JobSettings {
  const esp = profile.esp32!;
  return {
    contaId: profile.contaId,
    codigoTemplate: profile.gateway.codigoTemplate,
    nomeTemplate: profile.gateway.nomeTemplate,
    broker: { host: profile.broker.host, port: profile.broker.port },
    wifi: { ssid: esp.wifi.ssid, password: esp.wifi.password ? resolveSecret(esp.wifi.password, 'esp32.wifi.password', env) : '' },
    baud: esp.baud,
    resetMode: esp.resetMode,
    onlineTimeoutMs: esp.onlineTimeoutSec * 1000,
    keyType: profile.certificate.keyType,
    keyMode: profile.certificate.keyMode,
    operator: options.operator,
    stationId: options.stationId,
    reprovision: options.reprovision,
    ...(profile.certificate.validityDays ? { validityDays: profile.certificate.validityDays } : {}),
    ...options.settings,
  };
}

/** Finds each requested port in the source; a port the source does not list is used as a plain path. */
export async function resolvePorts(source: SerialDeviceSource, ports: string[]): Promise<SerialDeviceDescriptor[]> {
  const listed = await source.list().catch(() => [] as SerialDeviceDescriptor[]);
  const seen = new Set<string>();
  return ports.map((p) => {
    const d = listed.find((x) => x.path === p || x.id === p) ?? { id: p, path: p, resetMode: 'auto' as const, likelyEsp32: false };
    if (seen.has(d.path)) throw new JobFailure('PROFILE_INVALID', `Port ${d.path} is listed twice.`);
    seen.add(d.path);
    return d;
  });
}
