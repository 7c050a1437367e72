import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from 'react';
import type { ProfileView } from '../../shared/profile.js';
import type { AppInfo, StationSettingsView } from '../../shared/views.js';
import { useStation } from './context.js';
import { useStationEvent } from './hooks.js';

interface SettingsValue {
  info: AppInfo;
  settings: StationSettingsView;
  profiles: ProfileView[];
  reloadProfiles: () => Promise<void>;
  reloadInfo: () => Promise<void>;
  setSettings: (s: StationSettingsView) => void;
}

const Ctx = createContext<SettingsValue | null>(null);

/** App-wide settings and profiles, kept current by `settings.changed` events. */
export function SettingsProvider({ initialInfo, initialSettings, initialProfiles, children }: { initialInfo: AppInfo; initialSettings: StationSettingsView; initialProfiles: ProfileView[]; children: ReactNode }) {
  const client = useStation();
  const [info, setInfo] = useState(initialInfo);
  const [settings, setSettings] = useState(initialSettings);
  const [profiles, setProfiles] = useState(initialProfiles);
  useStationEvent('settings.changed', setSettings);
  const reloadProfiles = useCallback(async () => setProfiles(await client.invoke('profiles.list')), [client]);
  const reloadInfo = useCallback(async () => setInfo(await client.invoke('app.info')), [client]);
  useEffect(() => {
    let alive = true;
    client.invoke('profiles.list').then(
      (p) => alive && setProfiles(p),
      () => undefined,
    );
    return () => {
      alive = false;
    };
  }, [client, settings.activeProfile]);
  return <Ctx.Provider value={{ info, settings, profiles, reloadProfiles, reloadInfo, setSettings }}>{children}</Ctx.Provider>;
}

export function useSettings(): SettingsValue {
  const v = useContext(Ctx);
  if (!v) throw new Error('SettingsProvider missing');
  return v;
}
