/**
 * The private CA: issues every kind of end-entity certificate (device, service identity,
 * broker/TLS server) and signs CRLs, through a CaSigner (signer.ts) that hides where the CA key
 * lives: sealed in the data folder (key-store.ts) or in a PKCS#11 token (pkcs11/). Making or
 * checking the CA certificate is ca-certificate.ts's job, bookkeeping is the store's.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { CRLNumber, id_ce_cRLNumber } from '@peculiar/asn1-x509';
import { classifyCommonName, macToHex12, serviceCommonName, type ServiceKind } from '../contract/index.js';
import { BACKDATE_MS, CaImportError, checkCaCertificate, makeCaCertificate } from './ca-certificate.js';
import { importSpki, parseCsrForMac } from './csr.js';
import { children, readTlv, raw } from './der.js';
import { describePublicKey, generateKey, privateKeyPem, type KeyType } from './keys.js';
import {
  EndEntitySigner,
  KEY_USAGE,
  OID,
  ext,
  ipBytes,
  keyIdentifier,
  subjectName,
  subjectPrefix,
  type SignedCertificate,
  type SubjectSettings,
} from './profile.js';
import { FileCaSigner, x509Signing, type CaSigner } from './signer.js';
import type { KeyVault } from './vault.js';
import { x509 } from './x509.js';

export { CaImportError, DEFAULT_CA_SUBJECT } from './ca-certificate.js';

export class IdentityError extends Error {}

export type KeyOrigin = 'device' | 'station' | 'server';

export interface DeviceProfileSettings {
  subject: SubjectSettings;
  /** SAN dNSName = `<12 hex>.devices.<domain>`. */
  domain: string;
  validityDays: number;
}

export interface IssuedCertificate extends SignedCertificate {
  commonName: string;
  keyType: KeyType;
  /** PKCS#8 PEM; present only when the CA generated the key. Never stored in plaintext. */
  privateKeyPem?: string;
}

export type RevocationReasonName =
  | 'unspecified'
  | 'keyCompromise'
  | 'cACompromise'
  | 'affiliationChanged'
  | 'superseded'
  | 'cessationOfOperation'
  | 'certificateHold'
  | 'privilegeWithdrawn';

export interface CrlEntry {
  serialNumber: string;
  revokedAt: Date;
  reason: RevocationReasonName;
}

const DAY_MS = 86_400_000;

function toPublicKey(input: KeyObject | string): KeyObject {
  if (typeof input !== 'string') return input.type === 'private' ? createPublicKey(input) : input;
  try {
    return createPublicKey(input);
  } catch {
    throw new IdentityError('publicKey is not a PEM public key');
  }
}

export class CertificateAuthority {
  readonly certificatePem: string;
  readonly keyType: KeyType;
  readonly notAfter: Date;
  readonly subject: string;
  private readonly cert: x509.X509Certificate;
  private readonly endEntity: EndEntitySigner;
  private readonly keyIdHex: string;
  private readonly profileCache = new Map<string, { subjectPrefix: Buffer[]; extensions: Record<KeyType, Buffer[]> }>();

  private constructor(
    cert: x509.X509Certificate,
    private readonly signer: CaSigner,
    keyId: Buffer,
  ) {
    this.cert = cert;
    this.certificatePem = cert.toString('pem') + '\n';
    this.keyType = signer.keyType;
    this.notAfter = cert.notAfter;
    this.subject = cert.subject;
    this.keyIdHex = keyId.toString('hex');
    const der = Buffer.from(cert.rawData);
    const tbs = children(der, readTlv(der, 0))[0]!;
    const fields = children(der, tbs);
    const subjectField = fields[fields[0]!.tag === 0xa0 ? 5 : 4]!;
    this.endEntity = new EndEntitySigner({
      issuerName: Buffer.from(raw(der, subjectField)),
      keyId,
      sign: (tbsDer) => signer.sign(tbsDer),
      keyType: signer.keyType,
      notAfter: cert.notAfter,
    });
  }

  /** Encrypts server-made device keys while they wait for their one download. */
  get vault(): KeyVault {
    return this.signer.vault;
  }

  /** Where the CA key is (for logs). */
  get keyDescription(): string {
    return this.signer.description;
  }

  /** A new self-signed CA for the signer's key (`spkiDer` is its public half). */
  static async create(signer: CaSigner, spkiDer: Buffer, options: { subject?: string; validityYears?: number } = {}): Promise<CertificateAuthority> {
    return CertificateAuthority.load(await makeCaCertificate(signer, spkiDer, options), signer);
  }

