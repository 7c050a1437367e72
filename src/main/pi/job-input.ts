import type { IdentityMemory, ReprovisionPolicy } from '../certs/device-identity.js';
import type { CertificateIssuer } from '../certs/issuer.js';
import type { BrokerMonitor } from '../monitor/broker-monitor.js';
import type { HostKeyStore } from './host-key-store.js';
import type { PiHostKeyPolicy } from './host-key-trust.js';
import type { SshTarget } from './ssh-session.js';

// What a Pi job is given. Apart from the job factory (pi-job.ts), so that its run can use these
// types without importing the factory that imports it.

/** What the operator decides when the Pi's MAC already has an active certificate. */
export type PiReprovisionPolicy = ReprovisionPolicy;
export type { PiHostKeyPolicy } from './host-key-trust.js';

export interface PiJobSettings {
  accountId: number;
  /** `codigo` template: {mac12}, {MAC12}, {mac}; ignored when `gatewayCode` is given. */
  codeTemplate: string;
  nameTemplate: string;
  gatewayCode?: string;
  /** Broker address the Pi's agent connects to. */
  broker: { host: string; port: number };
  /** Install prefix on the Pi ("/" on a real one; a folder for tests). */
  installPrefix: string;
  serviceManager: 'systemd' | 'none';
  /** System user the agent runs as (created by install.sh when missing). Default gateway-iot. */
  serviceUser: string;
  /** Python interpreter on the Pi (Debian's, with its python3-* packages). */
  python: string;
  onlineTimeoutMs: number;
  /** The agent's `modbus` section of config.json (port, slaves...). */
  modbus?: unknown;
  /** More config.json fields for the agent (commands.reboot, buffer, mqtt timing...). */
  agentConfig?: Record<string, unknown>;
  operator: string;
  stationId: string;
  reprovision: PiReprovisionPolicy;
  hostKeyPolicy: PiHostKeyPolicy;
  /** Accept exactly this host key (`SHA256:...`, compared by the operator) on first contact. */
  expectedHostKey?: string;
  /** Use this MAC instead of the probed one (a Pi whose identity should follow another interface). */
  mac?: string;
  /** Keep trying to connect while the Pi boots (up to five minutes) instead of a few seconds. */
  waitForBoot?: boolean;
}

export interface PiJobInput {
  target: SshTarget;
  issuer: CertificateIssuer;
  /** The station's monitor identity on the broker; without it the online step is skipped. */
  monitor?: BrokerMonitor;
  hostKeys: HostKeyStore;
  settings: PiJobSettings;
  /** sudo password known up front (else asked when sudo needs one). */
  sudoPassword?: string;
  /**
   * Ask the operator for the sudo password (a secret question) when none was given or it was
   * refused. Default true; headless runs without anyone to answer turn it off.
   */
  askSudoPassword?: boolean;
  /** firmware/rpi (default: found next to the station's code). */
  agentDir?: string;
  /** Only connect and probe: change nothing on the Pi (a "probe" job, see `piProbeJob`). */
  probeOnly?: boolean;
  /**
   * What the job keeps across its attempts about the certificates it got (default: a fresh memory).
   * Given when the job is rebuilt after the station core restarted, from what the old core kept.
   */
  memory?: IdentityMemory;
}
