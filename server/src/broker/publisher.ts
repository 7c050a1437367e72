/**
 * Makes revocation reach the broker. On every call it takes the CA's current CRL and the identity
 * state, validates the CRL, writes `crl.pem` and `acl.conf` atomically into the broker's folder and
 * reloads the broker (SIGHUP / command), and/or hands the CRL to the embedded broker.
 * Calls are serialised and coalesced: a burst of revocations costs at most one extra reload.
 */
import path from 'node:path';
import { renderAcl, type AclInput } from './acl.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { validateCrl, type ValidCrl } from './crl-check.js';
import type { EmbeddedBroker } from './embedded.js';
import { KIT_FILES } from './mosquitto-conf.js';
import { reloadBroker, type ReloadTarget } from './reloader.js';

/** What the publisher needs from the CA and the store. */
export interface BrokerStateSource {
  caPem(): string | Promise<string>;
  /** The CA's current CRL (PEM, label X509 CRL). */
  crlPem(): string | Promise<string>;
  /** Service identities and quarantined CNs for the ACL. */
  aclInput(): AclInput | Promise<AclInput>;
}

export interface PublishTarget {
  /** Folder with the live broker files (crl.pem, acl.conf). */
  dir: string;
  reload: ReloadTarget;
}

export interface BrokerPublisherOptions {
  state: BrokerStateSource;
  /** Folder with the live broker files (crl.pem, acl.conf); omit when only the embedded broker is used. */
  dir?: string;
  reload?: ReloadTarget;
  /** Looked up on every publication instead of dir/reload (broker-kit may run while the server runs). */
  target?: () => Promise<PublishTarget | undefined>;
  embedded?: EmbeddedBroker;
  log?: (line: string) => void;
}

export interface PublishResult {
  crlNextUpdate: Date;
  revokedCount: number;
  quarantined: number;
  at: Date;
}

export class BrokerPublisher {
  private running: Promise<PublishResult> | undefined;
  private pending: Promise<PublishResult> | undefined;
  private last: PublishResult | undefined;
  /** Identities denied everything by the last published ACL. */
  lastQuarantined: ReadonlySet<string> = new Set();

  constructor(private readonly opts: BrokerPublisherOptions) {}

  get lastResult(): PublishResult | undefined {
    return this.last;
  }

  /** A publication is running: it may have read the state before a change that just happened. */
  get busy(): boolean {
    return this.running !== undefined;
  }

  setEmbedded(broker: EmbeddedBroker | undefined): void {
    this.opts.embedded = broker;
  }

  /** Publishes the current state; resolves once the broker has been told to reload. */
  publish(): Promise<PublishResult> {
    if (!this.running) {
      this.running = this.run().finally(() => {
        this.running = undefined;
      });
      return this.running;
    }
    // One publication is in flight and may have read the state before the latest change: queue
    // exactly one more, shared by every caller that arrives meanwhile.
    this.pending ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.pending = undefined;
        return this.publish();
      });
    return this.pending;
  }

  private async run(): Promise<PublishResult> {
    const { state, embedded, log } = this.opts;
    const target = this.opts.target ? await this.opts.target() : this.opts.dir ? { dir: this.opts.dir, reload: this.opts.reload ?? { kind: 'none' as const } } : undefined;
    const dir = target?.dir;
    const reload = target?.reload;
    if (!dir && !embedded) return this.last ?? { crlNextUpdate: new Date(0), revokedCount: 0, quarantined: 0, at: new Date() };
    const caPem = await state.caPem();
    let crl: ValidCrl;
    try {
      crl = await validateCrl(await state.crlPem(), caPem);
    } catch (err) {
      // Fail safe: the previous CRL stays in force (Mosquitto fails open on a bad one).
      throw new Error(`CRL not published, the broker keeps the previous one: ${(err as Error).message}`);
    }
    const acl = await state.aclInput();
    if (dir) {
      await writeFileAtomic(path.join(dir, KIT_FILES.acl), renderAcl(acl), { mode: 0o644, keepExisting: true });
      await writeFileAtomic(path.join(dir, KIT_FILES.crl), crl.pem, { mode: 0o644, keepExisting: true });
      if (reload && reload.kind !== 'none') await reloadBroker(reload);
    }
    if (embedded) await embedded.updateCrl(crl.pem);
    const result: PublishResult = {
      crlNextUpdate: crl.nextUpdate,
      revokedCount: crl.revokedSerials.size,
      quarantined: acl.quarantined?.length ?? 0,
      at: new Date(),
    };
    log?.(
      `[broker] published CRL (${result.revokedCount} revoked, nextUpdate ${crl.nextUpdate.toISOString()}), ` +
        `${result.quarantined} quarantined identities${reload && reload.kind !== 'none' && dir ? ', broker reloaded' : ''}`,
    );
    this.last = result;
    this.lastQuarantined = new Set(acl.quarantined ?? []);
    return result;
  }
}
