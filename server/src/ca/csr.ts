/**
 * PKCS#10 certificate requests: parse, check the signature (proof that the requester holds the
 * key), and report the subject CN and the public key. The CA never copies anything else from a
 * CSR: it sets every extension itself. A CSR that asks for CA:true is refused outright, because
 * it shows that whoever built it is trying something a device never needs.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { parseMac } from '../contract/mac.js';
import { DerError, children, content, decodeOid, decodeString, pemToDer, raw, readTlv } from './der.js';
import { describePublicKey, type KeyType } from './keys.js';

export class CsrError extends Error {}

export interface ParsedCsr {
  /** The subject's CN values (a well-formed device CSR has exactly one). */
  commonNames: string[];
  spkiDer: Buffer;
  publicKey: KeyObject;
  key: { type: KeyType; description: string };
}

const SIG_HASH: Readonly<Record<string, { hash: string; family: KeyType }>> = {
  '1.2.840.10045.4.3.2': { hash: 'sha256', family: 'ec' },
  '1.2.840.10045.4.3.3': { hash: 'sha384', family: 'ec' },
  '1.2.840.10045.4.3.4': { hash: 'sha512', family: 'ec' },
  '1.2.840.113549.1.1.11': { hash: 'sha256', family: 'rsa' },
  '1.2.840.113549.1.1.12': { hash: 'sha384', family: 'rsa' },
  '1.2.840.113549.1.1.13': { hash: 'sha512', family: 'rsa' },
};

const OID_CN = '2.5.4.3';
const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const OID_BASIC_CONSTRAINTS = '2.5.29.19';

export const MAX_CSR_PEM_LENGTH = 16_384;

