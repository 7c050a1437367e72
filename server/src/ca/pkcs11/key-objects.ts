/**
 * The objects the CA keeps in a token: its private signing key (with the public half beside it) and
 * a secret HMAC key that roots the vault for server-made device keys. Both are made inside the
 * token as sensitive and non-extractable, and a found key is refused unless it is the same.
 */
import { createPublicKey } from 'node:crypto';
import pkcs11 from 'pkcs11js';
import { bitString, oid, seq } from '../der.js';
import type { KeyType } from '../keys.js';
import { TokenError } from './errors.js';
import { describeKeyUri, type Pkcs11Uri } from './uri.js';

type Handle = pkcs11.Handle;
type Lib = pkcs11.PKCS11;

const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';
const OID_P256 = '1.2.840.10045.3.1.7';
const P256_PARAMS = oid(OID_P256);
/** The RSA size a new CA key gets, the same as a file-held RSA CA. */
export const NEW_RSA_CA_BITS = 3072;

export function findObjects(lib: Lib, session: Handle, template: pkcs11.Template, max = 8): Handle[] {
  lib.C_FindObjectsInit(session, template);
  try {
    return lib.C_FindObjects(session, max);
  } finally {
    lib.C_FindObjectsFinal(session);
  }
}

function attributes(lib: Lib, session: Handle, handle: Handle, types: readonly number[]): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  for (const type of types) {
    // One at a time: a token answers CKR_ATTRIBUTE_TYPE_INVALID for the whole template when one is unknown.
    try {
      const [r] = lib.C_GetAttributeValue(session, handle, [{ type }]);
      if (r) out.set(type, r.value);
    } catch {
      // attribute not defined for this object
    }
  }
  return out;
}

const bool = (b: Buffer | undefined): boolean | undefined => (b === undefined || b.length === 0 ? undefined : b[0] !== 0);
const ulong = (b: Buffer | undefined): number | undefined => (b === undefined ? undefined : b.length >= 8 ? Number(b.readBigUInt64LE(0)) : b.readUInt32LE(0));
const text = (b: Buffer | undefined): string => (b ? b.toString('utf8') : '');

function keyTemplate(uri: Pkcs11Uri): pkcs11.Template {
  const t: pkcs11.Template = [{ type: pkcs11.CKA_CLASS, value: pkcs11.CKO_PRIVATE_KEY }];
  if (uri.object !== undefined) t.push({ type: pkcs11.CKA_LABEL, value: uri.object });
  if (uri.id !== undefined) t.push({ type: pkcs11.CKA_ID, value: uri.id });
  return t;
}

function privateKeyLabels(lib: Lib, session: Handle): string {
  const labels = findObjects(lib, session, [{ type: pkcs11.CKA_CLASS, value: pkcs11.CKO_PRIVATE_KEY }], 32).map(
    (h) => `'${text(attributes(lib, session, h, [pkcs11.CKA_LABEL]).get(pkcs11.CKA_LABEL))}'`,
  );
  return labels.length ? labels.join(', ') : 'no private keys';
}

/** The one private key the URI names; none or several is an error that says what the token holds. */
export function findPrivateKey(lib: Lib, session: Handle, uri: Pkcs11Uri): Handle {
  const found = findObjects(lib, session, keyTemplate(uri));
  if (found.length === 0) throw new TokenError(`no ${describeKeyUri(uri)} (the token holds ${privateKeyLabels(lib, session)})`);
  if (found.length > 1) throw new TokenError(`${found.length} private keys match the ${describeKeyUri(uri)}: add id=... to the URI`);
  return found[0]!;
}

export function privateKeyExists(lib: Lib, session: Handle, uri: Pkcs11Uri): boolean {
  return findObjects(lib, session, keyTemplate(uri), 1).length > 0;
}

export interface KeyFacts {
  keyType: KeyType;
  bits: number;
  canSign: boolean;
  extractable: boolean;
  sensitive: boolean;
  alwaysAuthenticate: boolean;
}

