/**
 * The file key store, the default: a CA's certificate (public) and its key (PKCS#8 sealed with the
 * passphrase, 0600). Two CAs live in a data folder: the operational device CA (`ca.crt`,
 * `ca.key.enc`) and the birth CA of zero-touch onboarding (`birth-ca.crt`, `birth-ca.key.enc`),
 * which the broker never trusts. The other store is a PKCS#11 token (ca-backend.ts chooses).
 */
import { promises as fs } from 'node:fs';
import { dataPath } from '../config/data-dir.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { CertificateAuthority } from './authority.js';
import { openSecret, sealSecret, WrongPassphraseError } from './key-envelope.js';
import { FileCaSigner } from './signer.js';

export const MIN_PASSPHRASE_LENGTH = 12;

/** Which CA of the data folder: the operational device CA, or the birth CA. */
export type CaRole = 'device' | 'birth';

export const CA_FILES = {
  device: {
    cert: 'caCert',
    key: 'caKey',
    pkcs11: 'caKeyPkcs11',
    label: 'ca-key-pkcs8',
    missing: (dir: string) => `no CA in ${dir}: run "tds-server init --data ${dir}" first`,
  },
  birth: {
    cert: 'birthCaCert',
    key: 'birthCaKey',
    pkcs11: 'birthCaKeyPkcs11',
    label: 'birth-ca-key-pkcs8',
    missing: (dir: string) => `no birth CA in ${dir}: run "tds-server birth-ca create --data ${dir}"`,
  },
} as const;

export async function saveCa(dataDir: string, authority: CertificateAuthority, pkcs8Der: Buffer, passphrase: string, role: CaRole = 'device'): Promise<void> {
  if (passphrase.length < MIN_PASSPHRASE_LENGTH) {
    throw new Error(`the CA passphrase must have at least ${MIN_PASSPHRASE_LENGTH} characters`);
  }
  const files = CA_FILES[role];
  // The content label is bound to the ciphertext: one CA's sealed key cannot pass for the other's.
  const sealed = await sealSecret(pkcs8Der, passphrase, files.label);
  // Certificate first: the key file is what marks the CA as present (ca-backend.ts hasCa).
  await saveCaCertificate(dataDir, authority.certificatePem, role);
  await writeFileAtomic(dataPath(dataDir, files.key), JSON.stringify(sealed, null, 2) + '\n', 0o600);
}

/** A CA's certificate, public (0644), whichever store holds the key. */
export async function saveCaCertificate(dataDir: string, certificatePem: string, role: CaRole = 'device'): Promise<void> {
  await writeFileAtomic(dataPath(dataDir, CA_FILES[role].cert), certificatePem, 0o644);
}

export async function loadCa(dataDir: string, passphrase: string, role: CaRole = 'device'): Promise<CertificateAuthority> {
  const files = CA_FILES[role];
  const [certPem, sealedText] = await Promise.all([fs.readFile(dataPath(dataDir, files.cert), 'utf8'), fs.readFile(dataPath(dataDir, files.key), 'utf8')]).catch(() => {
    throw new Error(files.missing(dataDir));
  });
  const envelope = JSON.parse(sealedText) as { content?: unknown };
  if (envelope.content !== files.label) throw new Error(`${dataPath(dataDir, files.key)} does not hold the ${role === 'birth' ? 'birth' : 'device'} CA key`);
  const pkcs8Der = await openSecret(envelope, passphrase);
  try {
    return await CertificateAuthority.load(certPem, FileCaSigner.fromPkcs8(pkcs8Der));
  } finally {
    pkcs8Der.fill(0);
  }
}

export async function readCaCertificate(dataDir: string, role: CaRole = 'device'): Promise<string> {
  return fs.readFile(dataPath(dataDir, CA_FILES[role].cert), 'utf8');
}

export { WrongPassphraseError };
