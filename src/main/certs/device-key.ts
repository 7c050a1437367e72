import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { KeyType } from '@tds/server/contract';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALGORITHMS = {
  ec: { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' },
  rsa: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
} as const;

/**
 * A device key born in this process's memory (key mode `station`). The private key leaves
 * memory only as `privateKeyPem()` bytes handed to the device's data partition; it is never
 * logged or written to disk. Call `destroy()` when the device has it: the PEM buffers handed out
 * are zeroed (JS strings cannot be, which is why the key is never turned into one).
 */
export class DeviceKey {
  private readonly issued: Uint8Array[] = [];
  private destroyed = false;

  private constructor(
    readonly type: KeyType,
    private keys: CryptoKeyPair | undefined,
  ) {}

  static async generate(type: KeyType = 'ec'): Promise<DeviceKey> {
    const keys = (await webcrypto.subtle.generateKey(ALGORITHMS[type], true, ['sign', 'verify'])) as CryptoKeyPair;
    return new DeviceKey(type, keys);
  }

  /** PKCS#10 CSR (PEM) with subject CN = the canonical MAC, signed by this key. */
  async csrPem(mac: string): Promise<string> {
    const keys = this.mustHaveKeys();
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: [{ CN: [mac] }],
      keys,
      signingAlgorithm: ALGORITHMS[this.type],
    });
    return csr.toString('pem');
  }

  /** SPKI SHA-256 of the public key (hex), to check that an issued certificate carries this key. */
  async publicKeySha256(): Promise<string> {
    const spki = await webcrypto.subtle.exportKey('spki', this.mustHaveKeys().publicKey);
    const digest = await webcrypto.subtle.digest('SHA-256', spki);
    return Buffer.from(digest).toString('hex');
  }

  /**
   * The private key as PKCS#8 PEM bytes (`-----BEGIN PRIVATE KEY-----`, read by mbedTLS), NUL-free
   * ASCII. The returned buffer is zeroed by `destroy()`.
   */
  async privateKeyPem(): Promise<Uint8Array> {
    const der = new Uint8Array(await webcrypto.subtle.exportKey('pkcs8', this.mustHaveKeys().privateKey));
    try {
      const pem = pemBytes('PRIVATE KEY', der);
      this.issued.push(pem);
      return pem;
    } finally {
      der.fill(0);
    }
  }

  /** Zeroes every PEM buffer handed out and drops the key objects. */
  destroy(): void {
    for (const b of this.issued) b.fill(0);
    this.issued.length = 0;
    this.keys = undefined;
    this.destroyed = true;
  }

  private mustHaveKeys(): CryptoKeyPair {
    if (this.destroyed || !this.keys) throw new Error('device key already destroyed');
    return this.keys;
  }
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/**
 * PEM armour written straight into a byte buffer (base64 lines of 64), so the key never exists
 * as an immutable JS string.
 */
export function pemBytes(label: string, der: Uint8Array): Uint8Array {
  const head = `-----BEGIN ${label}-----\n`;
  const tail = `-----END ${label}-----\n`;
  const b64Len = Math.ceil(der.length / 3) * 4;
  const lines = Math.ceil(b64Len / 64);
  const out = new Uint8Array(head.length + b64Len + lines + tail.length);
  let o = 0;
  for (let i = 0; i < head.length; i++) out[o++] = head.charCodeAt(i);
  let col = 0;
  const put = (c: number): void => {
    out[o++] = c;
    if (++col === 64) {
      out[o++] = 0x0a;
      col = 0;
    }
  };
  for (let i = 0; i < der.length; i += 3) {
    const a = der[i]!;
    const b = i + 1 < der.length ? der[i + 1]! : 0;
    const c = i + 2 < der.length ? der[i + 2]! : 0;
    put(B64.charCodeAt(a >> 2));
    put(B64.charCodeAt(((a & 3) << 4) | (b >> 4)));
    put(i + 1 < der.length ? B64.charCodeAt(((b & 15) << 2) | (c >> 6)) : 0x3d);
    put(i + 2 < der.length ? B64.charCodeAt(c & 63) : 0x3d);
  }
  if (col !== 0) out[o++] = 0x0a;
  for (let i = 0; i < tail.length; i++) out[o++] = tail.charCodeAt(i);
  return out.subarray(0, o);
}
