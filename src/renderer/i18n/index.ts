import i18next from 'i18next';
import { initReactI18next } from 'react-i18next';
import type { Language, LanguagePref } from '../../shared/views.js';
import * as admin from '../screens/admin/strings.js';
import * as bench from '../screens/bench/strings.js';
import * as claim from '../screens/claim/strings.js';
import * as field from '../screens/field/strings.js';
import * as firstRun from '../screens/first-run/strings.js';
import * as gateways from '../screens/gateways/strings.js';
import * as log from '../screens/log/strings.js';
import * as backup from '../screens/settings/backup-strings.js';
import * as settings from '../screens/settings/strings.js';
import * as common from './common.js';
import * as core from './core-texts.js';

/** Each screen folder owns its strings (en + pt-BR with the same keys); common.ts holds shared ones. */
export const resources = {
  en: { common: common.en, core: core.en, bench: bench.en, field: field.en, gateways: gateways.en, log: log.en, settings: settings.en, firstRun: firstRun.en, claim: claim.en, admin: admin.en, backup: backup.en },
  'pt-BR': { common: common.ptBR, core: core.ptBR, bench: bench.ptBR, field: field.ptBR, gateways: gateways.ptBR, log: log.ptBR, settings: settings.ptBR, firstRun: firstRun.ptBR, claim: claim.ptBR, admin: admin.ptBR, backup: backup.ptBR },
} as const;

declare module 'i18next' {
  interface CustomTypeOptions {
    defaultNS: 'common';
    resources: (typeof resources)['en'];
  }
}

/** The OS/browser language (Electron's Chromium reports the OS locale): Portuguese → pt-BR, else English. */
export function detectLanguage(langs: readonly string[] = navigator.languages?.length ? navigator.languages : [navigator.language]): Language {
  for (const l of langs) {
    if (/^pt\b/i.test(l)) return 'pt-BR';
    if (/^en\b/i.test(l)) return 'en';
  }
  return 'en';
}

export async function initI18n(): Promise<void> {
  await i18next.use(initReactI18next).init({
    resources,
    lng: detectLanguage(),
    fallbackLng: 'en',
    defaultNS: 'common',
    ns: Object.keys(resources.en),
    interpolation: { escapeValue: false }, // React escapes
    returnNull: false,
  });
  document.documentElement.lang = i18next.language;
}

export async function applyLanguage(pref: LanguagePref): Promise<void> {
  const lng = pref === 'auto' ? detectLanguage() : pref;
  if (i18next.language !== lng) await i18next.changeLanguage(lng);
  document.documentElement.lang = lng;
}
