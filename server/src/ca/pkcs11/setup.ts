/**
 * `tds-server init` with the CA key in a token: make the key pair inside the token (or take an
 * existing one that is non-extractable), make or find the vault's HMAC key, then build the CA
 * (a new self-signed certificate, or an existing certificate proven to belong to the key).
 */
import { CertificateAuthority } from '../authority.js';
import { parseCaSubject } from '../ca-certificate.js';
import type { KeyType } from '../keys.js';
import { TokenError } from './errors.js';
import {
  checkCaKey,
  checkVaultKey,
  findPrivateKey,
  findVaultKey,
  generateCaKeyPair,
  generateVaultKey,
  inspectPrivateKey,
  privateKeyExists,
  publicKeySpki,
} from './key-objects.js';
import { Pkcs11CaSigner, type Pkcs11KeyLocation } from './signer.js';
import { TokenConnection } from './token.js';
import { describeKeyUri, type Pkcs11Uri } from './uri.js';

export interface TokenCaSetup {
  modulePath: string;
  uri: Pkcs11Uri;
  pin: string;
  /**
   * Use the key the URI names instead of creating it; 'if-present': use it when the token holds it,
   * else create it.
   */
  existing: boolean | 'if-present';
  /** Type of a new key (EC P-256 default, or RSA-3072). */
  keyType?: KeyType;
  /** Keep this CA certificate (existing key only); otherwise a new self-signed one is made. */
  certPem?: string;
  subject?: string;
  /** Label of the vault's HMAC key (default: beside the key, see defaultVaultLabel). */
  vaultLabel?: string;
  /** Sessions the signer keeps open (default 4). */
  sessions?: number;
}

/** The vault key's label beside a key labelled `object` (or with CKA_ID `id`). */
export function defaultVaultLabel(uri: Pkcs11Uri): string {
  return uri.object !== undefined ? `${uri.object}-vault` : `tds-ca-${uri.id!.toString('hex')}-vault`;
}

/**
 * The birth CA's key beside the device CA's: the same token, object `<object>-birth` (no CKA_ID,
 * which belongs to the device key).
 */
export function birthKeyUri(deviceUri: Pkcs11Uri): Pkcs11Uri {
  const { id, object, ...rest } = deviceUri;
  return { ...rest, object: object !== undefined ? `${object}-birth` : `tds-ca-${id!.toString('hex')}-birth` };
}

export async function setupTokenCa(s: TokenCaSetup): Promise<{ authority: CertificateAuthority; location: Pkcs11KeyLocation; created: boolean }> {
  if (s.certPem !== undefined && !s.existing) throw new TokenError('a CA certificate can only be kept for an existing token key (--pkcs11-existing)');
  if (s.certPem === undefined) parseCaSubject(s.subject); // refuse a bad subject before a key is made
  const vaultLabel = s.vaultLabel ?? defaultVaultLabel(s.uri);
  let created = false;
  const writer = await TokenConnection.open({ modulePath: s.modulePath, uri: s.uri, pin: s.pin, sessions: 1, readWrite: true }, () => undefined);
  let spkiDer: Buffer | undefined;
  try {
    spkiDer = await writer.run(async (lib, session) => {
      let spki: Buffer | undefined;
      const existing = s.existing === 'if-present' ? privateKeyExists(lib, session, s.uri) : s.existing;
      if (existing) {
        const key = findPrivateKey(lib, session, s.uri);
        const facts = inspectPrivateKey(lib, session, key);
        checkCaKey(facts);
        if (s.certPem === undefined) spki = publicKeySpki(lib, session, key, facts.keyType);
      } else {
        if (privateKeyExists(lib, session, s.uri)) {
          throw new TokenError(`the token already holds a private ${describeKeyUri(s.uri)}: pass --pkcs11-existing to use it, or name a new object`);
        }
        spki = (await generateCaKeyPair(lib, session, s.uri, s.keyType ?? 'ec')).spkiDer;
        created = true;
      }
      const vault = findVaultKey(lib, session, vaultLabel) ?? generateVaultKey(lib, session, vaultLabel);
      checkVaultKey(lib, session, vault, vaultLabel);
      return spki;
    });
  } finally {
    await writer.close();
  }

  const location: Pkcs11KeyLocation = { modulePath: s.modulePath, uri: s.uri, vaultLabel, ...(s.sessions ? { sessions: s.sessions } : {}) };
  const signer = await Pkcs11CaSigner.open(location, s.pin);
  try {
    const authority =
      s.certPem !== undefined
        ? await CertificateAuthority.load(s.certPem, signer)
        : await CertificateAuthority.create(signer, spkiDer!, { ...(s.subject ? { subject: s.subject } : {}) });
    return { authority, location, created };
  } catch (err) {
    await signer.close();
    throw err;
  }
}
