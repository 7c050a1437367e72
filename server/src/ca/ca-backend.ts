/**
 * Which key store holds a data folder's CA keys, and opening a CA from it. The sealed file
 * (`ca.key.enc`, unlocked with the passphrase) is the default; `ca.key.pkcs11.json` names a key in
 * a PKCS#11 token instead (unlocked with the token PIN). The birth CA of zero-touch onboarding
 * follows the device CA: `birth-ca.key.enc` beside a sealed device key, `birth-ca.key.pkcs11.json`
 * (a second key in the same token) beside a token one. Every command that signs goes through
 * `openCa`, so none of them knows which store it is. The PKCS#11 code and its native binding are
 * loaded only for a data folder that uses a token.
 */
import { existsSync, promises as fs } from 'node:fs';
import { z } from 'zod';
import { dataPath } from '../config/data-dir.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { CertificateAuthority } from './authority.js';
import { CA_FILES, loadCa, readCaCertificate, type CaRole } from './key-store.js';
import type * as Pkcs11Setup from './pkcs11/setup.js';
import type * as Pkcs11Signer from './pkcs11/signer.js';
import type { Pkcs11KeyLocation } from './pkcs11/signer.js';
import { formatPkcs11Uri, parsePkcs11Uri, Pkcs11UriError } from './pkcs11/uri.js';

export type CaKeyBackend = 'file' | 'pkcs11';

/** The secret that unlocks the CA key: the passphrase of the sealed file, or the token's user PIN. */
export interface CaUnlock {
  passphrase?: string;
  pin?: string;
}

export const PKCS11_PIN_ENV = 'TDS_PKCS11_PIN';

export function caKeyBackend(dataDir: string, role: CaRole = 'device'): CaKeyBackend {
  return existsSync(dataPath(dataDir, CA_FILES[role].pkcs11)) ? 'pkcs11' : 'file';
}

/** The data folder has this CA's key, in either store. */
export function hasCa(dataDir: string, role: CaRole = 'device'): boolean {
  const files = CA_FILES[role];
  return existsSync(dataPath(dataDir, files.key)) || existsSync(dataPath(dataDir, files.pkcs11));
}

const LOCATION_FORMAT = 'tds-ca-key-pkcs11/1';
const locationSchema = z
  .object({
    format: z.literal(LOCATION_FORMAT),
    /** Absolute path of the PKCS#11 library on this machine. */
    module: z.string().regex(/^\//, 'module must be an absolute path').max(4096),
    /** RFC 7512 URI of the private key (no PIN). */
    uri: z.string().max(2048),
    /** Label of the HMAC key that roots the pending-key vault. */
    vault: z.string().min(1).max(128),
    /** Sessions kept open for signing (default 4). */
    sessions: z.number().int().min(1).max(64).optional(),
  })
  .strict();

export async function readPkcs11Location(dataDir: string, role: CaRole = 'device'): Promise<Pkcs11KeyLocation> {
  const file = dataPath(dataDir, CA_FILES[role].pkcs11);
  // It names a library this process loads: nobody but the owner may change it.
  if (((await fs.stat(file)).mode & 0o022) !== 0) throw new Error(`${file} is writable by group or others, and it names the library the server loads: chmod 600 it`);
  const parsed = locationSchema.safeParse(JSON.parse(await fs.readFile(file, 'utf8')));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${file}: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
  }
  try {
    const l = parsed.data;
    return { modulePath: l.module, uri: parsePkcs11Uri(l.uri), vaultLabel: l.vault, ...(l.sessions ? { sessions: l.sessions } : {}) };
  } catch (err) {
    if (err instanceof Pkcs11UriError) throw new Error(`${file}: uri: ${err.message}`);
    throw err;
  }
}

export async function savePkcs11Location(dataDir: string, l: Pkcs11KeyLocation, role: CaRole = 'device'): Promise<void> {
  const record = { format: LOCATION_FORMAT, module: l.modulePath, uri: formatPkcs11Uri(l.uri), vault: l.vaultLabel, ...(l.sessions ? { sessions: l.sessions } : {}) };
  await writeFileAtomic(dataPath(dataDir, CA_FILES[role].pkcs11), JSON.stringify(locationSchema.parse(record), null, 2) + '\n', 0o600);
}

/** The token code, loaded on first use; a missing native build becomes an error that says so. */
export async function pkcs11Support(): Promise<{ signer: typeof Pkcs11Signer; setup: typeof Pkcs11Setup }> {
  try {
    const [signer, setup] = await Promise.all([import('./pkcs11/signer.js'), import('./pkcs11/setup.js')]);
    return { signer, setup };
  } catch (err) {
    throw new Error(`PKCS#11 support is not available (the pkcs11js native module did not load: ${(err as Error).message}); reinstall @tds/server with its dependencies`);
  }
}

/** A CA of a data folder (the device CA unless `role` says birth), its key unlocked from whichever store the folder names. */
export async function openCa(dataDir: string, unlock: CaUnlock, role: CaRole = 'device'): Promise<CertificateAuthority> {
  if (caKeyBackend(dataDir, role) === 'file') {
    if (unlock.passphrase === undefined) throw new Error('the CA passphrase is required to unlock the CA key');
    return loadCa(dataDir, unlock.passphrase, role);
  }
  if (unlock.pin === undefined) throw new Error(`the CA key is in a PKCS#11 token: its PIN is required (${PKCS11_PIN_ENV} or --pin-file)`);
  const [location, certPem] = await Promise.all([
    readPkcs11Location(dataDir, role),
    readCaCertificate(dataDir, role).catch(() => {
      throw new Error(CA_FILES[role].missing(dataDir));
    }),
  ]);
  const { signer: p11 } = await pkcs11Support();
  const signer = await p11.Pkcs11CaSigner.open(location, unlock.pin);
  try {
    return await CertificateAuthority.load(certPem, signer);
  } catch (err) {
    await signer.close();
    throw err;
  }
}
