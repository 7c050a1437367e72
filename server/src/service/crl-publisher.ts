/**
 * Keeps the CRL current: re-signed after every revocation (requests arriving while a signature is
 * in progress share the next one), and well before nextUpdate (at half its lifetime), because an
 * expired CRL makes Mosquitto refuse every client. A CRL is validated with OpenSSL (through Node's
 * tls) before it is stored, written to `<data>/crl.pem` atomically, or announced.
 *
 * Several instances on one database (`cluster`): one signs at a time (the cluster's lock of this
 * CRL's scope, so CRL numbers rise in signing order); every instance checks freshness on its own
 * schedule and the lock picks one to re-sign, so the CRL stays fresh while any instance runs; a CRL
 * stored by another instance is adopted (file written, `crl.updated` announced) when its
 * notification arrives (`adoptLatest`), or at the latest by the next freshness check.
 */
import { createSecureContext } from 'node:tls';
import type { CertificateAuthority, CrlEntry, RevocationReasonName } from '../ca/authority.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import type { Cluster, ClusterLock } from '../store/cluster.js';
import type { CrlRecord, CrlScope, Repository } from '../store/repository.js';
import { isoSeconds } from './clock.js';
import type { ServerEvents } from './events.js';

const DAY_MS = 86_400_000;

export interface CrlPublisherOptions {
  ca: CertificateAuthority;
  repo: Repository;
  events?: ServerEvents;
  nextUpdateDays: number;
  /** Where to write the latest CRL file; omitted → database only. */
  crlFile?: string;
  actor?: string;
  /**
   * Whose CRL: the device CA's (default) or the birth CA's. The birth CRL is never announced
   * (`events` is for the device CA only: the broker side listens to `crl.updated`).
   */
  scope?: CrlScope;
  /** Several server instances on one database (PostgreSQL). */
  cluster?: Cluster;
}