export function inspectPrivateKey(lib: Lib, session: Handle, handle: Handle): KeyFacts {
  const a = attributes(lib, session, handle, [
    pkcs11.CKA_KEY_TYPE,
    pkcs11.CKA_SIGN,
    pkcs11.CKA_EXTRACTABLE,
    pkcs11.CKA_SENSITIVE,
    pkcs11.CKA_ALWAYS_AUTHENTICATE,
    pkcs11.CKA_EC_PARAMS,
    pkcs11.CKA_MODULUS,
  ]);
  const type = ulong(a.get(pkcs11.CKA_KEY_TYPE));
  let keyType: KeyType;
  let bits: number;
  if (type === pkcs11.CKK_EC) {
    const params = a.get(pkcs11.CKA_EC_PARAMS);
    if (!params?.equals(P256_PARAMS)) throw new TokenError('the token key is an EC key on a curve other than P-256; the CA signs with P-256 (or RSA)');
    keyType = 'ec';
    bits = 256;
  } else if (type === pkcs11.CKK_RSA) {
    keyType = 'rsa';
    const modulus = a.get(pkcs11.CKA_MODULUS);
    bits = modulus ? (modulus.length - (modulus[0] === 0 ? 1 : 0)) * 8 : 0;
  } else {
    throw new TokenError(`the token key has key type ${type ?? 'unknown'}; the CA needs an EC P-256 or RSA key`);
  }
  return {
    keyType,
    bits,
    canSign: bool(a.get(pkcs11.CKA_SIGN)) === true,
    extractable: bool(a.get(pkcs11.CKA_EXTRACTABLE)) !== false,
    sensitive: bool(a.get(pkcs11.CKA_SENSITIVE)) === true,
    alwaysAuthenticate: bool(a.get(pkcs11.CKA_ALWAYS_AUTHENTICATE)) === true,
  };
}

/** A CA key must stay in the token and sign without a PIN per operation. */
export function checkCaKey(facts: KeyFacts): void {
  if (!facts.canSign) throw new TokenError('the token key may not sign (CKA_SIGN is false)');
  if (facts.extractable || !facts.sensitive) {
    throw new TokenError('the token key can leave the token (CKA_EXTRACTABLE true or CKA_SENSITIVE false); a CA key must be non-extractable and sensitive: let init create one');
  }
  if (facts.alwaysAuthenticate) throw new TokenError('the token key asks for the PIN at every signature (CKA_ALWAYS_AUTHENTICATE); a server cannot sign with it');
  if (facts.keyType === 'rsa' && (facts.bits < 2048 || facts.bits > 4096)) throw new TokenError(`the token key is RSA-${facts.bits}; the CA accepts RSA 2048 to 4096 bits`);
}

function ecSpki(point: Buffer): Buffer {
  return seq(seq(oid(OID_EC_PUBLIC_KEY), P256_PARAMS), bitString(point));
}

/** CKA_EC_POINT is a DER OCTET STRING; a few tokens return the bare point. */
function ecPoint(value: Buffer): Buffer {
  if (value.length === 65 && value[0] === 0x04) return value;
  if (value[0] === 0x04 && value[1] === 65 && value.length === 67) return value.subarray(2);
  throw new TokenError('the token returned an EC public point that is not an uncompressed P-256 point');
}

function rsaSpki(modulus: Buffer, exponent: Buffer): Buffer {
  return createPublicKey({ key: { kty: 'RSA', n: modulus.toString('base64url'), e: exponent.toString('base64url') }, format: 'jwk' }).export({ type: 'spki', format: 'der' });
}

/**
 * The SubjectPublicKeyInfo of a token key: RSA from the private key's public attributes; EC from
 * the public key object with the same CKA_ID (or label).
 */
