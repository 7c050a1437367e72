import { IdentityMemory } from '../certs/device-identity.js';
import { JobFailure } from '../jobs/job-failure.js';
import type { JobDefinition } from '../jobs/types.js';
import { BOOT_WAIT_MS } from './connect-retry.js';
import type { PiJobInput, PiJobSettings } from './job-input.js';
import { PiJobRun } from './pi-job-run.js';

export type { PiHostKeyPolicy, PiJobInput, PiJobSettings, PiReprovisionPolicy } from './job-input.js';

export const PI_STEPS = [
  { name: 'connect', weight: 1 },
  { name: 'probe', weight: 1 },
  { name: 'prepare', weight: 2 },
  { name: 'key', weight: 1 },
  { name: 'certificate', weight: 1 },
  { name: 'install', weight: 3 },
  { name: 'online', weight: 3 },
  { name: 'finalize', weight: 1 },
] as const;

/**
 * How long each step may run before the job stops it (STEP_TIMEOUT; time waiting for the operator
 * not counted). Generous: a Pi that stops answering fails the job clearly instead of leaving it hanging;
 * the rollback then restores the previous identity. `online` is the profile's timeout + 30 s.
 */
const PI_STEP_LIMITS_MS: Partial<Record<(typeof PI_STEPS)[number]['name'], number>> = {
  connect: 60_000,
  probe: 60_000,
  prepare: 180_000,
  key: 60_000,
  certificate: 60_000,
  install: 180_000,
  finalize: 60_000,
};

const PREFIX_RE = /^\/[A-Za-z0-9._/-]*$/;

function stepLimit(name: (typeof PI_STEPS)[number]['name'], s: PiJobSettings): number {
  // Waiting for a booting Pi is the connect step's own work: its limit grows with that wait.
  if (name === 'connect' && s.waitForBoot) return BOOT_WAIT_MS + 60_000;
  return PI_STEP_LIMITS_MS[name] ?? s.onlineTimeoutMs + 30_000;
}

/** A look at a Pi without changing it: connect (host key pinned as for provisioning), probe, done. */
export const PI_PROBE_STEPS = [
  { name: 'connect', weight: 1 },
  { name: 'probe', weight: 1 },
] as const;

/**
 * The probe job: what the Pi is (model, OS, MAC, Python and the agent's packages, an installed
 * agent and identity) as the job's facts. Kind `pi-probe`: it provisions nothing, so the Log's
 * figures do not count it.
 */
export function piProbeJob(input: Omit<PiJobInput, 'probeOnly'>): JobDefinition {
  const def = piProvisionJob({ ...input, probeOnly: true });
  return { ...def, kind: 'pi-probe', steps: PI_PROBE_STEPS.map((st) => ({ ...st, timeoutMs: stepLimit(st.name, input.settings) })) };
}

/**
 * The Raspberry Pi field job: SSH (host key pinned) → probe → agent files (skipped when the same
 * bundle is installed) → key + CSR made on the Pi → certificate → atomic install + restart → online
 * on the broker → backups dropped, superseded certificate revoked. On failure the Pi keeps (or gets
 * back) its previous certificates and service.
 */
export function piProvisionJob(input: PiJobInput): JobDefinition {
  const { target, settings } = input;
  if (!PREFIX_RE.test(settings.installPrefix)) {
    throw new JobFailure('PROFILE_INVALID', `pi.installPrefix "${settings.installPrefix}" must be an absolute path of letters, digits, ".", "_", "-" and "/".`);
  }
  // Kept across retries: certificates that never ran on the Pi, replacements already agreed.
  const memory = input.memory ?? new IdentityMemory();
  return {
    kind: 'pi',
    target: `${target.host}:${target.port}`,
    steps: PI_STEPS.map((st) => ({ ...st, timeoutMs: stepLimit(st.name, settings) })),
    initial: {
      operator: settings.operator,
      accountId: settings.accountId,
      serverUrl: input.issuer.serverUrl,
      facts: { host: `${target.username}@${target.host}:${target.port}`, prefix: settings.installPrefix, serviceManager: settings.serviceManager },
    },
    run: (ctx) => new PiJobRun(ctx, input, memory).run(),
  };
}
