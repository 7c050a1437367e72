/**
 * Service identities on disk: `client.crt`, `client.key` (0600) and `ca.crt`, the same names a
 * device bundle uses. The server keeps its own MQTT identities under `<data>/identities/<cn>/`;
 * a station's monitor identity is written wherever the operator asks and carried to the station.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { classifyCommonName, serviceCommonName, type ServiceKind } from '../contract/index.js';
import type { IssuanceServices } from '../service/issuance.js';
import { writeFileAtomic } from '../util/atomic-file.js';

export const IDENTITY_FILES = { cert: 'client.crt', key: 'client.key', ca: 'ca.crt' } as const;

export interface ServiceIdentity {
  cn: string;
  kind: ServiceKind;
  certPem: string;
  keyPem: string;
  caPem: string;
  serialNumber: string;
  expiresAt: string;
}

export function identityDir(dataDir: string, cn: string): string {
  return path.join(dataDir, 'identities', cn);
}

export async function writeIdentity(dir: string, id: ServiceIdentity): Promise<Record<keyof typeof IDENTITY_FILES, string>> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const files = {
    cert: path.join(dir, IDENTITY_FILES.cert),
    key: path.join(dir, IDENTITY_FILES.key),
    ca: path.join(dir, IDENTITY_FILES.ca),
  };
  await writeFileAtomic(files.key, id.keyPem, 0o600);
  await writeFileAtomic(files.cert, id.certPem, 0o644);
  await writeFileAtomic(files.ca, id.caPem, 0o644);
  return files;
}

/** Reads an identity folder; undefined when it does not exist. */
export async function readIdentity(dir: string): Promise<ServiceIdentity | undefined> {
  let certPem: string;
  try {
    certPem = await readFile(path.join(dir, IDENTITY_FILES.cert), 'utf8');
  } catch {
    return undefined;
  }
  const keyPem = await readFile(path.join(dir, IDENTITY_FILES.key), 'utf8');
  const caPem = await readFile(path.join(dir, IDENTITY_FILES.ca), 'utf8');
  const cert = new X509Certificate(certPem);
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1] ?? '';
  const id = classifyCommonName(cn);
  if (id.kind !== 'server' && id.kind !== 'station') throw new Error(`${dir}/${IDENTITY_FILES.cert} is not a service identity (CN '${cn}')`);
  if (!cert.checkPrivateKey(createPrivateKey(keyPem))) {
    throw new Error(`${dir}: ${IDENTITY_FILES.key} does not belong to ${IDENTITY_FILES.cert}`);
  }
  return { cn, kind: id.kind, certPem, keyPem, caPem, serialNumber: cert.serialNumber.toUpperCase(), expiresAt: new Date(cert.validTo).toISOString() };
}

/** Issues (and records, through the issuance core) a service identity. The key is returned once. */
export async function issueServiceIdentity(issuance: IssuanceServices, kind: ServiceKind, name: string, actor: string): Promise<ServiceIdentity> {
  const cn = serviceCommonName(kind, name);
  const cert = await issuance.identities.issueServiceIdentity({ kind, name }, actor);
  if (!cert.privateKeyPem) throw new Error(`no key was generated for ${cn}`);
  return {
    cn,
    kind,
    certPem: cert.pem,
    keyPem: cert.privateKeyPem,
    caPem: issuance.core.caPem,
    serialNumber: cert.serialNumber,
    expiresAt: cert.notAfter.toISOString(),
  };
}
