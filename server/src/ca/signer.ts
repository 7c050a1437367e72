/**
 * The CA signing key behind one seam. The CA signs certificates and CRLs through a CaSigner and
 * never learns where the key lives: in memory after unsealing `ca.key.enc` (FileCaSigner, here) or
 * in a PKCS#11 token (pkcs11/signer.ts). Both sign SHA-256 digests only: ECDSA P-256 or RSA PKCS#1 v1.5.
 */
import { createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { seq, unsignedInteger } from './der.js';
import { describePublicKey, type KeyType } from './keys.js';
import { KeyVault } from './vault.js';
import type { x509 } from './x509.js';

/** ECDSA output: DER (X.509 signatureValue) or IEEE P1363 r||s (WebCrypto). RSA is the same either way. */
export type SignatureFormat = 'der' | 'ieee-p1363';

export interface CaSigner {
  readonly backend: 'file' | 'pkcs11';
  readonly keyType: KeyType;
  /** SHA-256 signature over `data`. */
  sign(data: Buffer, format?: SignatureFormat): Promise<Buffer>;
  /** Seals server-made device keys awaiting their download; rooted in the same key store as the CA key. */
  readonly vault: KeyVault;
  /** Where the key is, for logs (no secrets). */
  readonly description: string;
  /** Releases what the key store holds open (token sessions); the signer is unusable afterwards. */
  close(): Promise<void>;
}

/** The CA key accepted by both key stores: EC P-256 (what the profiles sign with) or RSA 2048–4096. */
export function caKeyProblem(publicKey: KeyObject): string | undefined {
  const info = describePublicKey(publicKey);
  if (!info.supported) return info.problem;
  if (info.type === 'ec' && info.description !== 'EC P-256') return `${info.description} is not accepted for the CA key (use EC P-256 or RSA)`;
  return undefined;
}

/** r||s (each half the length) → ECDSA-Sig-Value DER. */
export function p1363ToDer(signature: Buffer): Buffer {
  const half = signature.length / 2;
  return seq(unsignedInteger(signature.subarray(0, half)), unsignedInteger(signature.subarray(half)));
}

/** The key in this process's memory, unsealed from the data folder (key-store.ts). */
export class FileCaSigner implements CaSigner {
  readonly backend = 'file' as const;
  readonly description = 'CA key sealed in the data folder';

  private constructor(
    private readonly key: KeyObject,
    readonly keyType: KeyType,
    readonly vault: KeyVault,
  ) {}

  /** From an unencrypted PKCS#8 DER key; the caller wipes its buffer afterwards. */
  static fromPkcs8(pkcs8Der: Buffer): FileCaSigner {
    const key = createPrivateKey({ key: pkcs8Der, format: 'der', type: 'pkcs8' });
    const publicKey = createPublicKey(key);
    const problem = caKeyProblem(publicKey);
    if (problem) throw new Error(`CA key: ${problem}`);
    return new FileCaSigner(key, publicKey.asymmetricKeyType === 'rsa' ? 'rsa' : 'ec', KeyVault.fromSecret(pkcs8Der));
  }

  sign(data: Buffer, format: SignatureFormat = 'der'): Promise<Buffer> {
    return Promise.resolve(sign('sha256', data, format === 'der' ? this.key : { key: this.key, dsaEncoding: 'ieee-p1363' }));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * What @peculiar/x509's generators need to sign through a CaSigner. Given a public key and a
 * serial, X509CertificateGenerator and X509CrlGenerator only call `crypto.subtle.sign` (WebCrypto
 * signature format), so that one call is routed to the signer.
 */
type CrlParams = Parameters<typeof x509.X509CrlGenerator.create>;

export function x509Signing(signer: CaSigner): {
  crypto: NonNullable<CrlParams[1]>;
  signingKey: CrlParams[0]['signingKey'];
  signingAlgorithm: CrlParams[0]['signingAlgorithm'];
} {
  const algorithm = signer.keyType === 'ec' ? { name: 'ECDSA', namedCurve: 'P-256' } : { name: 'RSASSA-PKCS1-v1_5', hash: { name: 'SHA-256' } };
  const signingKey = { algorithm, type: 'private', extractable: false, usages: ['sign'] } as unknown as CrlParams[0]['signingKey'];
  const subtle = {
    sign: async (_alg: unknown, _key: unknown, data: ArrayBuffer | ArrayBufferView): Promise<ArrayBuffer> => {
      const bytes = ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(data);
      const sig = await signer.sign(bytes, 'ieee-p1363');
      return sig.buffer.slice(sig.byteOffset, sig.byteOffset + sig.byteLength) as ArrayBuffer;
    },
  };
  return {
    crypto: { subtle } as unknown as NonNullable<CrlParams[1]>,
    signingKey,
    signingAlgorithm: signer.keyType === 'ec' ? { name: 'ECDSA', hash: 'SHA-256' } : { name: 'RSASSA-PKCS1-v1_5' },
  };
}
