/** Key pairs: generation (EC P-256 default, RSA-2048 option) and what the CA accepts. */
import { generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import type { KeyType } from '../contract/api.js';

export type { KeyType };

export type PublicKeyInfo =
  | { supported: true; type: KeyType; description: string }
  | { supported: false; problem: string };

/** Device and service keys the CA certifies: EC P-256/P-384, RSA 2048–4096. */
export function describePublicKey(key: KeyObject): PublicKeyInfo {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (type === 'ec') {
    const curve = details.namedCurve;
    if (curve === 'prime256v1' || curve === 'secp384r1') {
      return { supported: true, type: 'ec', description: curve === 'prime256v1' ? 'EC P-256' : 'EC P-384' };
    }
    return { supported: false, problem: `EC curve ${curve ?? 'unknown'} is not accepted (use P-256)` };
  }
  if (type === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits >= 2048 && bits <= 4096) return { supported: true, type: 'rsa', description: `RSA-${bits}` };
    return { supported: false, problem: `RSA-${bits} keys are not accepted (use 2048 to 4096 bits)` };
  }
  return { supported: false, problem: `${type ?? 'unknown'} keys are not accepted (use EC P-256 or RSA-2048)` };
}

const generate = promisify(generateKeyPair);

export interface GeneratedKey {
  type: KeyType;
  publicKey: KeyObject;
  privateKey: KeyObject;
  spkiDer: Buffer;
}

/**
 * Generates off the event loop (libuv thread pool): RSA-2048 takes ~100-200 ms and must not stall
 * other requests.
 */
export async function generateKey(type: KeyType, rsaBits = 2048): Promise<GeneratedKey> {
  const pair =
    type === 'ec'
      ? await generate('ec', { namedCurve: 'prime256v1' })
      : await generate('rsa', { modulusLength: rsaBits, publicExponent: 0x10001 });
  return {
    type,
    publicKey: pair.publicKey,
    privateKey: pair.privateKey,
    spkiDer: pair.publicKey.export({ type: 'spki', format: 'der' }),
  };
}

/** PKCS#8 PEM ("BEGIN PRIVATE KEY"): read by OpenSSL, mbedTLS, Python and Node alike. */
export function privateKeyPem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}
