import { useTranslation } from 'react-i18next';

/**
 * Translation for keys built at run time (an error code or a step-detail key from the core), which
 * the typed `t` cannot check: `has` says whether this language has the key, `tr` looks it up.
 */
export function useDynamicT(): { has: (key: string) => boolean; tr: (key: string, params?: Record<string, unknown>) => string; language: string } {
  const { t, i18n } = useTranslation();
  const loose = t as unknown as (key: string, options?: Record<string, unknown>) => string;
  return { has: (key) => i18n.exists(key), tr: (key, params) => loose(key, params), language: i18n.language };
}