  /** A new self-signed CA with a key in memory: EC P-256 (default) or RSA-3072, 20 years, pathlen 0. */
  static async generate(options: { keyType?: KeyType; subject?: string; validityYears?: number } = {}): Promise<{
    authority: CertificateAuthority;
    pkcs8Der: Buffer;
  }> {
    const generated = await generateKey(options.keyType ?? 'ec', 3072);
    const pkcs8Der = generated.privateKey.export({ type: 'pkcs8', format: 'der' });
    const authority = await CertificateAuthority.create(FileCaSigner.fromPkcs8(pkcs8Der), generated.spkiDer, options);
    return { authority, pkcs8Der };
  }

  /**
   * An existing CA certificate + key (any PEM/DER format Node reads, encrypted or not). Checks
   * that it is a CA that may sign certificates and CRLs, and that key and certificate belong together.
   */
  static async import(certPem: string, keyPem: string, keyPassphrase?: string): Promise<{ authority: CertificateAuthority; pkcs8Der: Buffer }> {
    const encrypted = /ENCRYPTED PRIVATE KEY|Proc-Type: 4,ENCRYPTED/.test(keyPem);
    if (encrypted && keyPassphrase === undefined) throw new CaImportError('the CA key is encrypted: give its passphrase (--import-key-passphrase-file)');
    let key: KeyObject;
    try {
      key = createPrivateKey(keyPassphrase === undefined ? { key: keyPem } : { key: keyPem, passphrase: keyPassphrase });
    } catch (err) {
      const msg = (err as Error).message;
      throw new CaImportError(
        encrypted || /passphrase|decrypt/i.test(msg) ? 'the CA key cannot be decrypted: wrong passphrase?' : `the CA key cannot be read: ${msg}`,
      );
    }
    const pkcs8Der = key.export({ type: 'pkcs8', format: 'der' });
    return { authority: await CertificateAuthority.load(certPem, CertificateAuthority.fileSigner(pkcs8Der)), pkcs8Der };
  }

  private static fileSigner(pkcs8Der: Buffer): FileCaSigner {
    try {
      return FileCaSigner.fromPkcs8(pkcs8Der);
    } catch (err) {
      throw new CaImportError((err as Error).message);
    }
  }

  /** A CA from its certificate and the signer of its key (checked to belong together). */
  static async load(certPem: string, signer: CaSigner): Promise<CertificateAuthority> {
    const cert = await checkCaCertificate(certPem, signer);
    const skiExt = cert.getExtension(x509.SubjectKeyIdentifierExtension);
    const keyId = skiExt ? Buffer.from(skiExt.keyId, 'hex') : keyIdentifier(Buffer.from(cert.publicKey.rawData));
    return new CertificateAuthority(cert, signer, keyId);
  }

  /** Releases the key store (token sessions). The CA cannot sign afterwards. */
  close(): Promise<void> {
    return this.signer.close();
  }

  // ------------------------------------------------------------------------------------------
  // Devices

  /** Certifies a device public key. `mac` must be canonical; it becomes CN and SAN. */
  async issueDevice(options: { mac: string; spkiDer: Buffer; profile: DeviceProfileSettings; now?: Date }): Promise<IssuedCertificate> {
    const info = describePublicKey(importSpki(options.spkiDer));
    if (!info.supported) throw new IdentityError(info.problem);
    return this.certifyDevice(options.mac, options.spkiDer, info.type, options.profile, options.now);
  }

