/**
 * The schedule of `tds-server serve`'s own jobs (renewal sweep, CRL re-sign) and the presence
 * history's retention: read from `config.json` (`schedule`, `presenceHistoryDays`), overridden by
 * serve flags, validated here in one place. Durations are a number and a unit: s, m, h, d, w
 * (e.g. "24h", "7d"); "off" disables a job (use the systemd timer instead, docs/server.md).
 */
import { z } from 'zod';

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 } as const;
export const MIN_EVERY_MS = 5_000;
export const MAX_EVERY_MS = 366 * 86_400_000;

export class ScheduleError extends Error {}

/** "24h" → ms. Refuses anything but digits and one unit, and values outside [min, max]. */
export function parseDurationText(what: string, text: string, min: number, max: number): number {
  const m = /^([0-9]{1,7})([smhdw])$/.exec(text.trim());
  if (!m) throw new ScheduleError(`${what} '${text}' is not a duration: use a number with s, m, h, d or w (e.g. 24h, 7d)`);
  const ms = Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  if (ms < min || ms > max) throw new ScheduleError(`${what} '${text}' must be from ${formatMs(min)} to ${formatMs(max)}`);
  return ms;
}

/** An interval or "off" (null). */
export function parseEvery(what: string, text: string): number | null {
  return text.trim() === 'off' ? null : parseDurationText(what, text, MIN_EVERY_MS, MAX_EVERY_MS);
}

export function formatMs(ms: number): string {
  for (const [unit, size] of [['w', UNIT_MS.w], ['d', UNIT_MS.d], ['h', UNIT_MS.h], ['m', UNIT_MS.m]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${Math.round(ms / 1000)}s`;
}

const everyText = z.string().refine((v) => {
  try {
    parseEvery('every', v);
    return true;
  } catch {
    return false;
  }
}, 'must be "off" or a duration of 5s to 366d such as 24h');
const withinText = z.string().refine((v) => {
  if (v.trim() === 'auto') return true;
  try {
    parseDurationText('within', v, 86_400_000, 20 * 365 * 86_400_000);
    return true;
  } catch {
    return false;
  }
}, 'must be "auto" (a fifth of the device certificate lifetime) or a duration of 1d to 20 years such as 730d');

/** The `schedule` section of config.json. */
export const scheduleSchema = z.object({
  renewal: z.object({ every: everyText.default('24h'), within: withinText.default('auto') }).default({ every: '24h', within: 'auto' }),
  crl: z.object({ every: everyText.default('24h') }).default({ every: '24h' }),
});
export type ScheduleText = z.infer<typeof scheduleSchema>;

export function defaultScheduleText(): ScheduleText {
  return { renewal: { every: '24h', within: 'auto' }, crl: { every: '24h' } };
}

/** The resolved schedule: null = the job does not run inside serve. */
export interface Schedule {
  renewal: { everyMs: number | null; withinMs: number };
  crl: { everyMs: number | null };
}

/**
 * config.json's text, with serve's flags (when given) taking precedence. `within: auto` is the last
 * fifth of the device certificate lifetime (730 days of the default 10 years, as the seed's monthly
 * job did; the ESP32 firmware renews itself in the last fifth too), so short lifetimes are not
 * renewed the moment they are issued.
 */
export function resolveSchedule(
  text: ScheduleText,
  flags: { renewalEvery?: string; renewWithin?: string; crlEvery?: string } = {},
  deviceValidityDays = 3652,
): Schedule {
  const within = flags.renewWithin ?? text.renewal.within;
  return {
    renewal: {
      everyMs: parseEvery('--renewal-every', flags.renewalEvery ?? text.renewal.every),
      withinMs:
        within.trim() === 'auto'
          ? Math.max(86_400_000, Math.floor(deviceValidityDays / 5) * 86_400_000)
          : parseDurationText('--renew-within', within, 86_400_000, 20 * 365 * 86_400_000),
    },
    crl: { everyMs: parseEvery('--crl-every', flags.crlEvery ?? text.crl.every) },
  };
}
