/**
 * `Cluster` on PostgreSQL. Locks are transaction-level advisory locks held on a pooled connection
 * for the duration of the work: released at COMMIT, and by the server if the holding instance dies,
 * so a crashed instance never blocks the others. Messages are NOTIFY (sent through the pool,
 * delivered at commit) and one dedicated LISTEN connection per instance that reconnects with
 * backoff after the database went away; every reconnect is announced (`onResync`) so the listeners
 * catch up with what they may have missed.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { Cluster, ClusterChannel, ClusterLock, ClusterMessage } from '../cluster.js';
import { checkout, createClient, rethrow, type PostgresOptions } from './pool.js';
import { CRL_CHANNEL } from './repository.js';

const CHANNELS: Record<ClusterChannel, string> = { crl: CRL_CHANNEL, certificate: 'tds_certificate', lockout: 'tds_lockout' };
/** Advisory lock keys (any fixed bigint, the same in every instance). */
const LOCKS: Record<ClusterLock, string> = {
  crl: '7237095758917141362',
  'birth-crl': '7237095758917141363',
  'schedule:renewal': '7237095758917141364',
  'schedule:crl': '7237095758917141365',
};
/** A lock is waited for at most this long (then the work fails and is retried by its caller). */
const LOCK_TIMEOUT = '30s';

export class PgCluster implements Cluster {
  readonly instanceId = randomBytes(6).toString('hex');
  private listenClient: pg.Client | undefined;
  private readonly listeners = new Map<ClusterChannel, Set<(m: ClusterMessage) => void>>();
  private readonly resyncListeners = new Set<() => void>();
  private closed = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: PostgresOptions,
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  /** Opens the LISTEN connection; when the database is away, keeps trying in the background. */
  async start(): Promise<void> {
    await this.connect().catch((err: unknown) => {
      this.log(`[cluster] cannot listen for other instances yet: ${(err as Error).message}`);
      this.scheduleReconnect();
    });
  }

  private async connect(): Promise<void> {
    const client = createClient({ ...this.options, applicationName: 'tds-server listen' });
    client.on('notification', (n) => this.dispatch(n.channel, n.payload));
    client.on('error', (err) => {
      this.log(`[cluster] listening connection failed: ${err.message}`);
      this.drop(client);
    });
    client.on('end', () => this.drop(client));
    try {
      await client.connect();
      await client.query(Object.values(CHANNELS).map((c) => `LISTEN ${c}`).join('; '));
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.listenClient = client;
    if (this.attempt > 0) this.log('[cluster] listening for other instances again');
    this.attempt = 0;
    for (const l of this.resyncListeners) l();
  }

  private drop(client: pg.Client): void {
    if (this.listenClient !== client) return;
    this.listenClient = undefined;
    client.end().catch(() => undefined);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.timer) return;
    const base = Math.min(5_000, 250 * 2 ** Math.min(this.attempt, 5));
    this.attempt++;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.connect().catch(() => this.scheduleReconnect());
      },
      Math.round(base / 2 + Math.random() * (base / 2)),
    );
    this.timer.unref();
  }

  private dispatch(channel: string, payload: string | undefined): void {
    const name = (Object.keys(CHANNELS) as ClusterChannel[]).find((k) => CHANNELS[k] === channel);
    if (!name) return;
    let message: ClusterMessage;
    try {
      const parsed: unknown = JSON.parse(payload ?? '{}');
      message = typeof parsed === 'object' && parsed !== null ? (parsed as ClusterMessage) : { value: parsed };
    } catch {
      return;
    }
    for (const l of this.listeners.get(name) ?? []) {
      try {
        l(message);
      } catch (err) {
        this.log(`[cluster] ${name} listener failed: ${(err as Error).message}`);
      }
    }
  }

  async withLock<T>(name: ClusterLock, fn: () => Promise<T>, options: { wait: boolean }): Promise<{ ran: true; value: T } | { ran: false }> {
    const { client, release } = await checkout(this.pool);
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      if (options.wait) {
        await client.query(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT}'`);
        await client.query('SELECT pg_advisory_xact_lock($1)', [LOCKS[name]]);
      } else {
        const got = (await client.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [LOCKS[name]])).rows[0]!.ok;
        if (!got) {
          await client.query('ROLLBACK');
          return { ran: false };
        }
      }
      const value = await fn();
      await client.query('COMMIT');
      return { ran: true, value };
    } catch (err) {
      await client.query('ROLLBACK').catch((e: unknown) => (broken = e as Error));
      rethrow(err);
    } finally {
      release(broken);
    }
  }

  async publish(channel: ClusterChannel, message: Record<string, unknown>): Promise<void> {
    try {
      await this.pool.query('SELECT pg_notify($1, $2)', [CHANNELS[channel], JSON.stringify({ ...message, from: this.instanceId })]);
    } catch (err) {
      rethrow(err);
    }
  }

  subscribe(channel: ClusterChannel, listener: (message: ClusterMessage) => void): () => void {
    let set = this.listeners.get(channel);
    if (!set) this.listeners.set(channel, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  onResync(listener: () => void): () => void {
    this.resyncListeners.add(listener);
    return () => this.resyncListeners.delete(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const c = this.listenClient;
    this.listenClient = undefined;
    await c?.end().catch(() => undefined);
  }
}