export function publicKeySpki(lib: Lib, session: Handle, privateKey: Handle, keyType: KeyType): Buffer {
  const a = attributes(lib, session, privateKey, [pkcs11.CKA_ID, pkcs11.CKA_LABEL, pkcs11.CKA_MODULUS, pkcs11.CKA_PUBLIC_EXPONENT]);
  if (keyType === 'rsa') {
    const n = a.get(pkcs11.CKA_MODULUS);
    const e = a.get(pkcs11.CKA_PUBLIC_EXPONENT);
    if (n && e) return rsaSpki(n, e);
  }
  const id = a.get(pkcs11.CKA_ID);
  const match: pkcs11.Template = [{ type: pkcs11.CKA_CLASS, value: pkcs11.CKO_PUBLIC_KEY }];
  if (id && id.length > 0) match.push({ type: pkcs11.CKA_ID, value: id });
  else match.push({ type: pkcs11.CKA_LABEL, value: text(a.get(pkcs11.CKA_LABEL)) });
  const [pub] = findObjects(lib, session, match, 1);
  if (!pub) throw new TokenError('the token has no public key object beside this private key: give the CA certificate with --import-cert');
  const p = attributes(lib, session, pub, [pkcs11.CKA_EC_POINT, pkcs11.CKA_MODULUS, pkcs11.CKA_PUBLIC_EXPONENT]);
  if (keyType === 'ec') {
    const point = p.get(pkcs11.CKA_EC_POINT);
    if (!point) throw new TokenError('the public key object beside the token key has no EC point');
    return ecSpki(ecPoint(point));
  }
  const n = p.get(pkcs11.CKA_MODULUS);
  const e = p.get(pkcs11.CKA_PUBLIC_EXPONENT);
  if (!n || !e) throw new TokenError('the public key object beside the token key has no RSA modulus');
  return rsaSpki(n, e);
}

function generationError(err: unknown, what: string): TokenError {
  return new TokenError(`the token could not generate ${what}: ${(err as Error).message} (does it support this key type? try the other --key-type)`);
}

/**
 * A new CA key pair inside the token: private half sensitive, never extractable, sign only; public
 * half kept beside it. RSA generation can take seconds, so it runs off the event loop.
 */
