/**
 * End-entity certificate profiles (docs/server.md, "Identities and certificates") and the fast
 * signer that turns a profile into a signed X.509 v3 certificate. Every extension comes from here;
 * nothing is copied from a CSR.
 */
import { createHash, randomBytes } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import {
  bitString,
  booleanTrue,
  children,
  content,
  derToPem,
  explicit,
  implicitPrimitive,
  namedBits,
  octetString,
  oid,
  printableString,
  readTlv,
  seq,
  set,
  time,
  tlv,
  unsignedInteger,
  utf8String,
} from './der.js';
import type { KeyType } from './keys.js';

/** TDS's own arc: a UUID OID (ITU-T X.667), which needs no registration. */
const TDS_ARC = '2.25.74961606456411313147034430486448312649';

export const OID = {
  countryName: '2.5.4.6',
  stateOrProvinceName: '2.5.4.8',
  localityName: '2.5.4.7',
  organizationName: '2.5.4.10',
  commonName: '2.5.4.3',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  certificatePolicies: '2.5.29.32',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  /** Birth identity of a bench-born device (docs/zero-touch.md): a policy and the only EKU it has. */
  birthPolicy: `${TDS_ARC}.1`,
  birthIdentity: `${TDS_ARC}.2`,
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  sha256WithRsa: '1.2.840.113549.1.1.11',
} as const;

/** RFC 5280 KeyUsage bit numbers. */
export const KEY_USAGE = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 } as const;

export interface SubjectSettings {
  country: string;
  state: string;
  locality: string;
  organization: string;
}

/** DER of each OID above, encoded once. */
const OID_DER = Object.fromEntries(Object.entries(OID).map(([k, v]) => [k, oid(v)])) as Record<keyof typeof OID, Buffer>;

const rdn = (type: Buffer, value: Buffer): Buffer => set(seq(type, value));

/**
 * The fixed part of a subject DN: C (PrintableString, as X.520 requires), then ST, L, O as
 * UTF8String. Built once per settings; `subjectName` appends the CN.
 */
export function subjectPrefix(s: Partial<SubjectSettings>): Buffer[] {
  const parts: Buffer[] = [];
  if (s.country) parts.push(rdn(OID_DER.countryName, printableString(s.country)));
  if (s.state) parts.push(rdn(OID_DER.stateOrProvinceName, utf8String(s.state)));
  if (s.locality) parts.push(rdn(OID_DER.localityName, utf8String(s.locality)));
  if (s.organization) parts.push(rdn(OID_DER.organizationName, utf8String(s.organization)));
  return parts;
}

export function subjectName(prefix: Partial<SubjectSettings> | readonly Buffer[], commonName: string): Buffer {
  const fixed = Array.isArray(prefix) ? (prefix as readonly Buffer[]) : subjectPrefix(prefix as Partial<SubjectSettings>);
  return seq(...fixed, rdn(OID_DER.commonName, utf8String(commonName)));
}

const CRITICAL = booleanTrue();

function extension(id: Buffer, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(id, CRITICAL, octetString(value)) : seq(id, octetString(value));
}

export const ext = {
  endEntity: (): Buffer => extension(OID_DER.basicConstraints, true, seq()),
  keyUsage: (bits: readonly number[]): Buffer => extension(OID_DER.keyUsage, true, namedBits(bits)),
  extKeyUsage: (purposes: readonly string[]): Buffer => extension(OID_DER.extKeyUsage, true, seq(...purposes.map((p) => oid(p)))),
  subjectAltName: (names: { dns?: readonly string[]; ip?: readonly string[] }): Buffer =>
    extension(
      OID_DER.subjectAltName,
      false,
      seq(
        ...(names.dns ?? []).map((d) => implicitPrimitive(2, Buffer.from(d, 'ascii'))),
        ...(names.ip ?? []).map((ip) => implicitPrimitive(7, ipBytes(ip))),
      ),
    ),
  certificatePolicies: (policies: readonly string[]): Buffer => extension(OID_DER.certificatePolicies, false, seq(...policies.map((p) => seq(oid(p))))),
  subjectKeyId: (spkiDer: Buffer): Buffer => extension(OID_DER.subjectKeyIdentifier, false, octetString(keyIdentifier(spkiDer))),
  authorityKeyId: (keyId: Buffer): Buffer => extension(OID_DER.authorityKeyIdentifier, false, seq(implicitPrimitive(0, keyId))),
};

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING value. */
export function keyIdentifier(spkiDer: Buffer): Buffer {
  const outer = readTlv(spkiDer, 0);
  const bits = children(spkiDer, outer)[1];
  if (!bits || bits.tag !== 0x03) throw new Error('malformed SubjectPublicKeyInfo');
  return createHash('sha1').update(content(spkiDer, bits).subarray(1)).digest();
}

