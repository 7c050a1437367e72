/**
 * `Authorization: Token <token>` (the seed's DRF scheme; `Bearer` is accepted too). Failed
 * attempts are counted per source address: past the limit the address gets 429 before its token
 * is even looked at, which caps guessing and audit-log growth.
 */
import type { FastifyRequest } from 'fastify';
import type { Repository } from '../store/repository.js';
import { isoSeconds } from '../service/clock.js';
import { TooManyRequestsError, UnauthorizedError } from '../service/errors.js';
import type { Actor } from '../service/issuance.js';
import { hashToken, looksLikeToken } from '../service/tokens.js';

export class FailureLimiter {
  private readonly failures = new Map<string, { count: number; windowStart: number }>();

  constructor(
    readonly max: number,
    readonly windowMs: number,
  ) {}

  /** Seconds until the address may try again, or 0. */
  retryAfter(key: string, now = Date.now()): number {
    const f = this.failures.get(key);
    if (!f) return 0;
    if (now - f.windowStart >= this.windowMs) {
      this.failures.delete(key);
      return 0;
    }
    return f.count >= this.max ? Math.ceil((f.windowStart + this.windowMs - now) / 1000) : 0;
  }

  fail(key: string, now = Date.now()): void {
    const f = this.failures.get(key);
    if (!f || now - f.windowStart >= this.windowMs) this.failures.set(key, { count: 1, windowStart: now });
    else f.count++;
    if (this.failures.size > 100_000) this.prune(now);
  }

  private prune(now: number): void {
    for (const [k, f] of this.failures) if (now - f.windowStart >= this.windowMs) this.failures.delete(k);
  }
}

export async function authenticate(request: FastifyRequest, repo: Repository, limiter: FailureLimiter): Promise<Actor> {
  const ip = request.ip;
  const wait = limiter.retryAfter(ip);
  if (wait > 0) throw new TooManyRequestsError(`too many failed authentication attempts from ${ip}; retry in ${wait} s`, wait);

  const fail = async (reason: string, message: string): Promise<never> => {
    limiter.fail(ip);
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
