import { localText } from '../../shared/local-text.js';
import { JobFailure } from '../jobs/job-failure.js';
import type { JobContext, StepHandle } from '../jobs/types.js';
import type { BrokerMonitor, PresenceEvent } from '../monitor/broker-monitor.js';
import type { DeviceIdentity } from './device-identity.js';

/**
 * A wait for the device on the broker, started as soon as the device restarts with its new identity
 * (for an ESP32 even before the reset, so a fast board cannot be missed).
 */
export interface OnlineWatch {
  readonly mac: string;
  /** When the device restarted: only a presence after this moment counts. */
  readonly since: number;
  /** How long the wait lasts, for the step's detail. */
  readonly timeoutMs: number;
  readonly seen: Promise<PresenceEvent>;
}

/** Starts the wait; without a monitor (no monitor identity in the profile) there is nothing to watch. */
export function watchOnline(
  monitor: BrokerMonitor | undefined,
  mac: string,
  options: { since: number; timeoutMs: number; signal: AbortSignal; statusOnly?: boolean },
): OnlineWatch | undefined {
  if (!monitor) return undefined;
  const seen = monitor.waitForOnline(mac, options);
  // Awaited by the online step; a failure before that step runs must not count as unhandled.
  seen.catch(() => undefined);
  return { mac, since: options.since, timeoutMs: options.timeoutMs, seen };
}

export interface AwaitOnlineOptions {
  ctx: JobContext;
  /** The certificate the job put on the device. */
  identity: DeviceIdentity;
  /** Undefined when the profile has no monitor identity: the step is skipped. */
  watch: OnlineWatch | undefined;
  /** How the operator calls the device in messages: "board", "Pi". */
  device: string;
  /** Attached to the failure when the broker never sees the device (e.g. the board's boot log). */
  attachment?: () => { label: string; text: string };
  /** Runs the `online` step; default `ctx.step` (a job that wraps its steps passes its wrapper). */
  runStep?: (name: 'online', run: (step: StepHandle) => Promise<void>) => Promise<void>;
}

/**
 * The `online` step both device kinds end with: wait until the broker sees the device with its new
 * certificate, then confirm the certificate (a pending successor becomes active and only now is the
 * previous one revoked). Without a monitor nothing can prove the device online, so the step is
 * skipped and a pending successor is confirmed on trust, with a warning in the job log.
 */
export async function awaitOnlineAndConfirm(o: AwaitOnlineOptions): Promise<void> {
  const { ctx, identity, watch } = o;
  if (!watch) {
    ctx.skip('online', 'no monitor identity in the profile: the station cannot watch the broker', localText('core:stepDetail.onlineSkipped'));
    ctx.log('online check skipped: the profile has no monitor identity', 'warn');
    if (identity.pending) ctx.log(`confirming certificate ${identity.serial} without seeing the ${o.device} online (no monitor identity)`, 'warn');
    await identity.confirm(ctx);
    return;
  }
  const runStep = o.runStep ?? ((name, run) => ctx.step(name, run));
  await runStep('online', async (step) => {
    const limit = Math.round(watch.timeoutMs / 1000);
    step.detail(`waiting for ${watch.mac} on the broker (up to ${limit} s)`, localText('core:stepDetail.waitingOnline', { mac: watch.mac, seconds: limit }));
    let e: PresenceEvent;
    try {
      e = await watch.seen;
    } catch (err) {
      if (o.attachment && err instanceof JobFailure && err.code === 'BROKER_NEVER_SAW_DEVICE') {
        throw new JobFailure(err.code, err.message, { where: err.where ?? 'online', attachment: o.attachment(), hint: err.hint });
      }
      throw err;
    }
    const seconds = Number(((e.at - watch.since) / 1000).toFixed(1));
    const seen = `${e.kind === 'status' ? 'status online' : 'telemetry'} ${seconds.toFixed(1)} s after the restart`;
    const how = e.kind === 'status' ? 'onlineStatus' : 'onlineTelemetry';
    step.detail(seen, localText(`core:stepDetail.${how}`, { seconds }));
    await identity.confirm(step);
    if (identity.previous) step.detail(`${seen}; ${identity.previous.serialNumber} revoked (superseded)`, localText(`core:stepDetail.${how}Revoked`, { seconds, previous: identity.previous.serialNumber }));
  });
}