export async function generateCaKeyPair(lib: Lib, session: Handle, uri: Pkcs11Uri, keyType: KeyType): Promise<{ key: Handle; spkiDer: Buffer }> {
  if (uri.object === undefined) throw new TokenError('to create a key, the URI needs object=<label> (the new key\'s label)');
  const common: pkcs11.Template = [
    { type: pkcs11.CKA_TOKEN, value: true },
    { type: pkcs11.CKA_LABEL, value: uri.object },
    ...(uri.id ? [{ type: pkcs11.CKA_ID, value: uri.id }] : []),
  ];
  const publicTemplate: pkcs11.Template = [
    ...common,
    { type: pkcs11.CKA_CLASS, value: pkcs11.CKO_PUBLIC_KEY },
    { type: pkcs11.CKA_PRIVATE, value: false },
    { type: pkcs11.CKA_VERIFY, value: true },
    { type: pkcs11.CKA_ENCRYPT, value: false },
    { type: pkcs11.CKA_WRAP, value: false },
    ...(keyType === 'ec'
      ? [{ type: pkcs11.CKA_KEY_TYPE, value: pkcs11.CKK_EC }, { type: pkcs11.CKA_EC_PARAMS, value: P256_PARAMS }]
      : [
          { type: pkcs11.CKA_KEY_TYPE, value: pkcs11.CKK_RSA },
          { type: pkcs11.CKA_MODULUS_BITS, value: NEW_RSA_CA_BITS },
          { type: pkcs11.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
        ]),
  ];
  const privateTemplate: pkcs11.Template = [
    ...common,
    { type: pkcs11.CKA_CLASS, value: pkcs11.CKO_PRIVATE_KEY },
    { type: pkcs11.CKA_KEY_TYPE, value: keyType === 'ec' ? pkcs11.CKK_EC : pkcs11.CKK_RSA },
    { type: pkcs11.CKA_PRIVATE, value: true },
    { type: pkcs11.CKA_SENSITIVE, value: true },
    { type: pkcs11.CKA_EXTRACTABLE, value: false },
    { type: pkcs11.CKA_SIGN, value: true },
    { type: pkcs11.CKA_DECRYPT, value: false },
    { type: pkcs11.CKA_UNWRAP, value: false },
    { type: pkcs11.CKA_DERIVE, value: false },
  ];
  const mechanism = { mechanism: keyType === 'ec' ? pkcs11.CKM_EC_KEY_PAIR_GEN : pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN };
  let pair: pkcs11.KeyPair;
  try {
    pair = await lib.C_GenerateKeyPairAsync(session, mechanism, publicTemplate, privateTemplate);
  } catch (err) {
    throw generationError(err, keyType === 'ec' ? 'an EC P-256 key pair' : `an RSA-${NEW_RSA_CA_BITS} key pair`);
  }
  return { key: pair.privateKey, spkiDer: publicKeySpki(lib, session, pair.privateKey, keyType) };
}

// ---------------------------------------------------------------------------------------------
// The vault root: an HMAC-SHA256 key that never leaves the token.

const VAULT_LENGTH = 32;

export function findVaultKey(lib: Lib, session: Handle, label: string): Handle | undefined {
  const found = findObjects(lib, session, [
    { type: pkcs11.CKA_CLASS, value: pkcs11.CKO_SECRET_KEY },
    { type: pkcs11.CKA_LABEL, value: label },
  ]);
  if (found.length > 1) throw new TokenError(`${found.length} secret keys are labelled '${label}' in the token; keep one`);
  return found[0];
}

export function generateVaultKey(lib: Lib, session: Handle, label: string): Handle {
  try {
    return lib.C_GenerateKey(session, { mechanism: pkcs11.CKM_GENERIC_SECRET_KEY_GEN }, [
      { type: pkcs11.CKA_CLASS, value: pkcs11.CKO_SECRET_KEY },
      { type: pkcs11.CKA_KEY_TYPE, value: pkcs11.CKK_GENERIC_SECRET },
      { type: pkcs11.CKA_VALUE_LEN, value: VAULT_LENGTH },
      { type: pkcs11.CKA_TOKEN, value: true },
      { type: pkcs11.CKA_PRIVATE, value: true },
      { type: pkcs11.CKA_SENSITIVE, value: true },
      { type: pkcs11.CKA_EXTRACTABLE, value: false },
      { type: pkcs11.CKA_SIGN, value: true },
      { type: pkcs11.CKA_ENCRYPT, value: false },
      { type: pkcs11.CKA_DECRYPT, value: false },
      { type: pkcs11.CKA_WRAP, value: false },
      { type: pkcs11.CKA_UNWRAP, value: false },
      { type: pkcs11.CKA_DERIVE, value: false },
      { type: pkcs11.CKA_LABEL, value: label },
    ]);
  } catch (err) {
    throw new TokenError(
      `the token could not make the secret key '${label}' that seals server-made device keys (CKM_GENERIC_SECRET_KEY_GEN for HMAC-SHA256): ${(err as Error).message}`,
    );
  }
}

export function checkVaultKey(lib: Lib, session: Handle, handle: Handle, label: string): void {
  const a = attributes(lib, session, handle, [pkcs11.CKA_EXTRACTABLE, pkcs11.CKA_SENSITIVE, pkcs11.CKA_SIGN]);
  if (bool(a.get(pkcs11.CKA_EXTRACTABLE)) !== false || bool(a.get(pkcs11.CKA_SENSITIVE)) !== true || bool(a.get(pkcs11.CKA_SIGN)) !== true) {
    throw new TokenError(`the secret key '${label}' must be non-extractable, sensitive and allowed to sign (HMAC)`);
  }
}

export function hmacSha256(lib: Lib, session: Handle, key: Handle, data: Buffer): Buffer {
  lib.C_SignInit(session, { mechanism: pkcs11.CKM_SHA256_HMAC }, key);
  return Buffer.from(lib.C_Sign(session, data, Buffer.alloc(VAULT_LENGTH)));
}
