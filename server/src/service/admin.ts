/**
 * The admin console's operations: the audit log with filters, accounts, API tokens, the CRL's state
 * and each gateway's online/offline history with its uptime.
 *
 * Roles (the token model of api/auth.ts): an *admin* token belongs to an account and administers
 * that account — its own audit events, its name, its tokens. A *server admin* (an admin token made
 * with `--server-admin`) administers the server — every account, every token, the server's own
 * audit events, creating accounts, the broker's state. Operators and auditors never reach these
 * operations (auditors keep reading the audit log), and nothing here reveals another account to an
 * account's admin: another account's token or account is the same 404 as a missing one.
 */
import type { Role } from '../contract/api.js';
import { NotFoundError, type AccountRecord, type AuditQuery, type AuditRecord, type TokenRecord } from '../store/repository.js';
import { ForbiddenError, ValidationError } from './errors.js';
import type { Actor, IssuanceCore, Permission } from './core.js';
import { createApiToken } from './tokens.js';

const ADMIN: Permission = { name: 'admin', roles: ['admin'], what: 'administer accounts and tokens' };

export interface PresenceHistory {
  from: string;
  to: string;
  /** The state at `from` (the last transition before it), or null when unknown (older than the retention). */
  stateAtStart: boolean | null;
  transitions: { online: boolean; at: string }[];
  /** Seconds online within [from, min(to, now)); unknown stretches count as offline. */
  onlineSeconds: number;
  /** Seconds of the window that have passed (up to now). */
  windowSeconds: number;
  /** onlineSeconds / windowSeconds × 100, two decimals; null for an empty window. */
  uptimePercent: number | null;
  /** True when the list was cut at the limit (uptime is then computed over the listed part only). */
  truncated: boolean;
}

export const MAX_PRESENCE_EVENTS = 10_000;

export class AdminService {
  constructor(private readonly core: IssuanceCore) {}

  private async admin(actor: Actor, object: string | null = null): Promise<void> {
    await this.core.authorize(actor, ADMIN, object);
  }

  /** Refused (403, audited) unless the actor is a server admin. */
  private async serverAdmin(actor: Actor, what: string, object: string | null = null): Promise<void> {
    await this.admin(actor, object);
    if (actor.serverAdmin) return;
    const err = new ForbiddenError(`only a server admin token may ${what} (this admin token administers account ${actor.accountId} only)`);
    await this.core.auditFailure(actor, 'admin.denied', object, err);
    throw err;
  }

  /** The account an account admin may act on: its own; for a server admin, any that exists. */
  private async accountFor(actor: Actor, accountId: number | undefined): Promise<number> {
    const id = accountId ?? actor.accountId;
    if (!actor.serverAdmin && id !== actor.accountId) throw new ForbiddenError(`this token cannot act for conta_id ${id}; it belongs to conta_id ${actor.accountId}`, 'conta_id');
    if (!(await this.core.repo.getAccount(id))) throw new NotFoundError(`account ${id} not found`);
    return id;
  }

  // ------------------------------------------------------------------------------------ audit

  /**
   * The audit log: the actor's account (admin, auditor), or every event including the server's own
   * (server admin; `accountId` narrows it to one account).
   */
  async audit(actor: Actor, query: AuditQuery, accountId?: number): Promise<{ count: number; rows: AuditRecord[] }> {
    await this.core.authorize(actor, 'audit');
    if (actor.serverAdmin) return this.core.repo.listAudit(accountId, query);
    if (accountId !== undefined && accountId !== actor.accountId) {
      throw new ForbiddenError(`this token cannot read the audit of conta_id ${accountId}; it belongs to conta_id ${actor.accountId}`, 'conta_id');
    }
    return this.core.repo.listAudit(actor.accountId, query);
  }

  // ------------------------------------------------------------------------------------ accounts

  async listAccounts(actor: Actor): Promise<AccountRecord[]> {
    await this.admin(actor);
    if (actor.serverAdmin) return this.core.repo.listAccounts();
    const own = await this.core.repo.getAccount(actor.accountId);
    return own ? [own] : [];
  }

  async createAccount(actor: Actor, name: string): Promise<AccountRecord> {
    await this.serverAdmin(actor, 'create accounts');
    return this.core.repo.createAccount(name, this.core.audit(actor, 'account.create', 'ok', null, `name=${name}`));
  }

