import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { ValidRequestOf } from '../../shared/ipc.js';
import type { Profile, ProfileView } from '../../shared/profile.js';
import type { StationSettingsView } from '../../shared/views.js';
import { StationError } from '../../shared/ipc-errors.js';
import { V } from '../../shared/validation.js';
import { SECRET, type SecretStore } from '../settings/secret-store.js';
import type { PersistedSettings, SettingsStore } from '../settings/settings-store.js';
import type { StationEventBus } from './dispatch.js';

/** What the running station adds to the stored settings (bundled server, embedded broker). */
export interface RuntimeStatus {
  bundledServer: { running: boolean; url: string | null; dataDir: string } | null;
  embeddedBroker: { running: boolean; port: number | null } | null;
}

/** A profile with its secret resolved, for building jobs (never sent to the renderer). */
export type ResolvedProfile = Profile & { wifiPassword: string };

function invalid(field: string, key: string, message: string): StationError {
  return new StationError('INVALID_INPUT', message, { issues: [{ field, key, message }] });
}

/** Parses a monitor identity: a certificate, a key that matches it, and the facts the UI shows. */
export function parseMonitorIdentity(certPem: string, keyPem: string): { name: string; serialNumber: string; expiresAt: string } {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    throw invalid('monitor.certPem', V.certInvalid, 'This is not a PEM certificate (-----BEGIN CERTIFICATE-----).');
  }
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    throw invalid('monitor.keyPem', V.keyInvalid, 'This is not an unencrypted PEM private key.');
  }
  if (!cert.checkPrivateKey(key)) throw invalid('monitor.keyPem', V.keyMismatch, 'This key does not belong to the certificate above.');
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1] ?? cert.subject;
  return { name: cn, serialNumber: cert.serialNumber, expiresAt: new Date(cert.validTo).toISOString() };
}

/** Station settings, profiles and their secrets, behind the contract's settings/profile requests. */
export class SettingsService {
  constructor(
    private readonly store: SettingsStore,
    readonly secrets: SecretStore,
    private readonly bus: StationEventBus,
    private readonly runtime: () => RuntimeStatus,
  ) {}

  get current(): PersistedSettings {
    return this.store.get();
  }

  async view(): Promise<StationSettingsView> {
    const s = this.store.get();
    const rt = this.runtime();
    const bundled = s.server.mode === 'bundled';
    return {
      operator: s.operator,
      language: s.language,
      stationId: s.stationId,
      activeProfile: s.activeProfile,
      server: {
        mode: s.server.mode,
        url: bundled ? (rt.bundledServer?.url ?? null) : s.server.url,
        hasToken: (await this.secrets.get(bundled ? SECRET.bundledToken : SECRET.serverToken)) !== undefined,
        caPem: bundled ? null : s.server.caPem,
        accountId: s.server.accountId,
        bundled: rt.bundledServer ? { running: rt.bundledServer.running, dataDir: rt.bundledServer.dataDir } : null,
      },
      broker: {
        mode: s.broker.mode,
        host: s.broker.host,
        port: s.broker.port,
        deviceHost: s.broker.deviceHost,
        caPem: s.broker.caPem,
        monitor: s.broker.monitor ? { name: s.broker.monitor.name, serialNumber: s.broker.monitor.serialNumber, expiresAt: s.broker.monitor.expiresAt } : null,
        embedded: rt.embeddedBroker,
      },
      bench: { sound: s.bench.sound, notify: s.bench.notify, autoStart: s.bench.autoStart, autoPrint: s.bench.autoPrint },
      profileLock: { locked: s.profileLock.locked, pinSet: (await this.secrets.get(SECRET.adminPin)) !== undefined },
    };
  }

  private async changed(): Promise<StationSettingsView> {
    const v = await this.view();
    this.bus.emit('settings.changed', v);
    return v;
  }

  async update(req: ValidRequestOf<'settings.update'>): Promise<StationSettingsView> {
    if (req.activeProfile && !this.store.get().profiles.some((p) => p.name === req.activeProfile)) {
      throw invalid('activeProfile', V.choice, `There is no profile named "${req.activeProfile}".`);
    }
    await this.store.update((d) => {
      if (req.operator !== undefined) d.operator = req.operator;
      if (req.language !== undefined) d.language = req.language;
      if (req.stationId !== undefined) d.stationId = req.stationId;
      if (req.activeProfile !== undefined) d.activeProfile = req.activeProfile;
    });
    return this.changed();
  }

  async setServer(req: ValidRequestOf<'settings.setServer'>): Promise<StationSettingsView> {
    if (req.mode === 'remote') {
      if (req.token === undefined && (await this.secrets.get(SECRET.serverToken)) === undefined) {
        throw invalid('token', V.token, 'Paste the API token for this server.');
      }
      if (req.token !== undefined) await this.secrets.set(SECRET.serverToken, req.token);
      await this.store.update((d) => {
        d.server = { mode: 'remote', url: req.url.replace(/\/+$/, ''), caPem: req.caPem ?? null, accountId: req.accountId };
        d.configured = true;
      });
    } else {
      await this.store.update((d) => {
        d.server.mode = 'bundled';
      });
    }
    return this.changed();
  }

