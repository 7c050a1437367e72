/**
 * The file key store, the default: `ca.crt` (public) and `ca.key.enc` (PKCS#8 sealed with the
 * passphrase, 0600). The other store is a PKCS#11 token (ca-backend.ts chooses).
 */
import { promises as fs } from 'node:fs';
import { dataPath } from '../config/data-dir.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { CertificateAuthority } from './authority.js';
import { openSecret, sealSecret, WrongPassphraseError } from './key-envelope.js';
import { FileCaSigner } from './signer.js';

export const MIN_PASSPHRASE_LENGTH = 12;

export async function saveCa(dataDir: string, authority: CertificateAuthority, pkcs8Der: Buffer, passphrase: string): Promise<void> {
  if (passphrase.length < MIN_PASSPHRASE_LENGTH) {
    throw new Error(`the CA passphrase must have at least ${MIN_PASSPHRASE_LENGTH} characters`);
  }
  const sealed = await sealSecret(pkcs8Der, passphrase, 'ca-key-pkcs8');
  await writeFileAtomic(dataPath(dataDir, 'caKey'), JSON.stringify(sealed, null, 2) + '\n', 0o600);
  await saveCaCertificate(dataDir, authority.certificatePem);
}

/** `ca.crt`, public (0644), whichever store holds the key. */
export async function saveCaCertificate(dataDir: string, certificatePem: string): Promise<void> {
  await writeFileAtomic(dataPath(dataDir, 'caCert'), certificatePem, 0o644);
}

export async function loadCa(dataDir: string, passphrase: string): Promise<CertificateAuthority> {
  const [certPem, sealedText] = await Promise.all([
    fs.readFile(dataPath(dataDir, 'caCert'), 'utf8'),
    fs.readFile(dataPath(dataDir, 'caKey'), 'utf8'),
  ]).catch(() => {
    throw new Error(`no CA in ${dataDir}: run "tds-server init --data ${dataDir}" first`);
  });
  const pkcs8Der = await openSecret(JSON.parse(sealedText), passphrase);
  try {
    return await CertificateAuthority.load(certPem, FileCaSigner.fromPkcs8(pkcs8Der));
  } finally {
    pkcs8Der.fill(0);
  }
}

export async function readCaCertificate(dataDir: string): Promise<string> {
  return fs.readFile(dataPath(dataDir, 'caCert'), 'utf8');
}

export { WrongPassphraseError };
