import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from 'react';
import type { EventChannel, StationEvents } from '../../shared/ipc.js';
import type { BenchDevice, MonitorStatus, PiTarget } from '../../shared/views.js';
import type { JobSnapshot } from '../../shared/jobs.js';
import { useLive, useStation } from './context.js';

export function useJob(jobId: string | null | undefined): JobSnapshot | undefined {
  const { jobs } = useLive();
  return useSyncExternalStore(
    useCallback((l: () => void) => (jobId ? jobs.subscribeKey(jobId, l) : () => undefined), [jobs, jobId]),
    () => (jobId ? jobs.get(jobId) : undefined),
  );
}

export function useJobs(): JobSnapshot[] {
  const { jobs } = useLive();
  return useSyncExternalStore(useCallback((l: () => void) => jobs.subscribeAll(l), [jobs]), () => jobs.values());
}

export function useDevices(): BenchDevice[] {
  const { devices } = useLive();
  return useSyncExternalStore(useCallback((l: () => void) => devices.subscribeAll(l), [devices]), () => devices.values());
}

export function useTargets(): PiTarget[] {
  const { targets } = useLive();
  return useSyncExternalStore(useCallback((l: () => void) => targets.subscribeAll(l), [targets]), () => targets.values());
}

export function useJobLog(jobId: string | null | undefined): string[] {
  const live = useLive();
  useEffect(() => {
    if (jobId) void live.loadJobLog(jobId).catch(() => undefined);
  }, [live, jobId]);
  return useSyncExternalStore(
    useCallback((l: () => void) => (jobId ? live.jobLog.subscribe(jobId, l) : () => undefined), [live, jobId]),
    () => (jobId ? live.jobLog.get(jobId) : NO_LINES),
  );
}
const NO_LINES: string[] = [];

export function useConsole(deviceId: string): string[] {
  const live = useLive();
  return useSyncExternalStore(
    useCallback((l: () => void) => live.console.subscribe(deviceId, l), [live, deviceId]),
    () => live.console.get(deviceId),
  );
}

export function useMonitor(): MonitorStatus | null {
  const { monitor } = useLive();
  return useSyncExternalStore(monitor.subscribe, monitor.get);
}

export function usePresence(): Record<string, boolean> {
  const { presence } = useLive();
  return useSyncExternalStore(presence.subscribe, presence.get);
}

export function useLogVersion(): number {
  const { logVersion } = useLive();
  return useSyncExternalStore(logVersion.subscribe, logVersion.get);
}

export function useStationEvent<E extends EventChannel>(event: E, handler: (payload: StationEvents[E]) => void): void {
  const client = useStation();
  const ref = useRef(handler);
  useEffect(() => {
    ref.current = handler;
  });
  useEffect(() => client.on(event, (p) => ref.current(p)), [client, event]);
}

export interface AsyncState<T> {
  data: T | undefined;
  error: unknown;
  reload: () => void;
}

/** Loads data when `deps` change; `reload()` loads again. Stale responses are dropped. */
export function useAsync<T>(load: () => Promise<T>, deps: readonly unknown[]): AsyncState<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown }>({ data: undefined, error: undefined });
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  useEffect(() => {
    loadRef.current = load;
  });
  useEffect(() => {
    let alive = true;
    loadRef.current().then(
      (data) => alive && setState({ data, error: undefined }),
      (error: unknown) => alive && setState((s) => ({ data: s.data, error })),
    );
    return () => {
      alive = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}