  async setBroker(req: ValidRequestOf<'settings.setBroker'>): Promise<StationSettingsView> {
    const identity = req.monitor ? parseMonitorIdentity(req.monitor.certPem, req.monitor.keyPem) : undefined;
    if (req.monitor) await this.secrets.set(SECRET.monitorKey, req.monitor.keyPem);
    await this.store.update((d) => {
      d.broker.host = req.host;
      d.broker.port = req.port;
      d.broker.deviceHost = req.deviceHost;
      if (req.caPem !== undefined) d.broker.caPem = req.caPem;
      if (identity && req.monitor) d.broker.monitor = { ...identity, certPem: req.monitor.certPem };
    });
    return this.changed();
  }

  /** Stores a monitor identity made by the first-run wizard. */
  async setMonitorIdentity(certPem: string, keyPem: string): Promise<void> {
    const identity = parseMonitorIdentity(certPem, keyPem);
    await this.secrets.set(SECRET.monitorKey, keyPem);
    await this.store.update((d) => {
      d.broker.monitor = { ...identity, certPem };
    });
  }

  async patch(change: (d: PersistedSettings) => void): Promise<StationSettingsView> {
    await this.store.update(change);
    return this.changed();
  }

  // ---- profiles

  async profiles(): Promise<ProfileView[]> {
    const out: ProfileView[] = [];
    for (const p of this.store.get().profiles) {
      const { esp32, ...rest } = p;
      out.push({
        ...rest,
        ...(esp32 ? { esp32: { ...esp32, hasWifiPassword: (await this.secrets.get(SECRET.wifiPassword(p.name))) !== undefined } } : {}),
      });
    }
    return out;
  }

  async saveProfile(req: ValidRequestOf<'profiles.save'>): Promise<ProfileView> {
    const { profile, previousName } = req;
    const all = this.store.get().profiles;
    if (previousName !== undefined && !all.some((p) => p.name === previousName)) throw new StationError('NOT_FOUND', `There is no profile named "${previousName}".`);
    if (profile.name !== previousName && all.some((p) => p.name === profile.name)) {
      throw new StationError('CONFLICT', `A profile named "${profile.name}" already exists.`, {
        issues: [{ field: 'profile.name', key: V.conflict, message: `A profile named "${profile.name}" already exists; choose another name.` }],
      });
    }
    const { esp32, ...rest } = profile;
    let stored: Profile = { ...rest };
    if (esp32) {
      const { wifiPassword, ...esp } = esp32;
      stored = { ...stored, esp32: esp };
      const secretName = SECRET.wifiPassword(profile.name);
      if (previousName && previousName !== profile.name) {
        const old = await this.secrets.get(SECRET.wifiPassword(previousName));
        if (old !== undefined && wifiPassword === undefined) await this.secrets.set(secretName, old);
        await this.secrets.delete(SECRET.wifiPassword(previousName));
      }
      if (wifiPassword === '' || esp.wifiOpen) await this.secrets.delete(secretName);
      else if (wifiPassword !== undefined) await this.secrets.set(secretName, wifiPassword);
    } else {
      await this.secrets.delete(SECRET.wifiPassword(profile.name));
    }
    await this.store.update((d) => {
      const i = d.profiles.findIndex((p) => p.name === (previousName ?? profile.name));
      if (i >= 0) d.profiles[i] = stored;
      else d.profiles.push(stored);
      if (previousName && d.activeProfile === previousName) d.activeProfile = profile.name;
      if (!d.activeProfile) d.activeProfile = profile.name;
    });
    await this.changed();
    const view = (await this.profiles()).find((p) => p.name === profile.name);
    if (!view) throw new StationError('INTERNAL', 'profile vanished while saving');
    return view;
  }

  async deleteProfile(name: string): Promise<ProfileView[]> {
    if (!this.store.get().profiles.some((p) => p.name === name)) throw new StationError('NOT_FOUND', `There is no profile named "${name}".`);
    await this.secrets.delete(SECRET.wifiPassword(name));
    await this.store.update((d) => {
      d.profiles = d.profiles.filter((p) => p.name !== name);
      if (d.activeProfile === name) d.activeProfile = d.profiles[0]?.name ?? null;
    });
    await this.changed();
    return this.profiles();
  }

  async resolveProfile(name: string): Promise<ResolvedProfile> {
    const p = this.store.get().profiles.find((x) => x.name === name);
    if (!p) throw new StationError('NOT_FOUND', `There is no profile named "${name}".`, { hint: 'Create it in Settings → Profiles.' });
    return { ...p, wifiPassword: p.esp32 ? ((await this.secrets.get(SECRET.wifiPassword(name))) ?? '') : '' };
  }
}