export class CrlPublisher {
  private running: Promise<CrlRecord> | undefined;
  private queued: Promise<CrlRecord> | undefined;
  private lastAnnounced = 0;
  private adopting: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: CrlPublisherOptions) {
    if (o.scope === 'birth' && o.events) throw new Error('the birth CRL is never announced to the broker side');
  }

  private get scope(): CrlScope {
    return this.o.scope ?? 'device';
  }

  /** Each CA's CRL has its own signing lock: the two never wait for each other. */
  private get lock(): ClusterLock {
    return this.scope === 'birth' ? 'birth-crl' : 'crl';
  }

  /** Re-signs now; concurrent callers share at most one extra signature. */
  publish(why: string): Promise<CrlRecord> {
    if (!this.running) {
      this.running = this.signAndStore(why).finally(() => {
        this.running = undefined;
      });
      return this.running;
    }
    // A signature is in progress and may not include the caller's change: queue exactly one more.
    this.queued ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.publish(why);
      });
    return this.queued;
  }

  /** Signs a CRL if there is none or the current one is past half its lifetime. */
  async ensureFresh(now = new Date()): Promise<CrlRecord> {
    const current = await this.o.repo.getLatestCrl(this.scope);
    if (current && !needsResign(current, now)) {
      if (current.crlNumber > this.lastAnnounced) await this.adopt(current); // signed by another process (CLI "crl", another instance)
      return current;
    }
    if (!current || !this.o.cluster) return this.publish(current ? 'scheduled re-sign before nextUpdate' : 'first CRL');
    // Every instance checks; the lock picks one, the others keep serving the current CRL (still valid:
    // it is re-signed at half its lifetime) and adopt the new one when it is announced.
    const r = await this.o.cluster.withLock(
      this.lock,
      async () => {
        const again = await this.o.repo.getLatestCrl(this.scope);
        return again && !needsResign(again, now) ? again : this.signLocked('scheduled re-sign before nextUpdate');
      },
      { wait: false },
    );
    if (!r.ran) return current;
    if (r.value.crlNumber > this.lastAnnounced) await this.adopt(r.value);
    return r.value;
  }

  /** Adopts the newest stored CRL if this instance has not announced it yet (another instance signed it). */
  adoptLatest(): Promise<void> {
    // Serialised, so announcements go out in CRL-number order.
    this.adopting = this.adopting.then(async () => {
      const latest = await this.o.repo.getLatestCrl(this.scope);
      if (latest && latest.crlNumber > this.lastAnnounced) await this.adopt(latest);
    });
    return this.adopting;
  }

  /** Checks freshness every minute (unref'd: never keeps the process alive). */
  startSchedule(onError: (err: unknown) => void, intervalMs = 60_000): void {
    this.timer = setInterval(() => {
      this.ensureFresh().catch(onError);
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private async signAndStore(why: string): Promise<CrlRecord> {
    if (!this.o.cluster) return this.signLocked(why);
    const r = await this.o.cluster.withLock(this.lock, () => this.signLocked(why), { wait: true });
    if (!r.ran) throw new Error('the CRL signing lock was not taken');
    return r.value;
  }

  /** Signs, stores and announces a CRL; with several instances, only while holding the lock. */
  private async signLocked(why: string): Promise<CrlRecord> {
    const crlNumber = await this.o.repo.reserveCrlNumber(this.scope);
    const revoked = await this.o.repo.listRevoked(this.scope);
    const now = new Date();
    const thisUpdate = new Date(Math.floor(now.getTime() / 1000) * 1000);
    const nextUpdate = new Date(thisUpdate.getTime() + this.o.nextUpdateDays * DAY_MS);
    const entries: CrlEntry[] = revoked.map((r) => ({
      serialNumber: r.serialNumber,
      revokedAt: new Date(r.revokedAt),
      reason: r.reason as RevocationReasonName,
    }));
    const pem = await this.o.ca.signCrl({ crlNumber, entries, thisUpdate, nextUpdate });
    validateCrl(pem, this.o.ca.certificatePem);
    const record: CrlRecord = { crlNumber, thisUpdate: isoSeconds(thisUpdate), nextUpdate: isoSeconds(nextUpdate), pem };
    // Before it is stored: the notification of this very CRL must not announce it a second time.
    const announcedBefore = this.lastAnnounced;
    this.lastAnnounced = Math.max(this.lastAnnounced, crlNumber);
    const stored = await this.o.repo.saveCrl(
      record,
      {
        at: isoSeconds(now),
        accountId: null,
        actor: this.o.actor ?? 'server',
        action: this.scope === 'birth' ? 'birth_crl.sign' : 'crl.sign',
        object: null,
        sourceIp: null,
        result: 'ok',
        detail: `${entries.length} revoked; ${why}`,
      },
      this.scope,
    );
    if (!stored) {
      // Another process stored a newer CRL meanwhile; that one is current.
      if (this.lastAnnounced === crlNumber) this.lastAnnounced = announcedBefore;
      const latest = await this.o.repo.getLatestCrl(this.scope);
      if (latest) {
        if (latest.crlNumber > this.lastAnnounced) await this.adopt(latest);
        return latest;
      }
    }
    // Awaited: a revocation answers only after the listeners (broker publication, cut-off of live
    // sessions on the revoked certificates) are done.
    await this.announce(record);
    return record;
  }

  /** A CRL this instance did not sign: announce it like its own. */
  private async adopt(record: CrlRecord): Promise<void> {
    this.lastAnnounced = Math.max(this.lastAnnounced, record.crlNumber);
    await this.announce(record);
  }

  private async announce(record: CrlRecord): Promise<void> {
    if (this.o.crlFile) await writeFileAtomic(this.o.crlFile, record.pem, 0o644);
    await this.o.events?.emit('crl.updated', { ...record });
  }
}

function needsResign(crl: CrlRecord, now: Date): boolean {
  const start = Date.parse(crl.thisUpdate);
  const end = Date.parse(crl.nextUpdate);
  return now.getTime() >= start + (end - start) / 2;
}

/** OpenSSL must be able to load it, exactly as Mosquitto and Node's tls will. */
export function validateCrl(pem: string, caPem: string): void {
  if (!pem.startsWith('-----BEGIN X509 CRL-----')) throw new Error('CRL PEM must use the "X509 CRL" label');
  createSecureContext({ ca: caPem, crl: pem });
}
