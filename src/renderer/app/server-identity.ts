import { useEffect, useSyncExternalStore } from 'react';
import type { StationClient } from '../../shared/ipc.js';
import type { ServerIdentityView } from '../../shared/views.js';
import { useStation } from './context.js';
import { useSettings } from './settings-context.js';

type Identity = ServerIdentityView | null | undefined;
/** The station token's identity, or the identity of the token the Admin screen uses (they differ in bundled mode). */
type IdentityChannel = 'server.identity' | 'admin.identity';

/** One answer per client, shared by every component that asks; asked again when the settings change. */
class IdentityStore {
  private value: Identity = undefined;
  private askedFor: unknown;
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly client: StationClient,
    private readonly channel: IdentityChannel,
  ) {}

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
    this.client.invoke(this.channel).then(set, () => set(null));
  }
}

const stores = new WeakMap<StationClient, Map<IdentityChannel, IdentityStore>>();

function useIdentity(channel: IdentityChannel): Identity {
  const client = useStation();
  const { settings } = useSettings();
  let byChannel = stores.get(client);
  if (!byChannel) {
    byChannel = new Map();
    stores.set(client, byChannel);
  }
  let store = byChannel.get(channel);
  if (!store) {
    store = new IdentityStore(client, channel);
    byChannel.set(channel, store);
  }
  const s = store;
  useEffect(() => s.ask(settings), [s, settings]);
  return useSyncExternalStore(s.subscribe, s.get);
}

/**
 * The station's server token as the server knows it (role, account, server admin): screens offer
 * the actions the role allows. `undefined` while asking; `null` when the server cannot say (not set
 * up, unreachable, older server) — then screens offer their actions and the server's answer decides.
 */
export function useServerIdentity(): Identity {
  return useIdentity('server.identity');
}

/**
 * The token the Admin screen acts with (bundled mode: the station's server-admin token of its own
 * server; remote mode: the station token): the shell shows the Admin screen to admin tokens only.
 */
export function useAdminIdentity(): Identity {
  return useIdentity('admin.identity');
}

/** Whether a role may do something, when the role is known; unknown → let the server decide. */
export function roleAllows(identity: Identity, roles: readonly ServerIdentityView['role'][]): boolean {
  return !identity || roles.includes(identity.role);
}
