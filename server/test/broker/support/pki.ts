/**
 * A throwaway PKI for broker tests: a CA, client/server certificates with any validity (expired
 * ones included) and CRLs. It exists so tests can make certificates the product CA will never make
 * (another CA, expired) and so the broker parts can be tested without the issuance server.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIG = { name: 'ECDSA', hash: 'SHA-256' } as const;

export interface TestCa {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
  certPem: string;
}

export interface IssuedPair {
  certPem: string;
  keyPem: string;
  serial: string;
  cert: x509.X509Certificate;
}

async function keyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key as webcrypto.CryptoKey);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

export async function makeCa(cn = 'TDS Test CA'): Promise<TestCa> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${cn}, O=Example`,
    keys,
    notBefore: new Date(Date.now() - 3_600_000),
    notAfter: new Date(Date.now() + 365 * 86_400_000),
    signingAlgorithm: SIG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, keys, certPem: cert.toString('pem') };
}

export interface IssueOptions {
  cn: string;
  kind?: 'client' | 'server';
  /** SAN entries for server certificates. */
  dns?: string[];
  ips?: string[];
  notBefore?: Date;
  notAfter?: Date;
  /** Use this public key (e.g. from a CSR) instead of making a new key pair. */
  publicKey?: CryptoKey;
}

export async function issue(ca: TestCa, opts: IssueOptions): Promise<IssuedPair> {
  const keys = opts.publicKey
    ? undefined
    : ((await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair);
  const publicKey = opts.publicKey ?? keys!.publicKey;
  const server = opts.kind === 'server';
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([server ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth], true),
    await x509.SubjectKeyIdentifierExtension.create(publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
  ];
  if (server) {
    const names = [
      ...(opts.dns ?? ['localhost']).map((v) => ({ type: 'dns' as const, value: v })),
      ...(opts.ips ?? ['127.0.0.1']).map((v) => ({ type: 'ip' as const, value: v })),
    ];
    extensions.push(new x509.SubjectAlternativeNameExtension(names));
  }
  const cert = await x509.X509CertificateGenerator.create({
    subject: `CN=${opts.cn}`,
    issuer: ca.cert.subjectName,
    publicKey,
    signingKey: ca.keys.privateKey,
    notBefore: opts.notBefore ?? new Date(Date.now() - 60_000),
    notAfter: opts.notAfter ?? new Date(Date.now() + 30 * 86_400_000),
    signingAlgorithm: SIG,
    extensions,
  });
  return {
    certPem: cert.toString('pem'),
    keyPem: keys ? await keyPem(keys.privateKey) : '',
    serial: cert.serialNumber.toLowerCase(),
    cert,
  };
}

export interface CrlOptions {
  revoked?: string[];
  thisUpdate?: Date;
  nextUpdate?: Date;
  /** Write the library's default `BEGIN CRL` label (unreadable by OpenSSL), to test rejection. */
  wrongLabel?: boolean;
}

export async function makeCrl(ca: TestCa, opts: CrlOptions = {}): Promise<string> {
  const crl = await x509.X509CrlGenerator.create({
    issuer: ca.cert.subjectName,
    thisUpdate: opts.thisUpdate ?? new Date(Date.now() - 60_000),
    nextUpdate: opts.nextUpdate ?? new Date(Date.now() + 7 * 86_400_000),
    entries: (opts.revoked ?? []).map((serialNumber) => ({
      serialNumber,
      revocationDate: new Date(Date.now() - 1000),
      reason: x509.X509CrlReason.superseded,
    })),
    signingKey: ca.keys.privateKey,
    signingAlgorithm: SIG,
  });
  return opts.wrongLabel ? crl.toString('pem') : x509.PemConverter.encode(crl.rawData, 'X509 CRL');
}

/** A device-side key pair and PKCS#10 CSR with CN = the MAC (what renewal asks a device to make). */
export async function makeCsr(cn: string): Promise<{ csrPem: string; keyPem: string; publicKey: CryptoKey }> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=${cn}`, keys, signingAlgorithm: SIG });
  return { csrPem: csr.toString('pem'), keyPem: await keyPem(keys.privateKey), publicKey: keys.publicKey };
}
