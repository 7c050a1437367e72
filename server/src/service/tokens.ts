/**
 * API tokens: 256 random bits, shown once, stored only as SHA-256 (a slow hash adds nothing for
 * secrets with this much entropy, and keeps authentication at microseconds per request).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Role } from '../contract/api.js';
import type { Repository, TokenRecord } from '../store/repository.js';
import { isoSeconds } from './clock.js';

const TOKEN_SHAPE = /^tds_[A-Za-z0-9_-]{43}$/;

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function looksLikeToken(token: string): boolean {
  return TOKEN_SHAPE.test(token);
}

export async function createApiToken(
  repo: Repository,
  input: { accountId: number; role: Role; label?: string | null; serverAdmin?: boolean },
  actorLabel: string,
  sourceIp: string | null = null,
): Promise<{ token: string; record: TokenRecord }> {
  const token = `tds_${randomBytes(32).toString('base64url')}`;
  const record = await repo.createToken(
    { accountId: input.accountId, role: input.role, label: input.label ?? null, tokenHash: hashToken(token), serverAdmin: input.serverAdmin ?? false },
    { at: isoSeconds(), accountId: input.accountId, actor: actorLabel, action: 'token.create', object: null, sourceIp, result: 'ok', detail: null },
  );
  return { token, record };
}