  private async certifyDevice(mac: string, spkiDer: Buffer, keyType: KeyType, profile: DeviceProfileSettings, at?: Date): Promise<IssuedCertificate> {
    const identity = classifyCommonName(mac);
    if (identity.kind !== 'device') {
      throw new IdentityError(`'${mac}' is not a canonical device MAC (aa:bb:cc:dd:ee:ff); the CA issues device certificates only to MACs`);
    }
    const fixed = this.deviceProfileParts(profile);
    const now = (at ?? new Date()).getTime();
    const signed = await this.endEntity.sign({
      subject: subjectName(fixed.subjectPrefix, mac),
      spkiDer,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + profile.validityDays * DAY_MS),
      extensions: [...fixed.extensions[keyType], ext.subjectAltName({ dns: [`${macToHex12(mac)}.devices.${profile.domain}`] })],
    });
    return { ...signed, commonName: mac, keyType };
  }

  /** The constant parts of the device profile, built once per settings. */
  private deviceProfileParts(profile: DeviceProfileSettings): { subjectPrefix: Buffer[]; extensions: Record<KeyType, Buffer[]> } {
    const cacheKey = JSON.stringify(profile.subject);
    let parts = this.profileCache.get(cacheKey);
    if (!parts) {
      const common = [ext.endEntity()];
      const eku = ext.extKeyUsage([OID.clientAuth]);
      parts = {
        subjectPrefix: subjectPrefix(profile.subject),
        extensions: {
          ec: [...common, ext.keyUsage([KEY_USAGE.digitalSignature]), eku],
          rsa: [...common, ext.keyUsage([KEY_USAGE.digitalSignature, KEY_USAGE.keyEncipherment]), eku],
        },
      };
      this.profileCache.set(cacheKey, parts);
    }
    return parts;
  }

  /**
   * CSR path: the signature proves possession of the key; the CN must be the MAC being
   * provisioned (any accepted spelling of it); nothing else from the CSR is used.
   */
  async issueDeviceFromCsr(options: { mac: string; csrPem: string; profile: DeviceProfileSettings; now?: Date }): Promise<IssuedCertificate> {
    const csr = parseCsrForMac(options.mac, options.csrPem);
    return this.certifyDevice(options.mac, csr.spkiDer, csr.key.type, options.profile, options.now);
  }

  /** Server-keygen path (seed-compatible API): the key is returned once, never stored in plaintext. */
  async issueDeviceWithNewKey(options: { mac: string; keyType: KeyType; profile: DeviceProfileSettings; now?: Date }): Promise<IssuedCertificate> {
    const key = await generateKey(options.keyType);
    const cert = await this.certifyDevice(options.mac, key.spkiDer, key.type, options.profile, options.now);
    return { ...cert, privateKeyPem: privateKeyPem(key.privateKey) };
  }

  // ------------------------------------------------------------------------------------------
  // Birth identities (docs/zero-touch.md): made by a separate birth CA that the broker never trusts

  /**
   * A bench-born device's birth certificate from its CSR (CN = the MAC): digitalSignature only, and
   * the birth-identity EKU as its only purpose (no clientAuth: no TLS verifier accepts it for a
   * client session), with the birth policy. Called on the birth CA's instance.
   */
  async issueBirthFromCsr(options: { mac: string; csrPem: string; subject: SubjectSettings; validityDays: number; now?: Date }): Promise<IssuedCertificate> {
    if (classifyCommonName(options.mac).kind !== 'device') throw new IdentityError(`'${options.mac}' is not a canonical device MAC (aa:bb:cc:dd:ee:ff)`);
    const csr = parseCsrForMac(options.mac, options.csrPem);
    const now = (options.now ?? new Date()).getTime();
    const signed = await this.endEntity.sign({
      subject: subjectName(options.subject, options.mac),
      spkiDer: csr.spkiDer,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + options.validityDays * DAY_MS),
      extensions: [
        ext.endEntity(),
        ext.keyUsage([KEY_USAGE.digitalSignature]),
        ext.extKeyUsage([OID.birthIdentity]),
        ext.certificatePolicies([OID.birthPolicy]),
      ],
    });
    return { ...signed, commonName: options.mac, keyType: csr.key.type };
  }

  // ------------------------------------------------------------------------------------------
  // Service identities and servers

  /**
   * MQTT identity of a service: the server's own client (`tds-server-<name>`) or a station's
   * monitor (`station-monitor-<name>`). clientAuth only. With no public key, a key is generated
   * and returned once.
   */
  async issueServiceCertificate(options: {
    kind: ServiceKind;
    name: string;
    publicKey?: KeyObject | string;
    keyType?: KeyType;
    validityDays?: number;
    subject?: Partial<SubjectSettings>;
  }): Promise<IssuedCertificate> {
    let cn: string;
    try {
      cn = serviceCommonName(options.kind, options.name);
    } catch (err) {
      throw new IdentityError((err as Error).message);
    }
    const identity = classifyCommonName(cn);
    if (identity.kind !== options.kind) throw new IdentityError(`'${cn}' is not a ${options.kind} identity`);
    const { spkiDer, keyType, privateKeyPem: keyPem } = await this.keyMaterial(options.publicKey, options.keyType);
    const usage = keyType === 'rsa' ? [KEY_USAGE.digitalSignature, KEY_USAGE.keyEncipherment] : [KEY_USAGE.digitalSignature];
    const now = Date.now();
    const signed = await this.endEntity.sign({
      subject: subjectName(options.subject ?? {}, cn),
      spkiDer,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + (options.validityDays ?? 825) * DAY_MS),
      extensions: [ext.endEntity(), ext.keyUsage(usage), ext.extKeyUsage([OID.clientAuth])],
    });
    return { ...signed, commonName: cn, keyType, ...(keyPem ? { privateKeyPem: keyPem } : {}) };
  }

  /**
   * TLS server certificate (MQTT broker, HTTPS API): serverAuth, SAN with every host name and IP.
   * CN = the first name. Refuses MAC- and service-shaped names so a broker certificate can never
   * double as a client identity on the broker.
   */
  async issueBrokerCertificate(options: {
    hostnames?: readonly string[];
    ips?: readonly string[];
    publicKey?: KeyObject | string;
    keyType?: KeyType;
    validityDays?: number;
    subject?: Partial<SubjectSettings>;
  }): Promise<IssuedCertificate> {
    const hostnames = [...(options.hostnames ?? [])];
    const ips = [...(options.ips ?? [])];
    const HOST = /^(?=.{1,253}$)(\*\.)?([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;
    for (const h of hostnames) if (!HOST.test(h)) throw new IdentityError(`'${h}' is not a DNS host name`);
    for (const ip of ips) {
      try {
        ipBytes(ip);
      } catch {
        throw new IdentityError(`'${ip}' is not an IP address`);
      }
    }
    const cn = hostnames[0] ?? ips[0];
    if (!cn) throw new IdentityError('a server certificate needs at least one host name or IP address');
    if (classifyCommonName(cn).kind !== 'unknown') throw new IdentityError(`'${cn}' is shaped like a device or service identity; use the server's host name`);
    const { spkiDer, keyType, privateKeyPem: keyPem } = await this.keyMaterial(options.publicKey, options.keyType);
    const usage = keyType === 'rsa' ? [KEY_USAGE.digitalSignature, KEY_USAGE.keyEncipherment] : [KEY_USAGE.digitalSignature];
    const now = Date.now();
    const signed = await this.endEntity.sign({
      subject: subjectName(options.subject ?? {}, cn),
      spkiDer,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + (options.validityDays ?? 397) * DAY_MS),
      extensions: [ext.endEntity(), ext.keyUsage(usage), ext.extKeyUsage([OID.serverAuth]), ext.subjectAltName({ dns: hostnames, ip: ips })],
    });
    return { ...signed, commonName: cn, keyType, ...(keyPem ? { privateKeyPem: keyPem } : {}) };
  }

  /** Same profile as the broker's: the HTTPS certificate of the REST API. */
  issueTlsServerCertificate(options: Parameters<CertificateAuthority['issueBrokerCertificate']>[0]): Promise<IssuedCertificate> {
    return this.issueBrokerCertificate(options);
  }

  private async keyMaterial(
    publicKey: KeyObject | string | undefined,
    keyType: KeyType | undefined,
  ): Promise<{ spkiDer: Buffer; keyType: KeyType; privateKeyPem?: string }> {
    if (publicKey !== undefined) {
      const pub = toPublicKey(publicKey);
      const info = describePublicKey(pub);
      if (!info.supported) throw new IdentityError(info.problem);
      return { spkiDer: pub.export({ type: 'spki', format: 'der' }), keyType: info.type };
    }
    const generated = await generateKey(keyType ?? 'ec');
    return { spkiDer: generated.spkiDer, keyType: generated.type, privateKeyPem: privateKeyPem(generated.privateKey) };
  }

  // ------------------------------------------------------------------------------------------
  // CRL

  /**
   * CRL v2 with CRL Number and AKI; reason codes per entry (absent for "unspecified", as RFC 5280
   * §5.3.1 asks). PEM label `X509 CRL`: the library default ("CRL") is unreadable by OpenSSL,
   * Mosquitto and Node's tls.
   */
  async signCrl(options: { crlNumber: number; entries: readonly CrlEntry[]; thisUpdate: Date; nextUpdate: Date }): Promise<string> {
    const { crypto, signingKey, signingAlgorithm } = x509Signing(this.signer);
    const crl = await x509.X509CrlGenerator.create(
      {
        issuer: this.cert.subjectName,
        thisUpdate: options.thisUpdate,
        nextUpdate: options.nextUpdate,
        signingAlgorithm,
        signingKey,
        extensions: [
          new x509.AuthorityKeyIdentifierExtension(this.keyIdHex),
          new x509.Extension(id_ce_cRLNumber, false, AsnConvert.serialize(new CRLNumber(options.crlNumber))),
        ],
        entries: options.entries.map((e) => ({
          serialNumber: e.serialNumber.toLowerCase(),
          revocationDate: e.revokedAt,
          ...(e.reason === 'unspecified' ? {} : { reason: x509.X509CrlReason[e.reason] }),
        })),
      },
      crypto,
    );
    return x509.PemConverter.encode(crl.rawData, 'X509 CRL') + '\n';
  }
}
