import i18next from 'i18next';

// Numbers, durations and dates in the UI language (1,3 s and 05/12/2026 in Portuguese). Local to the
// Log screen until the renderer has one shared set of these.

const numberFormats = new Map<string, Intl.NumberFormat>();

function numberFormat(lng: string, fractionDigits: number): Intl.NumberFormat {
  const key = `${lng}|${fractionDigits}`;
  let f = numberFormats.get(key);
  if (!f) numberFormats.set(key, (f = new Intl.NumberFormat(lng, { minimumFractionDigits: fractionDigits, maximumFractionDigits: fractionDigits })));
  return f;
}

export function formatCount(n: number, lng = i18next.language): string {
  return numberFormat(lng, 0).format(n);
}

/** 850 ms, 1,3 s, 2 min 5 s — or an em dash. */
export function formatDuration(ms: number | null | undefined, lng = i18next.language): string {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${numberFormat(lng, 0).format(ms)} ms`;
  if (ms < 120_000) return `${numberFormat(lng, 1).format(ms / 1000)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

export function formatDateTime(iso: string | null | undefined, lng = i18next.language): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(lng, { dateStyle: 'short', timeStyle: 'medium' });
}

export function formatTime(iso: string, lng = i18next.language): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleTimeString(lng);
}

/** The order of day, month and year in `lng`'s short dates, with its separator. */
function dateShape(lng: string): { order: Array<'day' | 'month' | 'year'>; sep: string } {
  const parts = new Intl.DateTimeFormat(lng, { day: '2-digit', month: '2-digit', year: 'numeric' }).formatToParts(new Date(2006, 10, 22));
  const order = parts.filter((p) => p.type === 'day' || p.type === 'month' || p.type === 'year').map((p) => p.type as 'day' | 'month' | 'year');
  const sep = parts.find((p) => p.type === 'literal')?.value ?? '/';
  return { order, sep };
}

/** How a date is typed in `lng`, with the words for day/month/year the caller gives ("dd/mm/aaaa"). */
export function datePattern(lng: string, words: { day: string; month: string; year: string }): string {
  const { order, sep } = dateShape(lng);
  return order.map((p) => words[p]).join(sep);
}

/** A typed local date as YYYY-MM-DD; '' for empty, undefined when it is not a date. */
export function parseLocalDate(text: string, lng = i18next.language): string | undefined {
  const s = text.trim();
  if (!s) return '';
  if (/^\d{4}-\d{2}-\d{2}$/.test(s)) return validIso(s);
  const nums = s.split(/\D+/).filter(Boolean);
  if (nums.length !== 3) return undefined;
  const { order } = dateShape(lng);
  const v: Record<string, number> = {};
  order.forEach((p, i) => (v[p] = Number(nums[i])));
  const year = v.year! < 100 ? 2000 + v.year! : v.year!;
  return validIso(`${String(year).padStart(4, '0')}-${String(v.month).padStart(2, '0')}-${String(v.day).padStart(2, '0')}`);
}

function validIso(iso: string): string | undefined {
  const [y, m, d] = iso.split('-').map(Number) as [number, number, number];
  const date = new Date(y, m - 1, d);
  return date.getFullYear() === y && date.getMonth() === m - 1 && date.getDate() === d ? iso : undefined;
}

/** YYYY-MM-DD shown as a local short date. */
export function formatLocalDate(iso: string, lng = i18next.language): string {
  const [y, m, d] = iso.split('-').map(Number) as [number, number, number];
  return new Intl.DateTimeFormat(lng, { day: '2-digit', month: '2-digit', year: 'numeric' }).format(new Date(y, m - 1, d));
}
