/**
 * Operators first (docs/zero-touch.md, "A flood stays cheap"): the unauthenticated device endpoints
 * (zero-touch nonce, bootstrap, poll) and the TLS handshakes of new connections are started only in
 * the gaps between other requests, a few per event-loop turn, so a crowd of devices never queues
 * ahead of an operator's request on the event loop. Every other request is a priority request: it
 * is served as it arrives, and while one is in flight no device work starts.
 *
 * Nothing waits for ever: a device request that has not started within `maxWaitMs` (or finds the
 * queue full) is answered 429 `busy` with a Retry-After the devices honour; a held connection or
 * device request that has waited `starveMs` starts even while priority requests keep coming (one per
 * turn), so a busy operator cannot stall the devices, nor a new operator connection wait behind them.
 * Knows nothing of the routes: the app says which requests are device requests.
 */
import type { Server as NetServer, Socket } from 'node:net';

export interface DeviceGateOptions {
  /** Device requests served at the same time. */
  concurrency: number;
  /** Device requests or held connections started per event-loop turn. */
  perTurn: number;
  /** A device request not started after this long is answered `busy`. */
  maxWaitMs: number;
  /** Device requests allowed to wait; the next one is answered `busy` at once. */
  maxWaiting: number;
  /** Something waiting this long starts even while priority requests are in flight. */
  starveMs: number;
  /** Device requests per second the server expects to serve (its admission limit), for Retry-After. */
  ratePerSecond: number;
}

export const DEFAULT_GATE: Omit<DeviceGateOptions, 'ratePerSecond'> = { concurrency: 4, perTurn: 2, maxWaitMs: 5_000, maxWaiting: 2_000, starveMs: 250 };

/** Calls `fn` once a response has closed (answered or aborted); at once when it already has (no late 'close' comes). */
export function whenClosed(res: { readonly closed: boolean; once(event: 'close', fn: () => void): unknown }, fn: () => void): void {
  if (res.closed) fn();
  else res.once('close', fn);
}

/** A device request the gate did not start: answer 429 `busy` with this Retry-After. */
export class GateBusyError extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super(`the server is busy with other work; retry in ${retryAfterSeconds} s`);
  }
}

interface Waiter {
  at: number;
  start(): void;
  timer?: NodeJS.Timeout;
}

export class DeviceGate {
  private priority = 0;
  private running = 0;
  private readonly requests: Waiter[] = [];
  private readonly connections: Waiter[] = [];
  private scheduled = false;
  private starveTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly o: DeviceGateOptions,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Counts a priority request in flight; call the returned function (once is enough) when it is answered or aborted. */
  enterPriority(): () => void {
    this.priority++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.priority--;
      if (this.priority === 0) this.schedule();
    };
  }

  /** Waits until a device request may start; resolves with its release (call when answered or aborted). */
  acquire(): Promise<() => void> {
    if (this.requests.length >= this.o.maxWaiting) return Promise.reject(new GateBusyError(this.retryAfter()));
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        at: this.now(),
        start: () => {
          clearTimeout(w.timer);
          this.running++;
          let done = false;
          resolve(() => {
            if (done) return;
            done = true;
            this.running--;
            this.schedule();
          });
        },
      };
      w.timer = setTimeout(() => {
        const i = this.requests.indexOf(w);
        if (i < 0) return;
        this.requests.splice(i, 1);
        reject(new GateBusyError(this.retryAfter()));
      }, this.o.maxWaitMs);
      this.requests.push(w);
      this.schedule();
    });
  }

  /**
   * Takes over a TLS server's new connections: each waits, unread (so its handshake costs nothing
   * yet), until the gate starts it. Its own connection listeners are kept and called then.
   */
  gateConnections(server: NetServer): void {
    const listeners = server.listeners('connection') as ((socket: Socket) => void)[];
    server.removeAllListeners('connection');
    const s = server as NetServer & { pauseOnConnect: boolean };
    s.pauseOnConnect = true;
    server.on('connection', (socket: Socket) => {
      const start = (): void => {
        // The TLS socket made by the listener must read: it inherits this flag.
        s.pauseOnConnect = false;
        try {
          for (const l of listeners) l.call(server, socket);
        } finally {
          s.pauseOnConnect = true;
        }
      };
      if (this.priority === 0 && this.connections.length === 0) start();
      else {
        this.connections.push({ at: this.now(), start });
        this.schedule();
      }
    });
  }

  /** For the health view and tests. */
  state(): { priorityInFlight: number; devicesRunning: number; devicesWaiting: number; connectionsWaiting: number } {
    return { priorityInFlight: this.priority, devicesRunning: this.running, devicesWaiting: this.requests.length, connectionsWaiting: this.connections.length };
  }

  private retryAfter(): number {
    return Math.min(60, Math.max(1, Math.ceil(this.requests.length / Math.max(1, this.o.ratePerSecond))));
  }

  private schedule(): void {
    if (this.scheduled || (this.requests.length === 0 && this.connections.length === 0)) return;
    this.scheduled = true;
    setImmediate(() => this.pump());
  }

  /** One turn's worth: connections first (their handshakes come before their requests), then device requests. */
  private pump(): void {
    this.scheduled = false;
    const now = this.now();
    const starving = (q: Waiter[]): boolean => q.length > 0 && now - q[0]!.at >= this.o.starveMs;
    let started = 0;
    while (this.connections.length > 0 && started < this.o.perTurn && (this.priority === 0 || (started === 0 && starving(this.connections)))) {
      this.connections.shift()!.start();
      started++;
    }
    let granted = 0;
    while (this.requests.length > 0 && this.running < this.o.concurrency && granted < this.o.perTurn && (this.priority === 0 || (granted === 0 && starving(this.requests)))) {
      this.requests.shift()!.start();
      granted++;
    }
    if (started + granted > 0) this.schedule();
    else this.watchStarvation(now);
  }

  /** Nothing could start (priority requests in flight): look again when the oldest would starve. */
  private watchStarvation(now: number): void {
    const oldest = Math.min(this.connections[0]?.at ?? Infinity, this.running < this.o.concurrency ? (this.requests[0]?.at ?? Infinity) : Infinity);
    if (oldest === Infinity || this.starveTimer) return;
    this.starveTimer = setTimeout(
      () => {
        this.starveTimer = undefined;
        this.schedule();
      },
      Math.max(1, oldest + this.o.starveMs - now),
    );
  }
}
