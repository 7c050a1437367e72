/**
 * The MAC-ownership rule of the SQLite store, in one place: a MAC belongs to at most one account
 * (one gateway) while any active or pending certificate exists for it. Every write that gives a
 * device certificate a live status calls `claim` inside its own transaction before writing
 * (provision, import, renew, pending renewal, confirmation — and the coming device claim path);
 * the triggers of migration 3 enforce the same rule underneath, and `guard` turns their refusal
 * into the same MacConflictError.
 */
import type Database from 'better-sqlite3';
import { MAC_OWNERSHIP_VIOLATION } from '../migrations/003-mac-ownership.js';
import { MacConflictError } from '../repository.js';
import type { Row } from '../rows.js';

export interface Claimant {
  accountId: number;
  /** The gateway whose own live certificates may stay (renewal, confirmation); none when provisioning. */
  gatewayId?: number;
}

export class MacOwnership {
  private readonly expireOthers: Database.Statement;
  private readonly liveOthers: Database.Statement;

  constructor(db: Database.Database) {
    // Another gateway's certificate that has run out no longer holds the MAC.
    this.expireOthers = db.prepare(
      `UPDATE certificates SET status = 'expired'
       WHERE subject_cn = ? AND status IN ('active', 'pending') AND kind = 'device' AND expires_at <= ? AND gateway_id IS NOT ?`,
    );
    this.liveOthers = db.prepare(
      `SELECT account_id, gateway_id, status FROM certificates
       WHERE subject_cn = ? AND status IN ('active', 'pending') AND kind = 'device' AND gateway_id IS NOT ?
       ORDER BY status = 'pending', id LIMIT 1`,
    );
  }

  /** Inside the writing transaction: refuses (MacConflictError) unless the MAC is free for the claimant. */
  claim(mac: string, claimant: Claimant, now: string): void {
    const gateway = claimant.gatewayId ?? null;
    this.expireOthers.run(mac, now, gateway);
    const holder = this.liveOthers.get(mac, gateway) as Row | undefined;
    if (holder) {
      throw MacConflictError.of(mac, { accountId: holder.account_id as number, gatewayId: holder.gateway_id as number, status: holder.status === 'pending' ? 'pending' : 'active' }, claimant.accountId);
    }
  }

  /** Runs a write; the database's own refusal of the rule becomes a MacConflictError. */
  static guard<T>(mac: string, write: () => T): T {
    try {
      return write();
    } catch (err) {
      if (err instanceof Error && err.message === MAC_OWNERSHIP_VIOLATION) throw new MacConflictError(mac, undefined);
      throw err;
    }
  }
}
