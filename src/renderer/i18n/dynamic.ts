import { useCallback } from 'react';
import { useTranslation } from 'react-i18next';
import type { LocalText } from '../../shared/local-text.js';
import { formatDate } from '../components/format.js';

/**
 * Translation for keys built at run time (an error code, a choice, a sentence the core sent), which
 * the typed `t` cannot check: `has` says whether this language has the key, `tr` looks it up.
 */
export function useDynamicT(): { has: (key: string) => boolean; tr: (key: string, params?: Record<string, unknown>) => string; language: string } {
  const { t, i18n } = useTranslation();
  const loose = t as unknown as (key: string, options?: Record<string, unknown>) => string;
  return { has: (key) => i18n.exists(key), tr: (key, params) => loose(key, params), language: i18n.language };
}

/** An ISO time the core sent as a parameter ("2026-03-01T12:00:00Z"): said as a date of this language. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T/;

/**
 * A sentence the core sent (`LocalText`: a step's detail, a question, a job's error or hint) in the
 * UI's language, its times as local dates; the English sentence it came with when this renderer has
 * no wording for its key (a newer core) or it sent none.
 */
export function useLocalText(): (text: LocalText | null | undefined, english: string) => string {
  const { t, i18n } = useTranslation();
  return useCallback(
    (text, english) => {
      if (!text || !i18n.exists(text.key)) return english;
      const params = Object.fromEntries(Object.entries(text.params ?? {}).map(([k, v]) => [k, typeof v === 'string' && ISO_TIME.test(v) ? formatDate(v) : v]));
      return (t as unknown as (key: string, options?: Record<string, unknown>) => string)(text.key, params);
    },
    [t, i18n],
  );
}
