/**
 * Makes a key pair and a PKCS#10 request whose CN is the device MAC: what a station does when the
 * key is born in its memory (second best after a key born on the device), and what tests and
 * benchmarks use.
 */
import { webcrypto } from 'node:crypto';
import { normaliseMac } from '../contract/index.js';
import type { KeyType } from './keys.js';
import { x509 } from './x509.js';

export async function createDeviceCsr(options: { mac: string; keyType?: KeyType; commonName?: string }): Promise<{
  csrPem: string;
  privateKeyPem: string;
}> {
  const keyType = options.keyType ?? 'ec';
  const cn = options.commonName ?? normaliseMac(options.mac);
  const alg =
    keyType === 'ec'
      ? { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' }
      : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [cn] }],
    keys,
    signingAlgorithm: alg,
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return { csrPem: csr.toString('pem') + '\n', privateKeyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') + '\n' };
}
