/**
 * Makes revocation reach the broker. On every call it takes the CA's current CRL and the identity
 * state, validates the CRL, stages `crl.pem` and `acl.conf` in the broker's folder, checks that the
 * broker could read and parse its files, replaces them atomically and reloads the broker (SIGHUP /
 * command), and/or hands the CRL to the embedded broker.
 *
 * Live sessions (Mosquitto): when a CRL revokes certificates that the previous one did not, and a
 * LiveSessionControl is given, the run waits until the broker enforces the reload and then
 * disconnects every session of those certificates' CNs. An identity whose sessions could not be
 * disconnected is denied everything by the ACL (kept in the cut-off list, so the CLI's publications
 * and a restarted server keep denying it) until a later run disconnects it.
 *
 * Calls are serialised and coalesced: a burst of revocations costs at most one extra reload.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { renderAcl, type AclInput } from './acl.js';
import { stageFile, type StagedFile } from '../util/atomic-file.js';
import { validateCrl, type ValidCrl } from './crl-check.js';
import type { EmbeddedBroker } from './embedded.js';
import { brokerUser, checkBrokerFiles, type BrokerFile } from './load-check.js';
import { KIT_FILES } from './mosquitto-conf.js';
import { reloadBroker, type ReloadTarget } from './reloader.js';
import type { LiveSessionControl } from './session-control.js';

/** What the publisher needs from the CA and the store. */
export interface BrokerStateSource {
  caPem(): string | Promise<string>;
  /** The CA's current CRL (PEM, label X509 CRL). */
  crlPem(): string | Promise<string>;
  /** Service identities and quarantined CNs for the ACL. */
  aclInput(): AclInput | Promise<AclInput>;
  /** CNs of the certificates with these serials (normalised lowercase hex); unknown serials are skipped. */
  commonNamesOf?(serials: readonly string[]): string[] | Promise<string[]>;
}

/** Identities whose live sessions are still to be disconnected (persisted; see cutoff-list.ts). */
export interface CutoffStore {
  load(): Promise<string[]>;
  save(cns: readonly string[]): Promise<void>;
}

export interface PublishTarget {
  /** Folder with the live broker files (crl.pem, acl.conf). */
  dir: string;
  reload: ReloadTarget;
  /** False: this broker has no dynamic-security plugin (kit built with --dynsec-plugin none, or before it existed). */
  sessionControl?: boolean;
}

export interface BrokerPublisherOptions {
  state: BrokerStateSource;
  /** Folder with the live broker files (crl.pem, acl.conf); omit when only the embedded broker is used. */
  dir?: string;
  reload?: ReloadTarget;
  /** Looked up on every publication instead of dir/reload (broker-kit may run while the server runs). */
  target?: () => Promise<PublishTarget | undefined>;
  embedded?: EmbeddedBroker;
  /** Mosquitto: disconnects live sessions of newly revoked certificates after the reload. */
  sessions?: LiveSessionControl;
  /** Identities denied until their sessions are disconnected; the CLI passes it without `sessions`. */
  cutoffs?: CutoffStore;
  log?: (line: string) => void;
}

export interface PublishResult {
  crlNextUpdate: Date;
  revokedCount: number;
  quarantined: number;
  /** CNs whose live sessions this run disconnected. */
  disconnected: string[];
  at: Date;
}

export class BrokerPublisher {
  private running: Promise<PublishResult> | undefined;
  private pending: Promise<PublishResult> | undefined;
  private last: PublishResult | undefined;
  /** Revoked serials of the last CRL this publisher handled (undefined before the first run). */
  private knownRevoked: Set<string> | undefined;
  /** Identities with a live session still to disconnect (denied meanwhile). */
  private stuck: Set<string> | undefined;
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

  /** Identities whose live sessions could not be disconnected yet. */
  get pendingCutoffs(): readonly string[] {
    return [...(this.stuck ?? [])];
  }

  setEmbedded(broker: EmbeddedBroker | undefined): void {
    this.opts.embedded = broker;
  }

  setSessions(control: LiveSessionControl | undefined): void {
    this.opts.sessions = control;
  }

  /**
   * Takes the current CRL as known, so the first publication that follows cuts off the sessions of
   * every certificate revoked from now on (call at start-up, before any revocation can happen).
   */
  async prime(): Promise<void> {
    this.knownRevoked ??= (await validateCrl(await this.opts.state.crlPem(), await this.opts.state.caPem())).revokedSerials;
  }

