import type { EventChannel, RequestChannel, RequestOf, ResponseOf, StationClient, StationEvents } from '../../shared/ipc.js';
import type { PreloadBridge, WsClientFrame, WsServerFrame } from '../../shared/ipc-channels.js';
import type { IpcErrorBody, IpcResult } from '../../shared/ipc-errors.js';

/** An error body from the core, thrown by `invoke`. */
export class RemoteError extends Error {
  readonly body: IpcErrorBody;
  constructor(body: IpcErrorBody) {
    super(body.message);
    this.name = 'RemoteError';
    this.body = body;
  }
}

type RawListener = (event: string, payload: unknown) => void;

/** Builds the typed client from a raw "send a request / hear events" pair. */
function typedClient(send: (ch: string, p: unknown) => Promise<IpcResult<unknown>>, listen: (l: RawListener) => () => void): StationClient {
  return {
    async invoke<C extends RequestChannel>(channel: C, ...args: [RequestOf<C>?]): Promise<ResponseOf<C>> {
      const r = await send(channel, args[0]);
      if (!r.ok) throw new RemoteError(r.error);
      return r.value as ResponseOf<C>;
    },
    on<E extends EventChannel>(event: E, listener: (payload: StationEvents[E]) => void): () => void {
      return listen((ev, p) => {
        if (ev === event) listener(p as StationEvents[E]);
      });
    },
  } as StationClient;
}

/** Electron: the preload's bridge (contextBridge), nothing else is reachable. */
export function electronClient(bridge: PreloadBridge): StationClient {
  return typedClient((ch, p) => bridge.invoke(ch, p) as Promise<IpcResult<unknown>>, (l) => bridge.on(l));
}

export type ConnectionState = 'connecting' | 'open' | 'closed';

/**
 * Web mode: one WebSocket to the page's own origin with the access token. Reconnects with backoff
 * (a restarted station keeps its URL only if it keeps its token); requests made while disconnected
 * fail at once with a clear error rather than hanging.
 */
export function webSocketClient(token: string, onState: (s: ConnectionState) => void): StationClient {
  const listeners = new Set<RawListener>();
  const pending = new Map<number, (r: IpcResult<unknown>) => void>();
  let nextId = 1;
  let ws: WebSocket | undefined;
  let opened: Promise<void>;
  let retryMs = 250;

  const connect = (): void => {
    onState('connecting');
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws?token=${encodeURIComponent(token)}`;
    const sock = new WebSocket(url);
    ws = sock;
    opened = new Promise((resolve, reject) => {
      sock.addEventListener('open', () => {
        retryMs = 250;
        onState('open');
        resolve();
      });
      sock.addEventListener('close', () => reject(new Error('closed')));
    });
    opened.catch(() => undefined);
    sock.addEventListener('message', (m) => {
      const frame = JSON.parse(String(m.data)) as WsServerFrame;
      if (frame.t === 'res') {
        pending.get(frame.id)?.(frame.r);
        pending.delete(frame.id);
      } else {
        for (const l of listeners) l(frame.ev, frame.p);
      }
    });
    sock.addEventListener('close', () => {
      onState('closed');
      for (const [, resolve] of pending) resolve({ ok: false, error: { code: 'UNAVAILABLE', message: 'connection to the station lost' } });
      pending.clear();
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 5000);
    });
  };
  connect();

  const send = async (ch: string, p: unknown): Promise<IpcResult<unknown>> => {
    try {
      await opened;
    } catch {
      return { ok: false, error: { code: 'UNAVAILABLE', message: 'not connected to the station' } };
    }
    const id = nextId++;
    const frame: WsClientFrame = { t: 'req', id, ch, p };
    return new Promise((resolve) => {
      pending.set(id, resolve);
      ws!.send(JSON.stringify(frame));
    });
  };
  return typedClient(send, (l) => {
    listeners.add(l);
    return () => listeners.delete(l);
  });
}

/** Reads the access token from `#token=…` once, keeps it for reloads, and removes it from the address bar. */
export function takeAccessToken(): string | null {
  const m = /(?:^#|&)token=([A-Za-z0-9_-]+)/.exec(location.hash);
  if (m?.[1]) {
    sessionStorage.setItem('tds.token', m[1]);
    history.replaceState(null, '', location.pathname + location.search);
    return m[1];
  }
  return sessionStorage.getItem('tds.token');
}
