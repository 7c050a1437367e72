import { lazy, Suspense, useEffect, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Announcer } from '../components/Announcer.js';
import { ConfirmProvider } from '../components/ConfirmDialog.js';
import { applyLanguage } from '../i18n/index.js';
import { BenchScreen } from '../screens/bench/BenchScreen.js';
import { FirstRunWizard } from '../screens/first-run/FirstRunWizard.js';
import { useMonitor } from './hooks.js';
import { useServerIdentity } from './server-identity.js';
import { useSettings } from './settings-context.js';

const FieldScreen = lazy(() => import('../screens/field/FieldScreen.js'));
const GatewaysScreen = lazy(() => import('../screens/gateways/GatewaysScreen.js'));
const LogScreen = lazy(() => import('../screens/log/LogScreen.js'));
const SettingsScreen = lazy(() => import('../screens/settings/SettingsScreen.js'));
const ClaimScreen = lazy(() => import('../screens/claim/ClaimScreen.js'));
const AdminScreen = lazy(() => import('../screens/admin/AdminScreen.js'));

/** Admin comes last (Alt+7) and only for an admin token, so the other shortcuts never move. */
export const SCREENS = ['bench', 'field', 'gateways', 'log', 'settings', 'claim', 'admin'] as const;
export type Screen = (typeof SCREENS)[number];

function screenFromHash(): Screen {
  const h = location.hash.replace(/^#\/?/, '');
  return (SCREENS as readonly string[]).includes(h) ? (h as Screen) : 'bench';
}

function StatusBar() {
  const { t } = useTranslation();
  const monitor = useMonitor();
  const { settings } = useSettings();
  const state = monitor?.state ?? 'unconfigured';
  return (
    <div className="statusbar" aria-live="polite">
      <span className={`dot dot--${state}`} aria-hidden="true" />
      <span>
        {t('status.monitorLabel')}: {t(`status.monitor.${state}`)}
        {monitor?.state === 'connected' && ` · ${t('status.onlineCount', { count: monitor.online.length })}`}
      </span>
      <span>{settings.operator ? t('status.operator', { name: settings.operator }) : t('status.noOperator')}</span>
    </div>
  );
}

export function App() {
  const { t } = useTranslation();
  const { info, settings } = useSettings();
  const [chosen, setScreen] = useState<Screen>(screenFromHash);
  const [wizard, setWizard] = useState(info.firstRunNeeded);
  const identity = useServerIdentity();
  const screens = identity?.role === 'admin' ? SCREENS : SCREENS.filter((s) => s !== 'admin');
  // #admin waits for the role; without the admin role it shows the Bench.
  const waitingForRole = chosen === 'admin' && identity === undefined;
  const screen: Screen = chosen === 'admin' && identity?.role !== 'admin' ? 'bench' : chosen;
  const screensRef = useRef(screens);
  useEffect(() => {
    screensRef.current = screens;
  });

  useEffect(() => {
    void applyLanguage(settings.language);
  }, [settings.language]);

  useEffect(() => {
    const onHash = (): void => setScreen(screenFromHash());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);

  const go = (s: Screen): void => {
    history.replaceState(null, '', `#${s}`);
    setScreen(s);
    requestAnimationFrame(() => document.getElementById('main')?.focus());
  };

  useEffect(() => {
    const onKey = (e: KeyboardEvent): void => {
      if (!e.altKey || e.ctrlKey || e.metaKey) return;
      const n = Number(e.key);
      if (n >= 1 && n <= screensRef.current.length) {
        e.preventDefault();
        go(screensRef.current[n - 1]!);
      }
    };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, []);

  if (wizard) {
    return (
      <>
        <Announcer />
        <FirstRunWizard
          onDone={() => setWizard(false)}
          onRemote={() => {
            setWizard(false);
            go('settings');
          }}
        />
      </>
    );
  }

  return (
    <ConfirmProvider>
    <Announcer />
    <div className="shell">
      <a className="skip-link" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>
        {t('app.skipToContent')}
      </a>
      <header className="topbar">
        <h1 className="topbar__title">{t('app.title')}</h1>
        <nav aria-label={t('app.mainNav')} className="nav">
          {screens.map((s, i) => (
            <button
              key={s}
              type="button"
              className="nav__item"
              aria-current={screen === s ? 'page' : undefined}
              aria-keyshortcuts={`Alt+${i + 1}`}
              title={t('app.shortcutHint', { n: i + 1 })}
              onClick={() => go(s)}
              data-screen={s}
            >
              {t(`nav.${s}`)}
            </button>
          ))}
        </nav>
        <StatusBar />
      </header>
      <main id="main" tabIndex={-1} className="main">
        <Suspense fallback={<p className="muted">{t('common.loading')}</p>}>
          {waitingForRole && <p className="muted">{t('common.loading')}</p>}
          {screen === 'bench' && !waitingForRole && <BenchScreen />}
          {screen === 'field' && <FieldScreen />}
          {screen === 'gateways' && <GatewaysScreen />}
          {screen === 'log' && <LogScreen />}
          {screen === 'settings' && <SettingsScreen />}
          {screen === 'claim' && <ClaimScreen />}
          {screen === 'admin' && <AdminScreen />}
        </Suspense>
      </main>
    </div>
    </ConfirmProvider>
  );
}
