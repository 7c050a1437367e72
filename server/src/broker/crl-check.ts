/**
 * Validates a CRL before it is handed to a broker. Mosquitto keeps running WITHOUT revocation checks
 * when a CRL it reloads is unreadable, and refuses every client once nextUpdate has passed, so a CRL
 * is only published when: it has the `X509 CRL` PEM label, OpenSSL (through Node's tls) can load it,
 * the CA's key signed it, its issuer is the CA, and nextUpdate is comfortably in the future.
 */
import 'reflect-metadata';
import tls from 'node:tls';
import * as x509 from '@peculiar/x509';

export interface ValidCrl {
  pem: string;
  thisUpdate: Date;
  nextUpdate: Date;
  /** Lowercase hex serial numbers of every revoked certificate. */
  revokedSerials: Set<string>;
}

export interface CrlCheckOptions {
  now?: Date;
  /** Refuse a CRL whose nextUpdate is closer than this (default 1 hour). */
  minRemainingMs?: number;
}

const PEM_BLOCK = /-----BEGIN X509 CRL-----[\s\S]+?-----END X509 CRL-----/g;

/** Canonical serial form used for comparisons: lowercase hex without leading zeros. */
export function normaliseSerial(serial: string): string {
  const hex = serial.replace(/[:\s]/g, '').toLowerCase().replace(/^0+(?=.)/, '');
  if (!/^[0-9a-f]+$/.test(hex)) throw new Error(`'${serial}' is not a hexadecimal serial number`);
  return hex;
}

export async function validateCrl(crlPem: string, caPem: string, opts: CrlCheckOptions = {}): Promise<ValidCrl> {
  const now = opts.now ?? new Date();
  const blocks = crlPem.match(PEM_BLOCK) ?? [];
  if (blocks.length !== 1) {
    throw new Error(
      crlPem.includes('-----BEGIN CRL-----')
        ? 'CRL has the PEM label "CRL"; OpenSSL and Mosquitto need "X509 CRL"'
        : `expected exactly one "X509 CRL" PEM block, found ${blocks.length}`,
    );
  }
  try {
    // Same parser Mosquitto uses (OpenSSL): a CRL it cannot load must never replace a good one.
    tls.createSecureContext({ ca: caPem, crl: crlPem });
  } catch (err) {
    throw new Error(`OpenSSL cannot load the CRL: ${(err as Error).message}`);
  }
  const crl = new x509.X509Crl(blocks[0]!);
  const ca = new x509.X509Certificate(caPem);
  if (crl.issuerName.toString() !== ca.subjectName.toString()) {
    throw new Error(`CRL issuer "${crl.issuer}" is not the CA "${ca.subject}"`);
  }
  if (!(await crl.verify({ publicKey: ca }))) throw new Error('CRL signature does not verify with the CA certificate');
  const next = crl.nextUpdate;
  if (!next) throw new Error('CRL has no nextUpdate');
  const minRemaining = opts.minRemainingMs ?? 3_600_000;
  if (next.getTime() - now.getTime() < minRemaining) {
    throw new Error(`CRL nextUpdate ${next.toISOString()} is too close or already past; re-sign it first`);
  }
  if (crl.thisUpdate.getTime() > now.getTime() + 5 * 60_000) {
    throw new Error(`CRL thisUpdate ${crl.thisUpdate.toISOString()} is in the future`);
  }
  const revokedSerials = new Set(crl.entries.map((e) => normaliseSerial(e.serialNumber)));
  return { pem: blocks[0]! + '\n', thisUpdate: crl.thisUpdate, nextUpdate: next, revokedSerials };
}
