import { useEffect, useSyncExternalStore } from 'react';
import type { StationClient } from '../../shared/ipc.js';
import type { ServerIdentityView } from '../../shared/views.js';
import { useStation } from './context.js';
import { useSettings } from './settings-context.js';

type Identity = ServerIdentityView | null | undefined;

/** One answer per client, shared by every component that asks; asked again when the settings change. */
class IdentityStore {
  private value: Identity = undefined;
  private askedFor: unknown;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly client: StationClient) {}

  readonly get = (): Identity => this.value;

  readonly subscribe = (l: () => void): (() => void) => {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  };

  /** Asks the core once per settings object (another server or token, a restore: new settings). */
  ask(settings: unknown): void {
    if (this.askedFor === settings) return;
    this.askedFor = settings;
    const set = (v: Identity): void => {
      if (this.askedFor !== settings) return;
      this.value = v;
      for (const l of this.listeners) l();
    };
    this.client.invoke('server.identity').then(set, () => set(null));
  }
}

const stores = new WeakMap<StationClient, IdentityStore>();

/**
 * The station's server token as the server knows it (role, account, server admin): the shell shows
 * the Admin screen to admin tokens only, and screens offer the actions the role allows. `undefined`
 * while asking; `null` when the server cannot say (not set up, unreachable, older server) — then
 * screens offer their actions and the server's answer decides.
 */
export function useServerIdentity(): Identity {
  const client = useStation();
  const { settings } = useSettings();
  let store = stores.get(client);
  if (!store) {
    store = new IdentityStore(client);
    stores.set(client, store);
  }
  const s = store;
  useEffect(() => s.ask(settings), [s, settings]);
  return useSyncExternalStore(s.subscribe, s.get);
}

/** Whether a role may do something, when the role is known; unknown → let the server decide. */
export function roleAllows(identity: Identity, roles: readonly ServerIdentityView['role'][]): boolean {
  return !identity || roles.includes(identity.role);
}
