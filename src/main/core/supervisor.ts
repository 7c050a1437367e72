import type { IpcResult } from '../../shared/ipc-errors.js';
import type { CoreStatus } from '../../shared/views.js';
import type { JobSnapshot } from '../../shared/jobs.js';
import { safeLine, safeLines } from '../log/safe-text.js';
import type { StringCipher } from '../settings/secret-store.js';
import type { CoreConfig } from './config.js';
import { isCoreToHost, type CoreToHost, type HostToCore } from './protocol.js';

/** A started core process, whatever started it (Electron utilityProcess, child_process.fork). */
export interface CoreProcess {
  readonly pid: number | undefined;
  send(message: HostToCore): void;
  onMessage(listener: (message: unknown) => void): void;
  onExit(listener: (code: number | null, signal: string | null) => void): void;
  kill(signal: NodeJS.Signals): void;
}

/** Starts one core process; the only part that differs between the app and web mode. */
export type CoreLauncher = () => CoreProcess;

/** What a transport (Electron IPC, the web mode's WebSocket) needs of the station. */
export interface StationTarget {
  call(channel: string, payload: unknown): Promise<IpcResult<unknown>>;
  subscribe(listener: (event: string, payload: unknown) => void): () => void;
}

export interface SupervisorOptions {
  launch: CoreLauncher;
  /** The core's configuration, less what the supervisor sets itself. */
  config: Omit<CoreConfig, 'heartbeatMs' | 'restartReason' | 'keychain'>;
  /** The host's keychain, which encrypts the core's secret store; null = none on this machine. */
  keychain?: StringCipher | null;
  /** How often the core beats (default 1 s). */
  heartbeatMs?: number;
  /** A running core silent this long is stuck and is killed (default 15 s). */
  hangAfterMs?: number;
  /** A core that does not report ready within this is killed (default 90 s: the bundled server starts then). */
  startTimeoutMs?: number;
  /** Restart delays: the first, the cap, and how long a core must run to reset them (default 0.5 s, 30 s, 60 s). */
  backoff?: { firstMs: number; maxMs: number; stableMs: number };
  /** How long a clean stop may take before the core is killed (default 20 s). */
  stopTimeoutMs?: number;
  /** How long a request waits for a restarting core (default 60 s). */
  requestWaitMs?: number;
  /** Where the supervisor's lines go (control characters escaped: they may quote the core's errors). */
  log?: (line: string) => void;
}

type Listener = (event: string, payload: unknown) => void;
const ACTIVE = new Set(['queued', 'running', 'waiting-input']);
const unavailable = (message: string): IpcResult<unknown> => ({ ok: false, error: { code: 'UNAVAILABLE', message } });

/**
 * Runs the station core in its own process and keeps it running, as balenaEtcher does with its
 * writer: relays the UI contract to it unchanged, forwards its events, watches its heartbeat, and
 * when it crashes or hangs (killed) restarts it with back-off, telling the UI (`core.status`) how
 * many running jobs were interrupted; the new core records them as interrupted and can retry them.
 * Requests made while it restarts wait for it; requests in flight when it died fail with UNAVAILABLE.
 */
export class CoreSupervisor implements StationTarget {
  private proc: CoreProcess | undefined;
  private ready = false;
  private state: CoreStatus['state'] = 'restarting';
  private restarts = 0;
  private lastExit: CoreStatus['lastExit'] = null;
  private interrupted = 0;
  private readonly listeners = new Set<Listener>();
  private readonly inFlight = new Map<number, (r: IpcResult<unknown>) => void>();
  private readonly waiting = new Set<{ send: () => void; fail: () => void }>();
  private readonly activeJobs = new Set<string>();
  private nextId = 1;
  private lastBeat = 0;
  private spawnedAt = 0;
  private hangKilled = false;
  private fatal: string | undefined;
  /** Why the last ready core stopped; kept across failed restarts, told to the core that comes up. */
  private stopReason: string | undefined;
  private backoffMs: number;
  private watchdog: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;
  private readonly exited = new Set<() => void>();
  private readonly o: Required<Omit<SupervisorOptions, 'keychain'>> & { keychain: StringCipher | null };

