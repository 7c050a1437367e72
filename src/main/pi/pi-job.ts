import { IdentityMemory } from '../certs/device-identity.js';
import { JobFailure } from '../jobs/job-failure.js';
import type { JobDefinition } from '../jobs/types.js';
import type { PiJobInput } from './job-input.js';
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
    steps: PI_STEPS.map((st) => ({ ...st, timeoutMs: PI_STEP_LIMITS_MS[st.name] ?? settings.onlineTimeoutMs + 30_000 })),
    initial: {
      operator: settings.operator,
      accountId: settings.accountId,
      serverUrl: input.issuer.serverUrl,
      facts: { host: `${target.username}@${target.host}:${target.port}`, prefix: settings.installPrefix, serviceManager: settings.serviceManager },
    },
    run: (ctx) => new PiJobRun(ctx, input, memory).run(),
  };
}
