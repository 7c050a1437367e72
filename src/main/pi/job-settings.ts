import { agentConfigFor, DEFAULT_PI_PYTHON } from '../../shared/pi-agent.js';
import { ProfilePiSchema, type Profile } from '../../shared/profile.js';
import type { PiHostKeyPolicy, PiJobSettings, PiReprovisionPolicy } from './pi-job.js';

/** The system user the agent runs as under systemd (install.sh creates it when missing). */
export const DEFAULT_SERVICE_USER = 'gateway-iot';

/** What a run decides besides the profile: who, where, how to trust the host, which code and MAC. */
export interface PiRunChoices {
  operator: string;
  stationId: string;
  reprovision: PiReprovisionPolicy;
  hostKeyPolicy: PiHostKeyPolicy;
  /** The SSH login: without a service manager the agent runs as this user. */
  loginUser: string;
  expectedHostKey?: string;
  gatewayCode?: string;
  mac?: string;
}

/**
 * The one mapping from a profile to the Pi job's settings (Field screen and headless CLI alike). A
 * profile without a `pi` section gets the section's defaults (install under /, systemd).
 */
export function piJobSettings(profile: Profile, run: PiRunChoices, overrides: Partial<PiJobSettings> = {}): PiJobSettings {
  const pi = profile.pi ?? ProfilePiSchema.parse({});
  const agentConfig = mergeAgentConfig(pi.agentConfig, pi.agent ? agentConfigFor(pi.agent) : undefined);
  return {
    accountId: profile.accountId,
    codeTemplate: profile.codeTemplate,
    nameTemplate: profile.nameTemplate,
    broker: { host: profile.brokerHost, port: profile.brokerPort },
    installPrefix: pi.installPrefix,
    serviceManager: pi.serviceManager,
    // Without a service manager there is no system service to own: the agent runs as the login user.
    serviceUser: pi.serviceUser ?? (pi.serviceManager === 'none' ? run.loginUser : DEFAULT_SERVICE_USER),
    python: pi.python ?? DEFAULT_PI_PYTHON,
    onlineTimeoutMs: pi.onlineTimeoutSec * 1000,
    ...(pi.modbus ? { modbus: pi.modbus } : {}),
    ...(agentConfig ? { agentConfig } : {}),
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

type Config = Record<string, unknown>;

/** A profile file's raw agentConfig with the structured agent settings on top, one level deep (mqtt, buffer, renewal). */
function mergeAgentConfig(raw: Config | undefined, settings: Config | undefined): Config | undefined {
  if (!raw || !settings) return settings ?? raw;
  const out: Config = { ...raw };
  for (const [key, value] of Object.entries(settings)) {
    const base = out[key];
    out[key] = isObject(base) && isObject(value) ? { ...base, ...value } : value;
  }
  return out;
}

function isObject(v: unknown): v is Config {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
