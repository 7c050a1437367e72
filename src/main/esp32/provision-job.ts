import { IdentityMemory } from '../certs/device-identity.js';
import { formatUsbId } from '../devices/usb-ids.js';
import { JobFailure } from '../jobs/job-failure.js';
import type { JobContext, JobDefinition, StepDeclaration } from '../jobs/types.js';
import { BirthIdentityRun } from './birth-identity-run.js';
import { DeviceKeyRun } from './device-key-run.js';
import type { Esp32JobInput } from './job-input.js';
import { StationKeyRun } from './station-key-run.js';

export type { Esp32JobInput, Esp32JobSettings } from './job-input.js';
/** What the operator decides when a MAC already has an active certificate (`revoke` = former name of `replace`). */
export type { ReprovisionPolicy } from '../certs/device-identity.js';

/** Steps when the device makes its key: flash first, then the firmware's console does the rest. */
export const ESP32_DEVICE_KEY_STEPS = [
  { name: 'probe', weight: 3 },
  { name: 'flash', weight: 20 },
  { name: 'reboot', weight: 1 },
  { name: 'certificate', weight: 4 },
  { name: 'online', weight: 5 },
] as const;

export const ESP32_STEPS = [
  { name: 'probe', weight: 3 },
  { name: 'certificate', weight: 2 },
  { name: 'factory-data', weight: 1 },
  { name: 'flash', weight: 20 },
  { name: 'reboot', weight: 1 },
  { name: 'boot-log', weight: 2 },
  { name: 'online', weight: 5 },
] as const;

/** A birth identity instead of the final one (zero-touch): the board goes online only once claimed in the field. */
export const ESP32_BIRTH_STEPS = [
  { name: 'probe', weight: 3 },
  { name: 'birth-identity', weight: 2 },
  { name: 'factory-data', weight: 1 },
  { name: 'flash', weight: 20 },
  { name: 'reboot', weight: 1 },
  { name: 'boot-log', weight: 2 },
] as const;

/**
 * How long each step may run before the job stops it (STEP_TIMEOUT): generous bounds, so that a board
 * or a peer that stops answering fails the job with a clear error instead of leaving it hanging.
 * Flashing is bounded by the worst case: everything uncompressed at the 115200-baud fallback.
 */
function withTimeLimits(steps: readonly { name: string; weight: number }[], input: Esp32JobInput): StepDeclaration[] {
  const { settings, bundle } = input;
  const flashBytes = bundle.builds.reduce((max, b) => Math.max(max, b.parts.reduce((n, p) => n + p.data.length, b.dataPartition.size)), 0);
  const limits: Record<string, number> = {
    probe: 90_000,
    certificate: 60_000,
    'birth-identity': 60_000,
    'factory-data': 30_000,
    flash: 60_000 + Math.ceil((flashBytes * 1000) / 11_520),
    reboot: 30_000,
    'boot-log': (settings.bootLogMs ?? 3000) + 25_000,
    online: settings.onlineTimeoutMs + 30_000,
  };
  return steps.map((st) => ({ ...st, ...(limits[st.name] !== undefined ? { timeoutMs: limits[st.name] } : {}) }));
}

/**
 * The ESP32 bench job: probe → certificate (key made here, or on the device) → factory-data NVS
 * image → flash bundle + data partition (compressed, MD5-verified) → reboot → boot log → online on
 * the broker. Each attempt is a fresh run (`StationKeyRun`, or `DeviceKeyRun` when the device makes
 * its key) with its own link, so a retry starts clean.
 */
export function esp32ProvisionJob(input: Esp32JobInput): JobDefinition {
  const { device, bundle, settings } = input;
  // Kept across retries: certificates that never reached the board, replacements already agreed.
  const memory = input.memory ?? new IdentityMemory();
  return {
    kind: 'esp32',
    target: device.path,
    steps: withTimeLimits(
      settings.identity === 'birth'
        ? ESP32_BIRTH_STEPS
        : settings.keyMode === 'device'
          ? input.firmwareInstalled
            ? ESP32_DEVICE_KEY_STEPS.filter((st) => st.name === 'certificate' || st.name === 'online')
            : ESP32_DEVICE_KEY_STEPS
          : ESP32_STEPS,
      input,
    ),
    initial: {
      operator: settings.operator,
      accountId: settings.accountId,
      serverUrl: input.issuer.serverUrl,
      firmware: { name: bundle.name, version: bundle.version, sha256: bundle.sha256 },
      facts: {
        port: device.path,
        usb: formatUsbId(device.vendorId, device.productId),
        ...(device.bridge ? { bridge: device.bridge } : {}),
      },
    },
    run: (ctx) => attempt(ctx, input, memory).run(),
  };
}

function attempt(ctx: JobContext, input: Esp32JobInput, memory: IdentityMemory): { run(): Promise<void> } {
  if (input.settings.identity === 'birth') {
    if (!input.birth) throw new JobFailure('PROFILE_INVALID', 'This station cannot issue birth identities (no zero-touch support in its server connection).');
    return new BirthIdentityRun(ctx, input, input.birth);
  }
  return input.settings.keyMode === 'device' ? new DeviceKeyRun(ctx, input, memory) : new StationKeyRun(ctx, input, memory);
}