  async renameAccount(actor: Actor, id: number, name: string): Promise<AccountRecord> {
    await this.admin(actor, `account:${id}`);
    // Another account is the same 404 as a missing one for an account admin.
    if (!actor.serverAdmin && id !== actor.accountId) throw new NotFoundError(`account ${id} not found`);
    const before = await this.core.repo.getAccount(id);
    if (!before) throw new NotFoundError(`account ${id} not found`);
    return this.core.repo.renameAccount(id, name, this.core.audit(actor, 'account.rename', 'ok', null, `name=${name} (was ${before.name})`));
  }

  // ------------------------------------------------------------------------------------ tokens

  /** Tokens without secrets (only their hashes exist): the account's, or any account's for a server admin. */
  async listTokens(actor: Actor, accountId?: number): Promise<TokenRecord[]> {
    await this.admin(actor);
    if (actor.serverAdmin && accountId === undefined) return this.core.repo.listTokens(undefined);
    return this.core.repo.listTokens(await this.accountFor(actor, accountId));
  }

  /** A new token; its secret is returned here once and stored only as a hash. */
  async createToken(
    actor: Actor,
    input: { accountId?: number; role: Role; label: string | null; serverAdmin: boolean },
  ): Promise<{ token: string; record: TokenRecord }> {
    await this.admin(actor);
    if (input.serverAdmin) {
      if (!actor.serverAdmin) {
        const err = new ForbiddenError('only a server admin token may create server admin tokens', 'server_admin');
        await this.core.auditFailure(actor, 'admin.denied', null, err);
        throw err;
      }
      if (input.role !== 'admin') throw new ValidationError('server_admin', 'server_admin needs role "admin"');
    }
    const accountId = await this.accountFor(actor, input.accountId);
    return createApiToken(this.core.repo, { accountId, role: input.role, label: input.label, serverAdmin: input.serverAdmin }, actor.label, actor.sourceIp);
  }

  async revokeToken(actor: Actor, id: number): Promise<TokenRecord> {
    await this.admin(actor, `token:${id}`);
    const token = await this.core.repo.getToken(id);
    if (!token || (!actor.serverAdmin && token.accountId !== actor.accountId)) throw new NotFoundError(`token ${id} not found`);
    return this.core.repo.revokeToken(id, this.core.audit(actor, 'token.revoke', 'ok', null, `role=${token.role}`));
  }

  // ------------------------------------------------------------------------------------ server state

  /** The CRL as stored: number, thisUpdate, nextUpdate, how many certificates it lists (any admin: nothing account-specific). */
  async crlState(actor: Actor): Promise<{ crlNumber: number; thisUpdate: string; nextUpdate: string; revokedCount: number }> {
    await this.admin(actor);
    const crl = await this.core.crl.ensureFresh();
    return { crlNumber: crl.crlNumber, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate, revokedCount: (await this.core.repo.listRevoked()).length };
  }

  /** The broker's state reveals the server's infrastructure: server admins only. */
  async authorizeBrokerState(actor: Actor): Promise<void> {
    await this.serverAdmin(actor, 'read the broker state');
  }

  // ------------------------------------------------------------------------------------ presence

  /** A gateway's online/offline transitions in [from, to) and its uptime there (any role of its account). */
  async presence(actor: Actor, gatewayId: number, from: Date, to: Date): Promise<PresenceHistory> {
    const c = this.core;
    await c.authorize(actor, 'read', `gateway:${gatewayId}`);
    await c.gatewayOf(actor, gatewayId);
    if (to.getTime() <= from.getTime()) throw new ValidationError('until', 'until must be after since');
    const iso = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
    const { before, events } = await c.repo.listPresenceEvents(gatewayId, iso(from), iso(to), MAX_PRESENCE_EVENTS);
    const end = Math.min(to.getTime(), c.now().getTime());
    let online = before?.online ?? false;
    let at = from.getTime();
    let onlineMs = 0;
    for (const e of events) {
      const t = Math.min(Date.parse(e.at), end);
      if (online && t > at) onlineMs += t - at;
      at = Math.max(at, t);
      online = e.online;
    }
    if (online && end > at) onlineMs += end - at;
    const windowMs = Math.max(0, end - from.getTime());
    return {
      from: iso(from),
      to: iso(to),
      stateAtStart: before ? before.online : null,
      transitions: events,
      onlineSeconds: Math.round(onlineMs / 1000),
      windowSeconds: Math.round(windowMs / 1000),
      uptimePercent: windowMs > 0 ? Math.round((onlineMs / windowMs) * 10_000) / 100 : null,
      truncated: events.length === MAX_PRESENCE_EVENTS,
    };
  }
}
