/**
 * Short-lived encryption of server-made device keys waiting for their one ZIP download
 * (seed strategy 1). The key is derived with HKDF from a secret of the CA key store: the CA private
 * key itself when it is a sealed file, an HMAC computed by a non-extractable token key when the CA
 * key is in a PKCS#11 token. The sealed blobs in the database are useless without that key store,
 * and no extra secret has to be managed. AES-256-GCM with the certificate serial as associated data
 * binds each blob to its certificate.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

export class KeyVault {
  private constructor(private readonly key: Buffer) {}

  static fromSecret(secret: Buffer): KeyVault {
    const key = Buffer.from(hkdfSync('sha256', secret, Buffer.from('tds-key-vault-salt/1'), Buffer.from('pending device keys'), 32));
    return new KeyVault(key);
  }

  seal(secret: Buffer, boundTo: string): Buffer {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(boundTo));
    const data = Buffer.concat([cipher.update(secret), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), data]);
  }

  open(sealed: Buffer, boundTo: string): Buffer {
    const decipher = createDecipheriv('aes-256-gcm', this.key, sealed.subarray(0, 12));
    decipher.setAAD(Buffer.from(boundTo));
    decipher.setAuthTag(sealed.subarray(12, 28));
    return Buffer.concat([decipher.update(sealed.subarray(28)), decipher.final()]);
  }
}
