/**
 * The CA certificate itself: a new self-signed one for a key (signed through its CaSigner, wherever
 * the key lives), and the checks an existing one must pass before the CA uses it.
 */
import { createPublicKey, verify, webcrypto } from 'node:crypto';
import { keyIdentifier } from './profile.js';
import { caKeyProblem, x509Signing, type CaSigner } from './signer.js';
import { x509 } from './x509.js';

export class CaImportError extends Error {}

export const DEFAULT_CA_SUBJECT = 'C=BR, ST=SP, L=Sao Paulo, O=TDS IoT, CN=TDS IoT Device CA';
/** Certificates start a minute in the past so a device whose clock is slightly behind accepts them. */
export const BACKDATE_MS = 60_000;

export function randomSerialHex(): string {
  const b = webcrypto.getRandomValues(new Uint8Array(16));
  b[0] = (b[0]! & 0x7f) | 0x01;
  return Buffer.from(b).toString('hex');
}

/** The CA subject DN as given (default DEFAULT_CA_SUBJECT); refused without a CN. */
export function parseCaSubject(subject: string | undefined): x509.Name {
  let name: x509.Name | undefined;
  try {
    name = new x509.Name(subject ?? DEFAULT_CA_SUBJECT);
  } catch {
    name = undefined;
  }
  // The parser turns text without "=" into an empty name: a CA must at least have a CN.
  if (!name || name.getField('CN').length === 0) {
    throw new CaImportError(`'${subject}' is not a distinguished name with a CN, like "CN=My CA, O=My Org, C=BR"`);
  }
  return name;
}

/** A self-signed CA certificate for the signer's key: pathlen 0, keyCertSign + cRLSign, 20 years by default. */
export async function makeCaCertificate(signer: CaSigner, spkiDer: Buffer, options: { subject?: string; validityYears?: number } = {}): Promise<string> {
  const name = parseCaSubject(options.subject);
  const now = Date.now();
  const notAfter = new Date(now);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + (options.validityYears ?? 20));
  const { crypto, signingKey, signingAlgorithm } = x509Signing(signer);
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerialHex(),
      subject: name,
      issuer: name,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter,
      signingAlgorithm,
      publicKey: new x509.PublicKey(Uint8Array.from(spkiDer)),
      signingKey,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        new x509.SubjectKeyIdentifierExtension(keyIdentifier(spkiDer).toString('hex')),
      ],
    },
    crypto,
  );
  return cert.toString('pem');
}

/**
 * An existing CA certificate for `signer`: a CA that may sign certificates and CRLs, not expired,
 * and whose public key is the signer's (one signature made and verified proves it).
 */
export async function checkCaCertificate(certPem: string, signer: CaSigner): Promise<x509.X509Certificate> {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(certPem);
  } catch {
    throw new CaImportError('the CA certificate is not a PEM/DER X.509 certificate');
  }
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  if (!bc || !bc.ca) throw new CaImportError('the certificate is not a CA (basicConstraints CA:TRUE is missing)');
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  if (ku && ((ku.usages & x509.KeyUsageFlags.keyCertSign) === 0 || (ku.usages & x509.KeyUsageFlags.cRLSign) === 0)) {
    throw new CaImportError('the CA certificate key usage must allow keyCertSign and cRLSign');
  }
  if (cert.notAfter.getTime() <= Date.now()) throw new CaImportError(`the CA certificate expired on ${cert.notAfter.toISOString()}`);
  const certPublic = createPublicKey({ key: Buffer.from(cert.publicKey.rawData), format: 'der', type: 'spki' });
  const problem = caKeyProblem(certPublic);
  if (problem) throw new CaImportError(`CA key: ${problem}`);
  if ((certPublic.asymmetricKeyType === 'rsa' ? 'rsa' : 'ec') !== signer.keyType) throw new CaImportError('the CA key does not belong to the CA certificate');
  const probe = Buffer.from('tds-ca-key-check');
  const signature = await signer.sign(probe);
  if (!verify('sha256', probe, certPublic, signature)) throw new CaImportError('the CA key does not belong to the CA certificate');
  return cert;
}