  private constructor(options: SupervisorOptions) {
    const sink = options.log ?? ((l: string) => console.error(l));
    this.o = {
      heartbeatMs: 1000,
      hangAfterMs: 15_000,
      startTimeoutMs: 90_000,
      backoff: { firstMs: 500, maxMs: 30_000, stableMs: 60_000 },
      stopTimeoutMs: 20_000,
      requestWaitMs: 60_000,
      ...options,
      log: (l) => sink(safeLines(l)),
      keychain: options.keychain ?? null,
    };
    this.backoffMs = this.o.backoff.firstMs;
  }

  /** Starts the core; rejects with the core's own message when the first start fails. */
  static async start(options: SupervisorOptions): Promise<CoreSupervisor> {
    const s = new CoreSupervisor(options);
    try {
      await s.spawn(undefined);
    } catch (err) {
      await s.close();
      throw err;
    }
    return s;
  }

  /** The running core's process id (undefined while it restarts). */
  get pid(): number | undefined {
    return this.ready ? this.proc?.pid : undefined;
  }

  status(): CoreStatus {
    return { state: this.state, restarts: this.restarts, lastExit: this.lastExit, interruptedJobs: this.interrupted };
  }

  call(channel: string, payload: unknown): Promise<IpcResult<unknown>> {
    if (this.closing) return Promise.resolve(unavailable('the station is stopping'));
    if (this.ready) return this.send(channel, payload);
    return new Promise((resolve) => {
      const entry = {
        send: () => {
          clearTimeout(timer);
          this.waiting.delete(entry);
          void this.send(channel, payload).then(resolve);
        },
        fail: () => {
          clearTimeout(timer);
          this.waiting.delete(entry);
          resolve(unavailable('the station core is restarting; try again in a moment'));
        },
      };
      const timer = setTimeout(() => entry.fail(), this.o.requestWaitMs);
      this.waiting.add(entry);
    });
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops the core cleanly (it cancels its jobs and closes its database), killing it if it does not stop in time. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearTimeout(this.restartTimer);
      this.state = 'stopped';
      for (const w of [...this.waiting]) w.fail();
      const p = this.proc;
      if (!p) return;
      const gone = new Promise<void>((resolve) => this.exited.add(resolve));
      try {
        p.send({ t: 'shutdown' });
      } catch {
        p.kill('SIGKILL');
      }
      const timer = setTimeout(() => {
        this.o.log(`[station] the core did not stop within ${this.o.stopTimeoutMs} ms; killing it`);
        p.kill('SIGKILL');
      }, this.o.stopTimeoutMs);
      await gone;
      clearTimeout(timer);
    })();
    return this.closing;
  }

  private send(channel: string, payload: unknown): Promise<IpcResult<unknown>> {
    const p = this.proc;
    if (!p) return Promise.resolve(unavailable('the station core is not running'));
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.inFlight.set(id, resolve);
      try {
        p.send({ t: 'req', id, ch: channel, p: payload });
      } catch {
        this.inFlight.delete(id);
        resolve(unavailable('the station core is not reachable'));
      }
    });
  }

  private emit(event: string, payload: unknown): void {
    for (const l of this.listeners) {
      try {
        l(event, payload);
      } catch (err) {
        this.o.log(`[station] event listener failed for ${event}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  private emitStatus(): void {
    this.emit('core.status', this.status());
  }

  /** Starts a core; resolves when it is ready, rejects if it exits first. */
  private spawn(restartReason: string | undefined): Promise<void> {
    const p = this.o.launch();
    this.proc = p;
    this.ready = false;
    this.hangKilled = false;
    this.fatal = undefined;
    this.spawnedAt = this.lastBeat = Date.now();
    return new Promise<void>((resolve, reject) => {
      p.onMessage((m) => {
        if (p !== this.proc || !isCoreToHost(m)) return;
        this.onMessage(p, m, resolve);
      });
      p.onExit((code, signal) => {
        if (p !== this.proc) return;
        const wasReady = this.ready;
        this.onExit(code, signal);
        if (!wasReady) reject(new Error(this.fatal ?? `the station core exited before it was ready (${signal ? `signal ${signal}` : `exit code ${code}`})`));
      });
      clearInterval(this.watchdog);
      this.watchdog = setInterval(() => this.checkHeartbeat(p), this.o.heartbeatMs);
      p.send({
        t: 'start',
        config: { ...this.o.config, keychain: this.o.keychain?.kind ?? null, heartbeatMs: this.o.heartbeatMs, ...(restartReason ? { restartReason } : {}) },
      });
    });
  }

  private checkHeartbeat(p: CoreProcess): void {
    if (p !== this.proc || this.hangKilled) return;
    const limit = this.ready ? this.o.hangAfterMs : this.o.startTimeoutMs;
    if (Date.now() - this.lastBeat <= limit) return;
    this.hangKilled = true;
    this.o.log(`[station] the core (pid ${p.pid}) has not answered for ${Math.round((Date.now() - this.lastBeat) / 1000)} s; killing it`);
    p.kill('SIGKILL');
  }

  private onMessage(p: CoreProcess, m: CoreToHost, resolveStart: () => void): void {
    switch (m.t) {
      case 'hb':
        this.lastBeat = Date.now();
        return;
      case 'ready':
        this.lastBeat = Date.now();
        this.ready = true;
        this.state = 'running';
        this.stopReason = undefined;
        if (this.restarts > 0) this.interrupted = m.interrupted.length;
        resolveStart();
        this.emitStatus();
        for (const w of [...this.waiting]) w.send();
        return;
      case 'fatal':
        // Shown in the UI's banner too: one line, escaped like every text from another process.
        this.fatal = safeLine(m.message);
        this.o.log(`[station] the core could not start: ${m.message}`);
        return;
      case 'res': {
        const done = this.inFlight.get(m.id);
        this.inFlight.delete(m.id);
        done?.(m.r);
        return;
      }
      case 'evt':
        this.trackJobs(m.ev, m.p);
        this.emit(m.ev, m.p);
        return;
      case 'host-req':
        void this.keychainOp(m.op, m.data).then(
          (value) => p.send({ t: 'host-res', id: m.id, ok: true, value }),
          (err: unknown) => p.send({ t: 'host-res', id: m.id, ok: false, message: err instanceof Error ? err.message : String(err) }),
        );
        return;
    }
  }

  private async keychainOp(op: 'encrypt' | 'decrypt', data: string): Promise<string> {
    const k = this.o.keychain;
    if (!k) throw new Error('this host has no keychain');
    if (op === 'encrypt') return (await k.encrypt(Buffer.from(data, 'base64').toString('utf8'))).toString('base64');
    return Buffer.from(await k.decrypt(Buffer.from(data, 'base64')), 'utf8').toString('base64');
  }

  private trackJobs(event: string, payload: unknown): void {
    if (event === 'job.updated') {
      const j = payload as JobSnapshot;
      if (ACTIVE.has(j.state)) this.activeJobs.add(j.id);
      else this.activeJobs.delete(j.id);
    } else if (event === 'job.removed') {
      this.activeJobs.delete((payload as { jobId: string }).jobId);
    }
  }

  private onExit(code: number | null, signal: string | null): void {
    clearInterval(this.watchdog);
    const wasReady = this.ready;
    this.ready = false;
    this.proc = undefined;
    for (const [, done] of this.inFlight) done(unavailable('the station core stopped while handling this request'));
    this.inFlight.clear();
    for (const l of [...this.exited]) l();
    this.exited.clear();
    if (this.closing) return;
    if (!wasReady && this.restarts === 0 && this.lastExit === null) return; // the first start failed: start() reports it
    const hang = this.hangKilled;
    const how = hang
      ? `stopped answering for over ${Math.round((wasReady ? this.o.hangAfterMs : this.o.startTimeoutMs) / 1000)} s and was killed`
      : signal
        ? `was killed by signal ${signal}`
        : `exited with code ${code}${this.fatal ? ` (${this.fatal})` : ''}`;
    const message = `the station core ${how}`;
    this.o.log(`[station] ${message}; restarting it`);
    this.lastExit = { reason: hang ? 'hang' : 'crash', code, signal, at: new Date().toISOString(), message };
    if (wasReady) {
      this.stopReason = message;
      this.interrupted = this.activeJobs.size;
      this.activeJobs.clear();
    }
    this.state = 'restarting';
    this.restarts++;
    this.emitStatus();
    const ranMs = Date.now() - this.spawnedAt;
    this.backoffMs = ranMs >= this.o.backoff.stableMs ? this.o.backoff.firstMs : this.backoffMs;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.o.backoff.maxMs);
    const reason = this.stopReason ?? message;
    this.restartTimer = setTimeout(() => {
      if (this.closing) return;
      this.spawn(reason).catch((err: unknown) => this.o.log(`[station] restart failed: ${err instanceof Error ? err.message : String(err)}`));
    }, delay);
  }
}
