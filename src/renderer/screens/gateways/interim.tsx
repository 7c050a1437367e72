import { useEffect, useLayoutEffect, useRef, type ReactNode, type RefObject } from 'react';
import { useTranslation } from 'react-i18next';
import i18next from 'i18next';
import { Dialog } from '../../components/Dialog.js';

/**
 * Interim pieces for the Gateways, Admin and Backup screens until the app's shared ones land (focus
 * helper, in-app confirmation, locale formatting): kept small and in one file so they can be swapped
 * for the shared ones in one move.
 */

const CONTROLS = 'input:not([disabled]), select:not([disabled]), textarea:not([disabled]), button:not([disabled])';

/** Tries `attempt` on each coming frame until it says done (at most half a second of frames). */
function eachFrameUntil(attempt: () => boolean): () => void {
  let id = 0;
  let frames = 0;
  const step = (): void => {
    if (attempt() || ++frames > 30) return;
    id = requestAnimationFrame(step);
  };
  id = requestAnimationFrame(step);
  return () => cancelAnimationFrame(id);
}

/**
 * Focus for something that opens (a dialog, a form): moves to `target` (its first control, when it is
 * a container) once it is shown, and back to whatever had focus before when it closes — or to
 * `fallback` when that element is gone (the button that opened it may not exist any more, e.g. after
 * a revocation). A <dialog> opens in an effect that may run after the next frame: the focus waits for
 * it; and a dialog that opens as this one closes keeps the focus.
 */
export function useFocusInAndBack(target: RefObject<HTMLElement | null>, fallback?: () => HTMLElement | null): void {
  const fallbackRef = useRef(fallback);
  useEffect(() => {
    fallbackRef.current = fallback;
  });
  // A layout effect: it runs before any passive effect, so before a <dialog> below moves the focus
  // into itself (showModal, in its own effect) — what has the focus now is what opened it.
  useLayoutEffect(() => {
    const opener = document.activeElement instanceof HTMLElement && document.activeElement !== document.body ? document.activeElement : null;
    const stopIn = eachFrameUntil(() => {
      const box = target.current;
      const el = box?.matches(CONTROLS) ? box : (box?.querySelector<HTMLElement>(CONTROLS) ?? box);
      if (!el) return false;
      const dialog = el.closest('dialog');
      if (dialog && !dialog.open) return false;
      el.focus();
      return document.activeElement === el;
    });
    return () => {
      stopIn();
      eachFrameUntil(() => {
        const back = opener?.isConnected ? opener : fallbackRef.current?.();
        const open = document.querySelector('dialog[open]');
        if (!back || (open && !open.contains(back))) return true;
        back.focus();
        return true;
      });
    };
  }, [target]);
}

/**
 * An in-app confirmation (never the browser's `confirm()`): what will happen, a confirm button
 * (danger-coloured when it destroys something) and Cancel, which has focus first.
 */
export function ConfirmDialog(p: {
  title: string;
  children: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  busy?: boolean;
  onConfirm: () => void;
  onClose: () => void;
  fallbackFocus?: () => HTMLElement | null;
}) {
  const { t } = useTranslation();
  const cancel = useRef<HTMLButtonElement>(null);
  useFocusInAndBack(cancel, p.fallbackFocus);
  return (
    <Dialog open title={p.title} onClose={p.onClose}>
      {p.children}
      <div className="actions">
        <button type="button" className={`btn ${p.danger ? 'btn--danger' : 'btn--primary'}`} disabled={p.busy} onClick={p.onConfirm}>
          {p.confirmLabel}
        </button>
        <button type="button" className="btn" ref={cancel} onClick={p.onClose}>
          {t('actions.cancel')}
        </button>
      </div>
    </Dialog>
  );
}

const lang = (): string => i18next.language || 'en';

/** A date alone, in the UI language (05/12/2026 in pt-BR). */
export function formatDate(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleDateString(lang(), { dateStyle: 'short' });
}

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 86_400_000],
  ['month', 30 * 86_400_000],
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['minute', 60_000],
];

/** "in 20 days", "3 hours ago", "em 2 anos" — the largest unit that fits, in the UI language. */
export function formatRelative(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '—';
  const ms = Date.parse(iso) - now;
  if (Number.isNaN(ms)) return iso;
  const rtf = new Intl.RelativeTimeFormat(lang(), { numeric: 'auto' });
  for (const [unit, size] of UNITS) if (Math.abs(ms) >= size) return rtf.format(Math.trunc(ms / size), unit);
  return rtf.format(Math.trunc(ms / 1000), 'second');
}

export function formatNumber(n: number, options?: Intl.NumberFormatOptions): string {
  return new Intl.NumberFormat(lang(), options).format(n);
}

/** 1,5 MB in pt-BR, 1.5 MB in English. */
export function formatBytes(n: number): string {
  const [value, unit] = n >= 1_048_576 ? [n / 1_048_576, 'MB'] : n >= 1024 ? [n / 1024, 'KB'] : [n, 'B'];
  return `${formatNumber(value, { maximumFractionDigits: 1 })} ${unit}`;
}

/** A duration in words: "2 d 3 h", "45 min" (units read the same in both languages). */
export function formatSpan(seconds: number): string {
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  if (d > 0) return h > 0 ? `${formatNumber(d)} d ${h} h` : `${formatNumber(d)} d`;
  if (h > 0) return m > 0 ? `${h} h ${m} min` : `${h} h`;
  return m > 0 ? `${m} min` : `${Math.floor(seconds)} s`;
}
