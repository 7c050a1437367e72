import { localText } from '../../shared/local-text.js';
import { delay, JobFailure } from '../jobs/job-failure.js';

/**
 * Reaching a Pi that is not answering yet. A refused or unreachable connection is retried with a
 * growing pause (0.5, 1, 2, 4 s) instead of failing at once; with "wait for the Pi to boot" the
 * pauses grow to 5 s and the job keeps trying for up to five minutes, since a freshly imaged Pi
 * resizes its file system and reboots before SSH answers. A refused login or host key is never
 * retried: asking again would not change the answer.
 */
export interface ConnectRetry {
  /** Keep trying until the Pi boots (up to `BOOT_WAIT_MS`). */
  waitForBoot: boolean;
}

export const BOOT_WAIT_MS = 5 * 60_000;
/** The pauses between attempts when not waiting for a boot: about 7.5 s in all. */
const SHORT_PAUSES_MS = [500, 1000, 2000, 4000];
const BOOT_PAUSE_CAP_MS = 5000;

/**
 * Socket errors of a host that is not (yet) there and says so at once. While waiting for a boot, also
 * a host that does not answer at all (each try then lasts the handshake's 20 s) and a name that does
 * not resolve yet (mDNS names appear once the Pi is up); otherwise those fail at once (a wrong
 * address or a typo should not keep the operator waiting).
 */
const TRANSIENT = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EPIPE', 'EHOSTDOWN']);
const TRANSIENT_WHILE_BOOTING = new Set([...TRANSIENT, 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN']);

/** The low-level cause of a failed SSH connection, if it was a socket error or a handshake timeout. */
export function connectErrorCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; i < 4 && e; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'SSH_UNREACHABLE') return code;
    if ((e as { level?: unknown }).level === 'client-timeout') return 'ETIMEDOUT';
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export function isTransientConnectError(err: unknown, waitForBoot: boolean): boolean {
  if (!(err instanceof JobFailure) || err.code !== 'SSH_UNREACHABLE') return false;
  const code = connectErrorCode(err);
  return code !== undefined && (waitForBoot ? TRANSIENT_WHILE_BOOTING : TRANSIENT).has(code);
}

/** The pause before attempt `attempt` (2, 3, ...), or undefined when it is time to give up. */
export function pauseBefore(attempt: number, elapsedMs: number, o: ConnectRetry): number | undefined {
  if (o.waitForBoot) {
    if (elapsedMs >= BOOT_WAIT_MS) return undefined;
    return Math.min(BOOT_PAUSE_CAP_MS, 500 * 2 ** (attempt - 2), BOOT_WAIT_MS - elapsedMs);
  }
  return SHORT_PAUSES_MS[attempt - 2];
}

export interface RetryReport {
  attempt: number;
  /** Why the last attempt failed (the socket error's code, e.g. ECONNREFUSED). */
  reason: string;
  pauseMs: number;
  elapsedMs: number;
}

/**
 * Runs `connect` until it succeeds, fails for good, or the retries run out; `onRetry` hears of each
 * pause (the step shows it). The final failure says how many attempts were made over how long.
 */
export async function withConnectRetry<T>(
  connect: () => Promise<T>,
  o: ConnectRetry & { host: string; signal: AbortSignal; onRetry: (r: RetryReport) => void; now?: () => number },
): Promise<T> {
  const now = o.now ?? (() => performance.now());
  const t0 = now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await connect();
    } catch (err) {
      if (!isTransientConnectError(err, o.waitForBoot)) throw err;
      const elapsedMs = now() - t0;
      const pauseMs = pauseBefore(attempt + 1, elapsedMs, o);
      if (pauseMs === undefined) throw gaveUp(err as JobFailure, o.host, attempt, elapsedMs, o.waitForBoot);
      o.onRetry({ attempt, reason: connectErrorCode(err) ?? 'unreachable', pauseMs, elapsedMs });
      await delay(pauseMs, o.signal);
    }
  }
}

function gaveUp(last: JobFailure, host: string, attempts: number, elapsedMs: number, waitForBoot: boolean): JobFailure {
  const seconds = Math.round(elapsedMs / 1000);
  const reason = connectErrorCode(last) ?? 'unreachable';
  return new JobFailure('SSH_UNREACHABLE', `${last.message.replace(/\.$/, '')} (${attempts} attempts over ${seconds} s).`, {
    hint: waitForBoot
      ? 'The Pi did not answer in five minutes: check its power, network cable or Wi-Fi, and that SSH is enabled in its image.'
      : 'Check the address and port, that the Pi is powered and on this network, and that SSH is enabled. If it is still booting, start again with "Wait for the Pi to boot".',
    cause: last,
    text: localText('core:pi.error.unreachableAfter', { host, reason, attempts, seconds }),
    hintText: localText(waitForBoot ? 'core:pi.error.bootHint' : 'core:pi.error.unreachableHint'),
  });
}
