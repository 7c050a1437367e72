/**
 * `Authorization: Token <token>` (the seed's DRF scheme; `Bearer` is accepted too). Failed
 * attempts are counted per source address: past the limit the address gets 429 before its token
 * is even looked at, which caps guessing and audit-log growth. The counts live in the store's
 * `RateCounters` (shared by every instance on PostgreSQL); a lockout is then announced to the other
 * instances, so the check of each request stays a lookup in memory.
 */
import type { FastifyRequest } from 'fastify';
import type { Repository } from '../store/repository.js';
import type { Cluster } from '../store/cluster.js';
import type { RateCounters } from '../store/counters.js';
import { isoSeconds } from '../service/clock.js';
import { TooManyRequestsError, UnauthorizedError } from '../service/errors.js';
import type { Actor } from '../service/issuance.js';
import { hashToken, looksLikeToken } from '../service/tokens.js';

const SCOPE = 'auth-failure';

export class FailureLimiter {
  /** Locked-out addresses and until when (ms). */
  private readonly blocked = new Map<string, number>();

  constructor(
    readonly max: number,
    readonly windowMs: number,
    private readonly counters: RateCounters,
    private readonly cluster?: Cluster,
  ) {
    cluster?.subscribe('lockout', (m) => {
      if (typeof m.key === 'string' && typeof m.resetInMs === 'number') this.block(m.key, Date.now() + m.resetInMs);
    });
    cluster?.onResync(() => {
      this.reload().catch(() => undefined);
    });
  }

  /** Seconds until the address may try again, or 0. */
  retryAfter(key: string, now = Date.now()): number {
    const until = this.blocked.get(key);
    if (until === undefined) return 0;
    if (until <= now) {
      this.blocked.delete(key);
      return 0;
    }
    return Math.ceil((until - now) / 1000);
  }

  async fail(key: string, now = Date.now()): Promise<void> {
    const w = await this.counters.hit(SCOPE, key, this.windowMs);
    if (w.count < this.max) return;
    this.block(key, now + w.resetInMs);
    // The attempt that reached the limit tells the other instances (any later one blocks there too).
    if (w.count === this.max) await this.cluster?.publish('lockout', { key, resetInMs: w.resetInMs }).catch(() => undefined);
  }

  /** Rebuilds the lockouts from the shared counters (after a missed notification). */
  async reload(now = Date.now()): Promise<void> {
    for (const r of await this.counters.atLeast(SCOPE, this.max)) this.block(r.key, now + r.resetInMs);
  }

  private block(key: string, until: number): void {
    if ((this.blocked.get(key) ?? 0) < until) this.blocked.set(key, until);
    if (this.blocked.size > 100_000) {
      const now = Date.now();
      for (const [k, u] of this.blocked) if (u <= now) this.blocked.delete(k);
    }
  }
}

export async function authenticate(request: FastifyRequest, repo: Repository, limiter: FailureLimiter): Promise<Actor> {
  const ip = request.ip;
  const wait = limiter.retryAfter(ip);
  if (wait > 0) throw new TooManyRequestsError(`too many failed authentication attempts from ${ip}; retry in ${wait} s`, wait);

  const fail = async (reason: string, message: string): Promise<never> => {
    await limiter.fail(ip);
    await repo.appendAudit({ at: isoSeconds(), accountId: null, actor: 'anonymous', action: 'auth.failed', object: `${request.method} ${request.routeOptions.url ?? request.url}`, sourceIp: ip, result: 'denied', detail: reason });
    throw new UnauthorizedError(message);
  };

  const header = request.headers.authorization;
  if (!header) return fail('missing token', 'authentication required: send "Authorization: Token <token>"');
  const m = /^(Token|Bearer)\s+(\S+)$/i.exec(header);
  if (!m) return fail('malformed Authorization header', 'malformed Authorization header: use "Authorization: Token <token>"');
  const token = m[2]!;
  if (!looksLikeToken(token)) return fail('malformed token', 'invalid token');
  const record = await repo.findTokenByHash(hashToken(token));
  if (!record) return fail('unknown token', 'invalid token');
  if (record.revokedAt !== null) return fail(`revoked token ${record.id}`, 'this token has been revoked');
  if (!record.accountActive) return fail(`token ${record.id} of disabled account ${record.accountId}`, 'the account of this token is disabled');
  return { accountId: record.accountId, role: record.role, label: `token:${record.id}`, sourceIp: ip, ...(record.serverAdmin ? { serverAdmin: true } : {}) };
}
