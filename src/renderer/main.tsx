import { StrictMode, useSyncExternalStore } from 'react';
import { createRoot } from 'react-dom/client';
import { useTranslation } from 'react-i18next';
import type { StationClient } from '../shared/ipc.js';
import type { PreloadBridge } from '../shared/ipc-channels.js';
import { App } from './app/App.js';
import { electronClient, takeAccessToken, webSocketClient, type ConnectionState } from './app/client.js';
import { CoreBanner } from './app/CoreBanner.js';
import { StationProvider } from './app/context.js';
import { SettingsProvider } from './app/settings-context.js';
import { LiveState, ValueStore } from './app/store.js';
import { applyLanguage, initI18n } from './i18n/index.js';
import './styles/app.css';

declare global {
  interface Window {
    /** Set by the Electron preload; absent in web mode. */
    tdsStation?: PreloadBridge;
  }
}

const connection = new ValueStore<ConnectionState>('connecting');

function ConnectionBanner() {
  const { t } = useTranslation();
  const state = useSyncExternalStore(connection.subscribe, connection.get);
  if (state === 'open') return null;
  return (
    <div className="banner" role="status">
      {state === 'closed' ? t('app.disconnected') : t('app.connecting')}
    </div>
  );
}

function Message({ text }: { text: string }) {
  return (
    <main className="boot-message">
      <p role="alert">{text}</p>
    </main>
  );
}

async function boot(): Promise<void> {
  await initI18n();
  const root = createRoot(document.getElementById('root')!);
  const t = (await import('i18next')).default.t;
  let client: StationClient;
  if (window.tdsStation) {
    client = electronClient(window.tdsStation);
    connection.set('open');
  } else {
    const token = takeAccessToken();
    if (!token) {
      root.render(<Message text={t('app.noToken')} />);
      return;
    }
    client = webSocketClient(token, (s) => connection.set(s));
  }
  root.render(<Message text={t('app.connecting')} />);
  const live = new LiveState(client);
  let loaded: Awaited<ReturnType<typeof load>> | undefined;
  async function load() {
    const [info, settings, profiles] = await Promise.all([client.invoke('app.info'), client.invoke('settings.get'), client.invoke('profiles.list')]);
    await live.refresh();
    return { info, settings, profiles };
  }
  for (let attempt = 0; !loaded; attempt++) {
    try {
      loaded = await load();
    } catch (err) {
      if (attempt > 40) {
        root.render(<Message text={t('app.loadFailed', { message: err instanceof Error ? err.message : String(err) })} />);
        return;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  // After a reconnect, events may have been missed: load the live state again.
  connection.subscribe(() => {
    if (connection.get() === 'open') void live.refresh().catch(() => undefined);
  });
  await applyLanguage(loaded.settings.language);
  root.render(
    <StrictMode>
      <StationProvider client={client} live={live}>
        <SettingsProvider initialInfo={loaded.info} initialSettings={loaded.settings} initialProfiles={loaded.profiles}>
          <ConnectionBanner />
          <CoreBanner />
          <App />
        </SettingsProvider>
      </StationProvider>
    </StrictMode>,
  );
}

void boot();
