/**
 * In-process events, so other parts of the server (broker CRL publishing and reload, presence,
 * renewal over MQTT) hook in without editing the issuance core. Listeners run after the change is
 * committed; a failing listener is logged and never fails the request that caused the event.
 * `emit` returns a promise that settles once every listener's work has settled: an emitter that
 * must not answer before the listeners are done awaits it (a new CRL is awaited until the broker
 * has cut off live sessions on the revoked certificates); the others ignore it.
 */
import { EventEmitter } from 'node:events';
import type { CertificateKind } from '../store/repository.js';

export interface CertificateIssuedEvent {
  serialNumber: string;
  kind: CertificateKind;
  /** Device MAC or service CN. */
  commonName: string;
  accountId: number | null;
  gatewayId: number | null;
  certificatePem: string;
  expiresAt: string;
  /** "pending" for a renewal waiting for the device's confirmation (cert/ack). */
  status: 'active' | 'pending';
  /** Serial of the certificate this one replaces, if any. */
  replacesSerial: string | null;
}

export interface CertificateRevokedEvent {
  serialNumber: string;
  kind: CertificateKind;
  commonName: string;
  accountId: number | null;
  gatewayId: number | null;
  /** RFC 5280 reason name. */
  reason: string;
  revokedAt: string;
}

export interface CrlUpdatedEvent {
  crlNumber: number;
  /** PEM, label "X509 CRL"; already validated with OpenSSL (Node tls) before this event. */
  pem: string;
  thisUpdate: string;
  nextUpdate: string;
}

/**
 * A certificate issued or revoked by another server instance on the same database (PostgreSQL),
 * relayed so this instance's broker side drops what it cached and updates its broker's ACL.
 */
export interface RemoteCertificateEvent {
  change: 'issued' | 'revoked';
  serialNumber: string;
  kind: CertificateKind;
  commonName: string;
  gatewayId: number | null;
}

export interface ServerEventMap {
  'certificate.issued': CertificateIssuedEvent;
  'certificate.revoked': CertificateRevokedEvent;
  'crl.updated': CrlUpdatedEvent;
  'certificate.remote': RemoteCertificateEvent;
}

export type ServerEventName = keyof ServerEventMap;
type Listener<K extends ServerEventName> = (event: ServerEventMap[K]) => void | Promise<void>;

export class ServerEvents {
  private readonly emitter = new EventEmitter();

  constructor(private readonly onListenerError: (name: string, err: unknown) => void = () => {}) {
    this.emitter.setMaxListeners(50);
  }

  /** Subscribes; returns the unsubscribe function. */
  on<K extends ServerEventName>(name: K, listener: Listener<K>): () => void {
    const wrapped = async (event: ServerEventMap[K]): Promise<void> => {
      try {
        await listener(event);
      } catch (err) {
        this.onListenerError(name, err);
      }
    };
    this.emitter.on(name, wrapped);
    return () => this.emitter.off(name, wrapped);
  }

  /** Runs every listener now; the promise settles when all of them have (it never rejects). */
  emit<K extends ServerEventName>(name: K, event: ServerEventMap[K]): Promise<void> {
    const running = this.emitter.listeners(name).map((l) => (l as (e: ServerEventMap[K]) => Promise<void>)(event));
    return Promise.all(running).then(() => undefined);
  }
}
