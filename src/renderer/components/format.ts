import i18next from 'i18next';

/**
 * Numbers, durations and dates in the UI language through `Intl` (pt-BR: `1,3 s`, `05/12/2026`;
 * en: `1.3 s`, `12/05/2026`). Every screen formats through these, never with toFixed or a
 * hand-made pattern, so a change of language changes every figure.
 */

function lang(): string {
  return i18next.language || 'en';
}

const cache = new Map<string, Intl.NumberFormat | Intl.DateTimeFormat>();

function numberFormat(options: Intl.NumberFormatOptions): Intl.NumberFormat {
  const key = `n|${lang()}|${JSON.stringify(options)}`;
  let f = cache.get(key) as Intl.NumberFormat | undefined;
  if (!f) cache.set(key, (f = new Intl.NumberFormat(lang(), options)));
  return f;
}

function dateFormat(options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const key = `d|${lang()}|${JSON.stringify(options)}`;
  let f = cache.get(key) as Intl.DateTimeFormat | undefined;
  if (!f) cache.set(key, (f = new Intl.DateTimeFormat(lang(), options)));
  return f;
}

export function formatNumber(value: number, options: Intl.NumberFormatOptions = {}): string {
  return numberFormat(options).format(value);
}

/** 0..1 as a whole percentage ("45 %" where the locale spaces it). */
export function formatPercent(fraction: number): string {
  return numberFormat({ style: 'percent', maximumFractionDigits: 0 }).format(Math.max(0, Math.min(1, fraction)));
}

/** `850 ms`, `1,3 s` (pt-BR) / `1.3 s`, `2 min 5 s`; an em dash when unknown. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${formatNumber(Math.max(0, Math.round(ms)))} ms`;
  if (ms < 120_000) return `${formatNumber(ms / 1000, { minimumFractionDigits: 1, maximumFractionDigits: 1 })} s`;
  return `${formatNumber(Math.floor(ms / 60_000))} min ${formatNumber(Math.round((ms % 60_000) / 1000))} s`;
}

function toDate(iso: string | null | undefined): Date | undefined {
  if (!iso) return undefined;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

const DATE: Intl.DateTimeFormatOptions = { day: '2-digit', month: '2-digit', year: 'numeric' };
const TIME: Intl.DateTimeFormatOptions = { hour: '2-digit', minute: '2-digit', second: '2-digit' };

/** A calendar date in the UI language (`05/12/2026`), or an em dash. */
export function formatDate(iso: string | null | undefined): string {
  const d = toDate(iso);
  return d ? dateFormat(DATE).format(d) : iso ? iso : '—';
}

/** Local date and time in the UI language, or an em dash. */
export function formatDateTime(iso: string | null | undefined): string {
  const d = toDate(iso);
  return d ? dateFormat({ ...DATE, ...TIME }).format(d) : iso ? iso : '—';
}

/** Local time of day (`14:05:09`). */
export function formatTime(iso: string | null | undefined): string {
  const d = toDate(iso);
  return d ? dateFormat(TIME).format(d) : '—';
}

/**
 * How a date is typed in the UI language, from Intl's own parts: `dd/mm/aaaa` (pt-BR),
 * `mm/dd/yyyy` (en). `letters` names the parts in the language (y/m/d or a/m/d).
 */
export function datePattern(letters: { day: string; month: string; year: string } = { day: 'dd', month: 'mm', year: 'yyyy' }): string {
  return dateFormat(DATE)
    .formatToParts(new Date(2026, 11, 5))
    .map((p) => (p.type === 'day' ? letters.day : p.type === 'month' ? letters.month : p.type === 'year' ? letters.year : p.value))
    .join('');
}

/** A date typed in the UI language's order (`05/12/2026`, `5-12-2026`) as `YYYY-MM-DD`, or null. */
export function parseLocalDate(text: string): string | null {
  const nums = text.trim().split(/[^0-9]+/).filter(Boolean);
  if (nums.length !== 3) return null;
  const order = dateFormat(DATE)
    .formatToParts(new Date(2026, 11, 5))
    .filter((p) => p.type === 'day' || p.type === 'month' || p.type === 'year')
    .map((p) => p.type);
  const get = (type: string): number => Number(nums[order.indexOf(type as 'day')]);
  const y = get('year');
  const m = get('month');
  const d = get('day');
  if (!(y >= 1000 && y <= 9999) || !(m >= 1 && m <= 12) || !(d >= 1 && d <= 31)) return null;
  const date = new Date(y, m - 1, d);
  if (date.getMonth() !== m - 1 || date.getDate() !== d) return null;
  return `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}

/** `YYYY-MM-DD` as typed in the UI language (`05/12/2026`); other text as it is. */
export function isoToLocalDate(iso: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso);
  if (!m) return iso;
  return dateFormat(DATE).format(new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
}
