/**
 * In-process events, so other parts of the server (broker CRL publishing and reload, presence,
 * renewal over MQTT) hook in without editing the issuance core. Listeners run after the change is
 * committed; a failing listener is logged and never fails the request that caused the event.
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

export interface ServerEventMap {
  'certificate.issued': CertificateIssuedEvent;
  'certificate.revoked': CertificateRevokedEvent;
  'crl.updated': CrlUpdatedEvent;
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
    const wrapped = (event: ServerEventMap[K]): void => {
      try {
        const result = listener(event);
        if (result && typeof (result as Promise<void>).catch === 'function') {
          (result as Promise<void>).catch((err: unknown) => this.onListenerError(name, err));
        }
      } catch (err) {
        this.onListenerError(name, err);
      }
    };
    this.emitter.on(name, wrapped);
    return () => this.emitter.off(name, wrapped);
  }

  emit<K extends ServerEventName>(name: K, event: ServerEventMap[K]): void {
    this.emitter.emit(name, event);
  }
}
