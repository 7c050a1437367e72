import type { StringCipher } from '../settings/secret-store.js';
import { dispatch } from '../station/dispatch.js';
import type { StationService } from '../station/service.js';
import { CoreConfigSchema, type CoreConfig } from './config.js';
import { startCoreStation } from './core-station.js';
import { isHostToCore, type CoreToHost, type HostOp } from './protocol.js';

/** The core's end of its channel to the host (Electron's parentPort, or Node's fork IPC). */
export interface CoreChannel {
  send(message: CoreToHost): void;
  onMessage(listener: (message: unknown) => void): void;
  /** The host is gone (its end closed); the core stops. */
  onDisconnect(listener: () => void): void;
}

/** Heartbeats before the configuration says how often (the host waits a few of them). */
const FIRST_HEARTBEAT_MS = 1000;

/**
 * Runs a station core behind `channel`: waits for its configuration, starts the station service,
 * answers the UI contract's requests with the same `dispatch` every transport uses, forwards the
 * core's events, and beats a heartbeat from its event loop so the host can tell a hang from a
 * slow request. Keychain work is asked of the host. `exit` ends the process.
 */
export function runCore(channel: CoreChannel, exit: (code: number) => void, log: (line: string) => void = (l) => console.error(l)): void {
  let heartbeat = setInterval(() => channel.send({ t: 'hb' }), FIRST_HEARTBEAT_MS);
  let station: StationService | undefined;
  let starting = false;
  let stopping = false;
  const hostCalls = new Map<number, { resolve: (v: string) => void; reject: (e: Error) => void }>();
  let nextHostCall = 1;

  const askHost = (op: HostOp, data: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const id = nextHostCall++;
      hostCalls.set(id, { resolve, reject });
      channel.send({ t: 'host-req', id, op, data });
    });

  const hostCipher = (kind: NonNullable<CoreConfig['keychain']>): StringCipher => ({
    kind,
    encrypt: async (plain) => Buffer.from(await askHost('encrypt', Buffer.from(plain, 'utf8').toString('base64')), 'base64'),
    decrypt: async (data) => Buffer.from(await askHost('decrypt', data.toString('base64')), 'base64').toString('utf8'),
  });

  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    try {
      await station?.close();
    } catch (err) {
      log(`[core] close failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    clearInterval(heartbeat);
    exit(code);
  };

  const start = async (raw: unknown): Promise<void> => {
    if (starting) return;
    starting = true;
    const parsed = CoreConfigSchema.safeParse(raw);
    if (!parsed.success) {
      channel.send({ t: 'fatal', message: `invalid core configuration: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` });
      return stop(2);
    }
    const config = parsed.data;
    clearInterval(heartbeat);
    heartbeat = setInterval(() => channel.send({ t: 'hb' }), config.heartbeatMs);
    try {
      const s = await startCoreStation(config, config.keychain ? hostCipher(config.keychain) : undefined, log);
      station = s;
      s.bus.subscribe((ev, p) => channel.send({ t: 'evt', ev, p }));
      channel.send({ t: 'ready', pid: process.pid, interrupted: s.interruptedJobs });
    } catch (err) {
      channel.send({ t: 'fatal', message: err instanceof Error ? err.message : String(err) });
      await stop(1);
    }
  };

  channel.onMessage((m) => {
    if (!isHostToCore(m)) return;
    switch (m.t) {
      case 'start':
        void start(m.config);
        return;
      case 'req': {
        const s = station;
        if (!s || stopping) {
          channel.send({ t: 'res', id: m.id, r: { ok: false, error: { code: 'UNAVAILABLE', message: 'the station core is not ready' } } });
          return;
        }
        void dispatch(s.handlers, m.ch, m.p, log).then((r) => channel.send({ t: 'res', id: m.id, r }));
        return;
      }
      case 'host-res': {
        const call = hostCalls.get(m.id);
        hostCalls.delete(m.id);
        if (m.ok) call?.resolve(m.value);
        else call?.reject(new Error(m.message));
        return;
      }
      case 'shutdown':
        void stop(0);
        return;
    }
  });
  channel.onDisconnect(() => void stop(0));
}
