import type { JobQuestion, JobSnapshot } from '../../shared/jobs.js';
import { DEFAULT_PI_PYTHON } from '../../shared/pi-agent.js';
import type { Profile } from '../esp32/profile-file.js';
import { JobFailure } from '../jobs/job-failure.js';
import { JobQueue } from '../jobs/queue.js';
import type { JobLogLine } from '../jobs/types.js';
import type { StationLog } from '../log/station-log.js';
import { BrokerMonitor } from '../monitor/broker-monitor.js';
import { locateAgentDir } from './agent-bundle.js';
import type { HostKeyStore } from './host-key-store.js';
import type { CertificateIssuer } from '../certs/issuer.js';
import { piProvisionJob, type PiHostKeyPolicy, type PiJobSettings, type PiReprovisionPolicy } from './pi-job.js';
import { probePi, type PiProbe } from './probe.js';
import { SshSession, type SshTarget } from './ssh-session.js';

export { DEFAULT_PI_PYTHON };
export const DEFAULT_SERVICE_USER = 'gateway-iot';

/** Job settings from a (headless) profile plus the run's own choices. */
export function piJobSettings(
  profile: Profile,
  run: { operator: string; stationId: string; reprovision: PiReprovisionPolicy; hostKeyPolicy: PiHostKeyPolicy; expectedHostKey?: string; gatewayCode?: string; mac?: string },
  overrides: Partial<PiJobSettings> = {},
): PiJobSettings {
  const pi = profile.pi ?? { installPrefix: '/', serviceManager: 'systemd' as const, onlineTimeoutSec: 60 };
  return {
    accountId: profile.contaId,
    codeTemplate: profile.gateway.codigoTemplate,
    nameTemplate: profile.gateway.nomeTemplate,
    broker: { host: profile.broker.host, port: profile.broker.port },
    installPrefix: pi.installPrefix,
    serviceManager: pi.serviceManager,
    serviceUser: ('serviceUser' in pi && pi.serviceUser) || DEFAULT_SERVICE_USER,
    python: ('python' in pi && pi.python) || DEFAULT_PI_PYTHON,
    onlineTimeoutMs: pi.onlineTimeoutSec * 1000,
    ...('modbus' in pi && pi.modbus !== undefined ? { modbus: pi.modbus } : {}),
    ...('agentConfig' in pi && pi.agentConfig ? { agentConfig: pi.agentConfig } : {}),
    operator: run.operator,
    stationId: run.stationId,
    reprovision: run.reprovision,
    hostKeyPolicy: run.hostKeyPolicy,
    ...(run.expectedHostKey ? { expectedHostKey: run.expectedHostKey } : {}),
    ...(run.gatewayCode ? { gatewayCode: run.gatewayCode } : {}),
    ...(run.mac ? { mac: run.mac } : {}),
    ...overrides,
  };
}

export interface ProvisionPiOptions {
  target: SshTarget;
  profile: Profile;
  issuer: CertificateIssuer;
  hostKeys: HostKeyStore;
  settings: PiJobSettings;
  sudoPassword?: string;
  /** An already connected monitor (else one is made from the profile's monitor identity). */
  monitor?: BrokerMonitor;
  log?: StationLog;
  /** Answers a question (CLI prompt); without it a question cancels the job. */
  answer?: (job: JobSnapshot, question: JobQuestion) => Promise<string>;
  onUpdate?: (s: JobSnapshot) => void;
  onLog?: (l: JobLogLine) => void;
  agentDir?: string;
}

/** The headless Pi flow (CLI, bench): one job on a queue, recorded in the station log. */
export async function provisionPi(options: ProvisionPiOptions): Promise<JobSnapshot> {
  const { profile } = options;
  let monitor = options.monitor;
  const ownMonitor = !monitor && profile.monitor !== undefined;
  if (!monitor && profile.monitor) {
    monitor = await BrokerMonitor.fromFiles(profile.monitor, profile.monitor.host ?? profile.broker.host, profile.monitor.port ?? profile.broker.port);
  }
  const queue = new JobQueue({ concurrency: 1 });
  const offLog = options.log?.attach(queue);
  const offUpdate = queue.onUpdate((s) => {
    options.onUpdate?.(s);
    if (s.state === 'waiting-input' && s.question) {
      const q = s.question;
      void (options.answer ? options.answer(s, q) : Promise.reject(new Error('nobody to answer')))
        .then((choice) => queue.answer(s.id, q.id, choice))
        .catch(() => queue.cancel(s.id));
    }
  });
  const offLines = options.onLog ? queue.onLog(options.onLog) : undefined;
  try {
    const id = queue.submit(
      piProvisionJob({
        target: options.target,
        issuer: options.issuer,
        ...(monitor ? { monitor } : {}),
        hostKeys: options.hostKeys,
        settings: options.settings,
        ...(options.sudoPassword !== undefined ? { sudoPassword: options.sudoPassword } : {}),
        // Without anyone to answer, a refused or missing sudo password fails the job at once.
        askSudoPassword: options.answer !== undefined,
        ...(options.agentDir ? { agentDir: options.agentDir } : {}),
      }),
    );
    const jobs = await queue.idle();
    const job = jobs.find((j) => j.id === id);
    if (!job) throw new JobFailure('INTERNAL', 'the Pi job vanished from the queue');
    return job;
  } finally {
    offUpdate();
    offLines?.();
    offLog?.();
    if (ownMonitor) await monitor?.close().catch(() => undefined);
  }
}

/** `pi probe`: connect (host key policy as for provisioning), probe, disconnect. Changes nothing. */
export async function probePiHost(
  target: SshTarget,
  options: {
    hostKeys: HostKeyStore;
    hostKeyPolicy: 'accept-new' | 'known';
    expectedHostKey?: string;
    installPrefix?: string;
    serviceManager?: 'systemd' | 'none';
    python?: string;
    agentDir?: string;
    signal?: AbortSignal;
  },
): Promise<{ probe: PiProbe; hostKey: { keyType: string; fingerprint: string } }> {
  const session = await SshSession.connect(target, {
    hostKeys: options.hostKeys,
    policy: options.expectedHostKey ? { mode: 'expect', fingerprint: options.expectedHostKey } : { mode: options.hostKeyPolicy },
    ...(options.signal ? { signal: options.signal } : {}),
  });
  try {
    const probe = await probePi(session, {
      agentDir: options.agentDir ?? locateAgentDir(),
      installPrefix: options.installPrefix ?? '/',
      python: options.python ?? DEFAULT_PI_PYTHON,
      serviceManager: options.serviceManager ?? 'systemd',
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return { probe, hostKey: session.hostKey };
  } finally {
    session.close();
  }
}
