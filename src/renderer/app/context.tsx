import { createContext, useContext, type ReactNode } from 'react';
import type { StationClient } from '../../shared/ipc.js';
import type { LiveState } from './store.js';

interface StationContextValue {
  client: StationClient;
  live: LiveState;
}

const StationContext = createContext<StationContextValue | null>(null);

export function StationProvider({ client, live, children }: StationContextValue & { children: ReactNode }) {
  return <StationContext.Provider value={{ client, live }}>{children}</StationContext.Provider>;
}

function useCtx(): StationContextValue {
  const v = useContext(StationContext);
  if (!v) throw new Error('StationProvider missing');
  return v;
}

/** The typed contract client (Electron IPC or WebSocket; screens do not know which). */
export function useStation(): StationClient {
  return useCtx().client;
}

export function useLive(): LiveState {
  return useCtx().live;
}
