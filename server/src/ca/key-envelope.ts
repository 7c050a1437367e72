/**
 * Secrets at rest: scrypt (N = 2^17, r = 8, p = 1) derives a key from the passphrase, AES-256-GCM
 * seals the secret (stronger than Node's encrypted PKCS#8 export, whose
 * PBKDF2 count is fixed at 2048). A wrong passphrase fails GCM authentication; nothing is guessed.
 */
import { createCipheriv, createDecipheriv, randomBytes, scrypt, type ScryptOptions } from 'node:crypto';
import { z } from 'zod';

export const ENVELOPE_FORMAT = 'tds-sealed-secret/1';

const b64 = z.string().regex(/^[A-Za-z0-9+/]+=*$/);
export const envelopeSchema = z.object({
  format: z.literal(ENVELOPE_FORMAT),
  kdf: z.literal('scrypt'),
  N: z.number().int().min(1024),
  r: z.number().int().min(1),
  p: z.number().int().min(1),
  salt: b64,
  cipher: z.literal('aes-256-gcm'),
  iv: b64,
  tag: b64,
  data: b64,
  /** What the secret is, e.g. "pkcs8" (not secret; bound to the ciphertext as associated data). */
  content: z.string().max(40),
});
export type SealedSecret = z.infer<typeof envelopeSchema>;

export class WrongPassphraseError extends Error {
  constructor() {
    super('the passphrase does not unlock the CA key (wrong TDS_CA_PASSPHRASE or passphrase file?)');
  }
}

export const DEFAULT_SCRYPT = { N: 2 ** 17, r: 8, p: 1 } as const;

function deriveKey(passphrase: string, salt: Buffer, params: { N: number; r: number; p: number }): Promise<Buffer> {
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(passphrase.normalize('NFC'), salt, 32, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export async function sealSecret(
  secret: Buffer,
  passphrase: string,
  contentLabel: string,
  params: { N: number; r: number; p: number } = DEFAULT_SCRYPT,
): Promise<SealedSecret> {
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const key = await deriveKey(passphrase, salt, params);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(`${ENVELOPE_FORMAT}|${contentLabel}`));
  const data = Buffer.concat([cipher.update(secret), cipher.final()]);
  key.fill(0);
  return {
    format: ENVELOPE_FORMAT,
    kdf: 'scrypt',
    ...params,
    salt: salt.toString('base64'),
    cipher: 'aes-256-gcm',
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    data: data.toString('base64'),
    content: contentLabel,
  };
}

export async function openSecret(envelope: unknown, passphrase: string): Promise<Buffer> {
  const env = envelopeSchema.parse(envelope);
  const key = await deriveKey(passphrase, Buffer.from(env.salt, 'base64'), env);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(env.iv, 'base64'));
    decipher.setAAD(Buffer.from(`${ENVELOPE_FORMAT}|${env.content}`));
    decipher.setAuthTag(Buffer.from(env.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(env.data, 'base64')), decipher.final()]);
  } catch {
    throw new WrongPassphraseError();
  } finally {
    key.fill(0);
  }
}