  /** Publishes the current state; resolves once the broker has reloaded and live sessions are cut. */
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
    const target: PublishTarget | undefined = this.opts.target
      ? await this.opts.target()
      : this.opts.dir
        ? { dir: this.opts.dir, reload: this.opts.reload ?? { kind: 'none' } }
        : undefined;
    const sessions = target?.sessionControl === false ? undefined : this.opts.sessions;
    if (!target && !embedded) return this.last ?? { crlNextUpdate: new Date(0), revokedCount: 0, quarantined: 0, disconnected: [], at: new Date() };
    const caPem = await state.caPem();
    let crl: ValidCrl;
    try {
      crl = await validateCrl(await state.crlPem(), caPem);
    } catch (err) {
      // Fail safe: the previous CRL stays in force (Mosquitto fails open on a bad one).
      throw new Error(`CRL not published, the broker keeps the previous one: ${(err as Error).message}`);
    }
    this.stuck ??= new Set(await this.opts.cutoffs?.load());
    // Sessions to disconnect: the CNs of certificates this CRL newly revokes (none on the first run:
    // nothing is known about sessions opened before this process) and those still pending.
    const fresh = this.knownRevoked && sessions && target ? [...crl.revokedSerials].filter((s) => !this.knownRevoked!.has(s)) : [];
    if (this.opts.sessions && !sessions && this.knownRevoked && [...crl.revokedSerials].some((s) => !this.knownRevoked!.has(s))) {
      log?.('[broker] live sessions on the newly revoked certificates are NOT disconnected: the broker kit has no dynamic-security plugin; rebuild it with "tds-server broker-kit" (see docs/broker.md)');
    }
    const toCut = new Set([...(fresh.length > 0 ? ((await state.commonNamesOf?.(fresh)) ?? []) : []), ...(sessions ? this.stuck : [])]);
    this.knownRevoked = crl.revokedSerials;

    const acl = await state.aclInput();
    const deny = (extra: Iterable<string>): string[] => [...new Set([...(acl.quarantined ?? []), ...extra])].filter((cn) => cn !== sessions?.cn);
    let quarantined = deny(this.stuck);
    const disconnected: string[] = [];
    if (target) {
      const marker = sessions && toCut.size > 0 ? sessions.newMarker() : undefined;
      await this.write(target, crl.pem, { ...acl, quarantined, ...(marker ? { reloadMarker: { cn: sessions!.cn, topic: marker } } : {}) });
      if (marker) {
        try {
          if (target.reload.kind === 'none') throw new Error('no broker reload is configured (broker-kit --reload), so the broker never enforces the new CRL');
          await sessions!.awaitMarker(marker);
          await sessions!.disconnect([...toCut]);
          disconnected.push(...toCut);
        } catch (err) {
          log?.(`[broker] live sessions of ${[...toCut].join(', ')} NOT disconnected, they stay denied everything until they are: ${(err as Error).message}`);
        }
        const before = new Set(this.stuck);
        this.stuck = new Set([...this.stuck, ...toCut].filter((cn) => !disconnected.includes(cn) && cn !== sessions!.cn));
        if (!sameSet(before, this.stuck)) {
          await this.opts.cutoffs?.save([...this.stuck]);
          // Deny what is still connected, lift the deny of what was cut.
          quarantined = deny(this.stuck);
          await this.write(target, crl.pem, { ...acl, quarantined });
        }
      }
    }
    if (embedded) await embedded.updateCrl(crl.pem);
    const result: PublishResult = { crlNextUpdate: crl.nextUpdate, revokedCount: crl.revokedSerials.size, quarantined: quarantined.length, disconnected, at: new Date() };
    log?.(
      `[broker] published CRL (${result.revokedCount} revoked, nextUpdate ${crl.nextUpdate.toISOString()}), ` +
        `${result.quarantined} quarantined identities${target && target.reload.kind !== 'none' ? ', broker reloaded' : ''}` +
        (disconnected.length > 0 ? `, live sessions of ${disconnected.join(', ')} disconnected` : ''),
    );
    this.last = result;
    this.lastQuarantined = new Set(quarantined);
    return result;
  }

  /** Stages crl.pem and acl.conf, checks the broker could load its files, commits, reloads. */
  private async write(target: PublishTarget, crlPem: string, acl: AclInput): Promise<void> {
    const { dir, reload } = target;
    const staged: StagedFile[] = [];
    try {
      staged.push(await stageFile(path.join(dir, KIT_FILES.acl), renderAcl(acl), { mode: 0o644, keepExisting: true }));
      staged.push(await stageFile(path.join(dir, KIT_FILES.crl), crlPem, { mode: 0o644, keepExisting: true }));
      if (reload.kind !== 'none') {
        const file = (name: string): BrokerFile | undefined => (existsSync(path.join(dir, name)) ? { name: path.join(dir, name) } : undefined);
        await checkBrokerFiles(
          {
            ca: file(KIT_FILES.ca),
            cert: file(KIT_FILES.cert),
            key: file(KIT_FILES.key),
            acl: { name: staged[0]!.target, read: staged[0]!.tmp },
            crl: { name: staged[1]!.target, read: staged[1]!.tmp },
          },
          await brokerUser(reload),
        );
      }
    } catch (err) {
      await Promise.all(staged.map((s) => s.discard()));
      throw err;
    }
    for (const s of staged) await s.commit();
    if (reload.kind !== 'none') await reloadBroker(reload);
  }
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x));
}
