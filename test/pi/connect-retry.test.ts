import { describe, expect, it } from 'vitest';
import { JobFailure } from '../../src/main/jobs/job-failure.js';
import { BOOT_WAIT_MS, isTransientConnectError, pauseBefore, withConnectRetry } from '../../src/main/pi/connect-retry.js';

const refused = (code: string) => new JobFailure('SSH_UNREACHABLE', 'Cannot reach pi:22 over SSH', { cause: Object.assign(new Error(code), { code }) });

describe('connecting to a Pi that does not answer yet', () => {
  it('retries a refused or unreachable host, never a refused login or host key; a silent host or unknown name only while waiting for a boot', () => {
    expect(isTransientConnectError(refused('ECONNREFUSED'), false)).toBe(true);
    expect(isTransientConnectError(refused('EHOSTUNREACH'), false)).toBe(true);
    expect(isTransientConnectError(refused('ETIMEDOUT'), false)).toBe(false);
    expect(isTransientConnectError(refused('ETIMEDOUT'), true)).toBe(true);
    expect(isTransientConnectError(refused('ENOTFOUND'), false)).toBe(false);
    expect(isTransientConnectError(refused('ENOTFOUND'), true)).toBe(true);
    expect(isTransientConnectError(new JobFailure('SSH_AUTH_FAILED', 'no'), true)).toBe(false);
    expect(isTransientConnectError(new JobFailure('SSH_HOST_KEY_CHANGED', 'no'), true)).toBe(false);
  });

  it('pauses 0.5, 1, 2, 4 s, then gives up; waiting for a boot, up to 5 s at a time for five minutes', () => {
    expect([2, 3, 4, 5, 6].map((a) => pauseBefore(a, 0, { waitForBoot: false }))).toEqual([500, 1000, 2000, 4000, undefined]);
    expect([2, 3, 4, 5, 6, 20].map((a) => pauseBefore(a, 0, { waitForBoot: true }))).toEqual([500, 1000, 2000, 4000, 5000, 5000]);
    expect(pauseBefore(50, BOOT_WAIT_MS - 1200, { waitForBoot: true })).toBe(1200);
    expect(pauseBefore(50, BOOT_WAIT_MS, { waitForBoot: true })).toBeUndefined();
  });

  it('gives up at once on a lasting refusal and reports the attempts', async () => {
    let tries = 0;
    const reports: number[] = [];
    const clock = { t: 0 };
    const err = await withConnectRetry(
      async () => {
        tries++;
        throw new JobFailure('SSH_AUTH_FAILED', 'bad password');
      },
      { waitForBoot: true, host: 'pi:22', signal: new AbortController().signal, onRetry: (r) => reports.push(r.attempt), now: () => clock.t },
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SSH_AUTH_FAILED' });
    expect(tries).toBe(1);
    expect(reports).toEqual([]);
  });

  it('stops waiting when the job is cancelled', async () => {
    const ac = new AbortController();
    const p = withConnectRetry(async () => Promise.reject(refused('ECONNREFUSED')), { waitForBoot: true, host: 'pi:22', signal: ac.signal, onRetry: () => ac.abort() });
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
  });
});
