/**
 * The cryptography of zero-touch onboarding (docs/zero-touch.md §2): random ids, activation codes and
 * claim secrets with their stored hashes, key fingerprints, and the two signature checks (the birth
 * key's attestation, the CSR key's polls). The texts that are signed come from the contract.
 */
import { createHash, randomBytes, randomInt, timingSafeEqual, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { ACTIVATION_CODE_LENGTH, CLAIM_SECRET_LENGTH, CODE_ALPHABET } from '../contract/bootstrap.js';
import { OID } from '../ca/profile.js';

const sha256Hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

/** 128 random bits as 32 lowercase hex characters: a bootstrap request's public id. */
export function newBootstrapId(): string {
  return randomBytes(16).toString('hex');
}

export const BOOTSTRAP_ID = /^[0-9a-f]{32}$/;

/** 32 random bytes, base64url (43 characters). */
export function newNonce(): string {
  return randomBytes(32).toString('base64url');
}

function randomText(length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += CODE_ALPHABET[randomInt(CODE_ALPHABET.length)];
  return out;
}

/** 8 characters of the code alphabet, 40 bits (normalised form, no dash). */
export function newActivationCode(): string {
  return randomText(ACTIVATION_CODE_LENGTH);
}

/** 26 characters of the code alphabet, 130 bits. */
export function newClaimSecret(): string {
  return randomText(CLAIM_SECRET_LENGTH);
}

/** What is stored of an activation code: bound to its request, so equal codes of two requests differ. */
export function activationCodeHash(bootstrapId: string, code: string): string {
  return sha256Hex(`tds-activation-code/1:${bootstrapId}:${code}`);
}

export function claimSecretHash(secret: string): string {
  return sha256Hex(`tds-claim-secret/1:${secret}`);
}

/** Constant-time comparison of two hex digests. */
export function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/** Lowercase hex SHA-256 of a DER SubjectPublicKeyInfo. */
export function keyFingerprint(spkiDer: Buffer): string {
  return sha256Hex(spkiDer);
}

export function sha256HexOf(der: Buffer): string {
  return sha256Hex(der);
}

/** ECDSA (DER) or RSA PKCS#1 v1.5, both over SHA-256 of `message`; false for anything malformed. */
export function verifySignature(key: KeyObject, message: string, signatureB64: string): boolean {
  if (!/^[A-Za-z0-9+/]{16,1400}={0,2}$/.test(signatureB64)) return false;
  try {
    return verify('sha256', Buffer.from(message, 'ascii'), key, Buffer.from(signatureB64, 'base64'));
  } catch {
    return false;
  }
}

export type BirthCheck =
  | { ok: true; cert: X509Certificate; mac: string; serialNumber: string }
  | { ok: false; problem: string };

/**
 * A birth certificate as presented by a device: it must parse, be signed by the birth CA and issued
 * by it, be within its validity at `now`, carry the birth-identity EKU, and have one CN. Whether it
 * is one this server issued (byte for byte) and not revoked is the caller's check against the store.
 */
export function checkBirthCertificate(pem: string, birthCa: X509Certificate, now: Date): BirthCheck {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch {
    return { ok: false, problem: 'birth_certificate_pem is not a PEM X.509 certificate' };
  }
  if (!cert.checkIssued(birthCa) || !cert.verify(birthCa.publicKey)) return { ok: false, problem: 'the birth certificate was not issued by this server\'s birth CA' };
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  if (!(now.getTime() >= from && now.getTime() <= to)) return { ok: false, problem: `the birth certificate is not valid now (valid ${cert.validFrom} to ${cert.validTo})` };
  if (!(cert.keyUsage ?? []).includes(OID.birthIdentity)) return { ok: false, problem: 'the certificate is not a birth identity (its extended key usage lacks the birth-identity purpose)' };
  const cns = cert.subject.split('\n').filter((l) => l.startsWith('CN='));
  if (cns.length !== 1) return { ok: false, problem: 'the birth certificate must have exactly one CN' };
  return { ok: true, cert, mac: cns[0]!.slice(3), serialNumber: cert.serialNumber.toUpperCase() };
}