export function parseCsr(pem: string): ParsedCsr {
  if (typeof pem !== 'string' || pem.length === 0) throw new CsrError('csr_pem must be a PEM certificate request');
  if (pem.length > MAX_CSR_PEM_LENGTH) throw new CsrError(`csr_pem is longer than ${MAX_CSR_PEM_LENGTH} characters`);
  let der: Buffer;
  try {
    der = pemToDer(pem, ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST']);
  } catch {
    throw new CsrError('csr_pem is not a PEM "CERTIFICATE REQUEST" block');
  }
  try {
    return parseCsrDer(der);
  } catch (err) {
    if (err instanceof CsrError) throw err;
    if (err instanceof DerError) throw new CsrError(`csr_pem is not a valid PKCS#10 request (${err.message})`);
    throw new CsrError('csr_pem is not a valid PKCS#10 request');
  }
}

function parseCsrDer(der: Buffer): ParsedCsr {
  const outer = readTlv(der, 0);
  if (outer.tag !== 0x30 || outer.end !== der.length) throw new CsrError('csr_pem is not a valid PKCS#10 request');
  const [info, sigAlg, sigBits] = children(der, outer);
  if (!info || !sigAlg || !sigBits || info.tag !== 0x30 || sigAlg.tag !== 0x30 || sigBits.tag !== 0x03) {
    throw new CsrError('csr_pem is not a valid PKCS#10 request');
  }
  const [version, subject, spki, attributes] = children(der, info);
  if (!version || version.tag !== 0x02 || !subject || subject.tag !== 0x30 || !spki || spki.tag !== 0x30) {
    throw new CsrError('csr_pem is not a valid PKCS#10 request');
  }
  if (!content(der, version).equals(Buffer.from([0]))) throw new CsrError('unsupported PKCS#10 version (must be v1)');

  const spkiDer = Buffer.from(raw(der, spki));
  let publicKey: KeyObject;
  try {
    publicKey = importSpki(spkiDer);
  } catch {
    throw new CsrError('the CSR public key cannot be read');
  }
  const key = describePublicKey(publicKey);
  if (!key.supported) throw new CsrError(key.problem);

  const algOidTlv = children(der, sigAlg)[0];
  if (!algOidTlv || algOidTlv.tag !== 0x06) throw new CsrError('csr_pem has no signature algorithm');
  const algOid = decodeOid(content(der, algOidTlv));
  const alg = SIG_HASH[algOid];
  if (!alg) throw new CsrError(`CSR signature algorithm ${algOid} is not accepted (use ECDSA or RSA PKCS#1 v1.5 with SHA-256)`);
  if (alg.family !== key.type) throw new CsrError(`CSR signature algorithm does not match its ${key.type.toUpperCase()} key`);

  const sigContent = content(der, sigBits);
  if (sigContent.length < 2 || sigContent[0] !== 0) throw new CsrError('CSR signature is malformed');
  let ok = false;
  try {
    ok = verify(alg.hash, raw(der, info), publicKey, sigContent.subarray(1));
  } catch {
    ok = false;
  }
  if (!ok) throw new CsrError('CSR signature does not verify: the request was altered or not signed with its own key');

  if (attributes && attributes.tag === 0xa0 && requestsCa(der, attributes)) {
    throw new CsrError('CSR requests CA:true (basicConstraints); a device certificate can never be a CA');
  }

  return { commonNames: readCommonNames(der, subject), spkiDer, publicKey, key: { type: key.type, description: key.description } };
}

const EC_P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');

/**
 * SPKI → KeyObject. An uncompressed P-256 key goes through JWK, which skips OpenSSL 3's generic
 * decoder and is ~30% cheaper on the issuance hot path; everything else takes the DER route.
 */
export function importSpki(spkiDer: Buffer): KeyObject {
  if (spkiDer.length === 91 && spkiDer[EC_P256_SPKI_PREFIX.length] === 0x04 && spkiDer.subarray(0, EC_P256_SPKI_PREFIX.length).equals(EC_P256_SPKI_PREFIX)) {
    const point = spkiDer.subarray(EC_P256_SPKI_PREFIX.length + 1);
    return createPublicKey({
      key: { kty: 'EC', crv: 'P-256', x: point.subarray(0, 32).toString('base64url'), y: point.subarray(32).toString('base64url') },
      format: 'jwk',
    });
  }
  return createPublicKey({ key: spkiDer, format: 'der', type: 'spki' });
}

function readCommonNames(der: Buffer, name: ReturnType<typeof readTlv>): string[] {
  const out: string[] = [];
  for (const rdn of children(der, name)) {
    if (rdn.tag !== 0x31) throw new CsrError('CSR subject is malformed');
    for (const atv of children(der, rdn)) {
      const [type, value] = children(der, atv);
      if (!type || type.tag !== 0x06 || !value) throw new CsrError('CSR subject is malformed');
      if (decodeOid(content(der, type)) === OID_CN) {
        try {
          out.push(decodeString(der, value));
        } catch {
          throw new CsrError('CSR subject CN uses an unsupported string type');
        }
      }
    }
  }
  return out;
}

/** True when an extensionRequest attribute carries basicConstraints with cA = TRUE. */
function requestsCa(der: Buffer, attributes: ReturnType<typeof readTlv>): boolean {
  for (const attr of children(der, attributes)) {
    const [type, values] = children(der, attr);
    if (!type || type.tag !== 0x06 || !values) continue;
    if (decodeOid(content(der, type)) !== OID_EXTENSION_REQUEST) continue;
    for (const extensions of children(der, values)) {
      for (const ext of children(der, extensions)) {
        const parts = children(der, ext);
        const id = parts[0];
        const value = parts[parts.length - 1];
        if (!id || id.tag !== 0x06 || !value || value.tag !== 0x04) continue;
        if (decodeOid(content(der, id)) !== OID_BASIC_CONSTRAINTS) continue;
        const bc = readTlv(der, value.contentStart, value.end);
        const first = children(der, bc)[0];
        if (first && first.tag === 0x01 && der[first.contentStart] !== 0) return true;
      }
    }
  }
  return false;
}

/** The CSR after its checks, whose single CN must be `mac` (any accepted spelling of it). */
export function parseCsrForMac(mac: string, csrPem: string): ParsedCsr {
  const csr = parseCsr(csrPem);
  if (csr.commonNames.length !== 1) {
    throw new CsrError(`the CSR subject must carry exactly one CN (the MAC ${mac}); it has ${csr.commonNames.length}`);
  }
  const cn = csr.commonNames[0]!;
  const asMac = parseMac(cn);
  if (!asMac.ok || asMac.mac !== mac) {
    throw new CsrError(`the CSR CN '${cn.slice(0, 64)}' is not the MAC being provisioned (${mac})`);
  }
  return csr;
}