export function ipBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split('.').map((p) => Number.parseInt(p, 10)));
  if (!isIPv6(ip)) throw new Error(`'${ip}' is not an IP address`);
  let text = ip;
  let tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    tail = v4[1]!.split('.').map((p) => Number.parseInt(p, 10));
    text = text.slice(0, -v4[1]!.length) + '0:0';
  }
  const [head = '', rest] = text.split('::');
  const headGroups = head ? head.split(':') : [];
  const restGroups = rest !== undefined && rest !== '' ? rest.split(':') : [];
  const fill = rest === undefined ? 0 : 8 - headGroups.length - restGroups.length;
  const groups = [...headGroups, ...Array<string>(fill).fill('0'), ...restGroups];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(Number.parseInt(g, 16), i * 2));
  if (tail.length === 4) Buffer.from(tail).copy(out, 12);
  return out;
}

/** Random positive serial: 16 bytes, top bit clear, first byte non-zero (≥ 120 bits of entropy). */
export function randomSerial(): Buffer {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x01;
  return b;
}

export interface SignerIdentity {
  /** DER of the CA certificate's subject, copied byte for byte into every issuer field. */
  issuerName: Buffer;
  /** The CA's subject key identifier (for the AKI extension). */
  keyId: Buffer;
  /** Signs the TBSCertificate with the CA key (SHA-256, DER signature value). */
  sign: (tbs: Buffer) => Promise<Buffer>;
  keyType: KeyType;
  /** The CA's own notAfter: nothing it issues may outlive it. */
  notAfter: Date;
}

export interface CertificateProfile {
  subject: Buffer;
  spkiDer: Buffer;
  notBefore: Date;
  notAfter: Date;
  /** Extensions except SKI/AKI, which the signer adds. */
  extensions: Buffer[];
}

export interface SignedCertificate {
  der: Buffer;
  pem: string;
  /** Uppercase hex, as `openssl x509 -serial` prints it. */
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
}

const VERSION_3 = explicit(0, unsignedInteger(Buffer.from([2])));

export class EndEntitySigner {
  private readonly sigAlg: Buffer;
  private readonly authorityKeyId: Buffer;

  constructor(private readonly ca: SignerIdentity) {
    this.sigAlg = ca.keyType === 'ec' ? seq(OID_DER.ecdsaWithSha256) : seq(OID_DER.sha256WithRsa, tlv(0x05, Buffer.alloc(0)));
    this.authorityKeyId = ext.authorityKeyId(ca.keyId);
  }

  async sign(profile: CertificateProfile): Promise<SignedCertificate> {
    const serial = randomSerial();
    const notAfter = profile.notAfter > this.ca.notAfter ? this.ca.notAfter : profile.notAfter;
    const tbs = seq(
      VERSION_3,
      unsignedInteger(serial),
      this.sigAlg,
      this.ca.issuerName,
      seq(time(profile.notBefore), time(notAfter)),
      profile.subject,
      profile.spkiDer,
      explicit(3, seq(...profile.extensions, ext.subjectKeyId(profile.spkiDer), this.authorityKeyId)),
    );
    const signature = await this.ca.sign(tbs);
    const der = seq(tbs, this.sigAlg, bitString(signature));
    return {
      der,
      pem: derToPem(der, 'CERTIFICATE'),
      serialNumber: serial.toString('hex').toUpperCase(),
      notBefore: truncateToSecond(profile.notBefore),
      notAfter: truncateToSecond(notAfter),
    };
  }
}

export function truncateToSecond(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
}
