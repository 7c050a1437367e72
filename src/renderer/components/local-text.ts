import { useCallback } from 'react';
import { useTranslation } from 'react-i18next';
import type { LocalText } from '../../shared/local-text.js';

/**
 * A sentence from the core in the UI language: its key translated when this renderer knows it (with
 * its parameters), else the English sentence it came with.
 */
export function useLocalText(): (text: LocalText | null | undefined, english: string) => string {
  const { t, i18n } = useTranslation();
  return useCallback(
    (text, english) => {
      if (!text || !i18n.exists(text.key)) return english;
      // Keys come from the core at run time, so they cannot be checked against the dictionaries' types.
      const translate = t as unknown as (key: string, params?: Record<string, string | number>) => string;
      return translate(text.key, text.params);
    },
    [t, i18n],
  );
}
