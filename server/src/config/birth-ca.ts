/**
 * The birth CA of a data folder (zero-touch onboarding, docs/zero-touch.md): a second CA, with its
 * own key sealed like the device CA's (same passphrase, its own file and content label) and its own
 * CRL, that signs only birth certificates. The broker kit never contains it. `tds-server init` makes
 * it; a data folder made before it existed gets it from `tds-server birth-ca create`, or from
 * `serve` on its first start.
 */
import { CertificateAuthority } from '../ca/authority.js';
import { hasCa, loadCa, saveCa } from '../ca/key-store.js';
import type { KeyType } from '../ca/keys.js';
import { isoSeconds } from '../service/clock.js';
import { CrlPublisher } from '../service/crl-publisher.js';
import type { Repository } from '../store/repository.js';
import { dataPath, type Settings } from './data-dir.js';

export const DEFAULT_BIRTH_CA_SUBJECT = 'C=BR, ST=SP, L=Sao Paulo, O=TDS IoT, CN=TDS IoT Birth CA';

export interface BirthCaOptions {
  dataDir: string;
  passphrase: string;
  repo: Repository;
  settings: Settings;
  /** Who creates it, for the audit trail ("cli", "server"). */
  actor: string;
  keyType?: KeyType;
  subject?: string;
}

/** The publisher of the birth CA's CRL (`birth-crl.pem`); it never announces to the broker side. */
export function birthCrlPublisher(ca: CertificateAuthority, repo: Repository, settings: Settings, dataDir: string, actor = 'server'): CrlPublisher {
  return new CrlPublisher({ ca, repo, scope: 'birth', nextUpdateDays: settings.crl.nextUpdateDays, crlFile: dataPath(dataDir, 'birthCrl'), actor });
}

export function hasBirthCa(dataDir: string): boolean {
  return hasCa(dataDir, 'birth');
}

/** Makes, seals and records a new birth CA and signs its first CRL. Refuses when one exists. */
export async function createBirthCa(o: BirthCaOptions): Promise<CertificateAuthority> {
  if (hasBirthCa(o.dataDir)) throw new Error(`${o.dataDir} already has a birth CA (${dataPath(o.dataDir, 'birthCaCert')})`);
  const { authority, pkcs8Der } = await CertificateAuthority.generate({ keyType: o.keyType ?? 'ec', subject: o.subject ?? DEFAULT_BIRTH_CA_SUBJECT });
  try {
    await saveCa(o.dataDir, authority, pkcs8Der, o.passphrase, 'birth');
  } finally {
    pkcs8Der.fill(0);
  }
  await o.repo.appendAudit({
    at: isoSeconds(),
    accountId: null,
    actor: o.actor,
    action: 'birth_ca.create',
    object: null,
    sourceIp: null,
    result: 'ok',
    detail: `subject=${authority.subject} key=${authority.keyType}`,
  });
  await birthCrlPublisher(authority, o.repo, o.settings, o.dataDir, o.actor).publish('first birth CRL');
  return authority;
}

/** The data folder's birth CA, made first when the folder predates it. */
export async function loadOrCreateBirthCa(o: BirthCaOptions): Promise<{ ca: CertificateAuthority; created: boolean }> {
  if (hasBirthCa(o.dataDir)) return { ca: await loadCa(o.dataDir, o.passphrase, 'birth'), created: false };
  return { ca: await createBirthCa(o), created: true };
}
