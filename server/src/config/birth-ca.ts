/**
 * The birth CA of a data folder (zero-touch onboarding, docs/zero-touch.md): a second CA, with its
 * own key and its own CRL, that signs only birth certificates. Its key lives in the device CA key's
 * store: sealed like it (same passphrase, its own file and content label), or, when the device key
 * is in a PKCS#11 token, a second key in the same token (object `<object>-birth`, unlocked with
 * the same PIN). The broker kit never contains it. `tds-server init` makes it; a data folder made
 * before it existed gets it from `tds-server birth-ca create`, or from `serve` on its first start.
 */
import { CertificateAuthority } from '../ca/authority.js';
import { caKeyBackend, hasCa, openCa, pkcs11Support, readPkcs11Location, savePkcs11Location, PKCS11_PIN_ENV, type CaUnlock } from '../ca/ca-backend.js';
import { saveCa, saveCaCertificate } from '../ca/key-store.js';
import type { KeyType } from '../ca/keys.js';
import { describeKeyUri } from '../ca/pkcs11/uri.js';
import { isoSeconds } from '../service/clock.js';
import { CrlPublisher } from '../service/crl-publisher.js';
import type { Cluster } from '../store/cluster.js';
import type { Repository } from '../store/repository.js';
import { dataPath, type Settings } from './data-dir.js';

export const DEFAULT_BIRTH_CA_SUBJECT = 'C=BR, ST=SP, L=Sao Paulo, O=TDS IoT, CN=TDS IoT Birth CA';

/** Token sessions the birth CA keeps open: it signs birth identities and its CRL, rarely. */
const BIRTH_TOKEN_SESSIONS = 2;

export interface BirthCaOptions {
  dataDir: string;
  /** The device CA's secret: its passphrase, or the token PIN when its key is in a token. */
  unlock: CaUnlock;
  repo: Repository;
  settings: Settings;
  /** Who creates it, for the audit trail ("cli", "server"). */
  actor: string;
  keyType?: KeyType;
  subject?: string;
}

/** The publisher of the birth CA's CRL (`birth-crl.pem`); it never announces to the broker side. */
export function birthCrlPublisher(ca: CertificateAuthority, repo: Repository, settings: Settings, dataDir: string, actor = 'server', cluster?: Cluster): CrlPublisher {
  return new CrlPublisher({ ca, repo, scope: 'birth', nextUpdateDays: settings.crl.nextUpdateDays, crlFile: dataPath(dataDir, 'birthCrl'), actor, ...(cluster ? { cluster } : {}) });
}

export function hasBirthCa(dataDir: string): boolean {
  return hasCa(dataDir, 'birth');
}

/** A new birth CA in the sealed-file store. */
async function createFileBirthCa(o: BirthCaOptions, subject: string): Promise<CertificateAuthority> {
  if (o.unlock.passphrase === undefined) throw new Error('the CA passphrase is required to seal the birth CA key');
  const { authority, pkcs8Der } = await CertificateAuthority.generate({ keyType: o.keyType ?? 'ec', subject });
  try {
    await saveCa(o.dataDir, authority, pkcs8Der, o.unlock.passphrase, 'birth');
  } finally {
    pkcs8Der.fill(0);
  }
  return authority;
}

/** A new birth CA whose key is made (or found) in the device CA key's token. */
async function createTokenBirthCa(o: BirthCaOptions, subject: string): Promise<CertificateAuthority> {
  if (o.unlock.pin === undefined) throw new Error(`the CA keys are in a PKCS#11 token: its PIN is required (${PKCS11_PIN_ENV} or --pin-file)`);
  const device = await readPkcs11Location(o.dataDir);
  const { setup } = await pkcs11Support();
  const uri = setup.birthKeyUri(device.uri);
  const made = await setup.setupTokenCa({
    modulePath: device.modulePath,
    uri,
    pin: o.unlock.pin,
    // A birth key the token already holds (another data folder on the same CA key, an earlier
    // attempt) is taken: it passed the same checks as a CA key, and one birth key per CA key is the rule.
    existing: 'if-present',
    keyType: o.keyType ?? 'ec',
    subject,
    // The birth CA seals nothing; it shares the device CA's vault key rather than adding one.
    vaultLabel: device.vaultLabel,
    sessions: BIRTH_TOKEN_SESSIONS,
  });
  try {
    // Certificate first: a folder left with a certificate and no key location has no birth CA and gets a new one.
    await saveCaCertificate(o.dataDir, made.authority.certificatePem, 'birth');
    await savePkcs11Location(o.dataDir, made.location, 'birth');
  } catch (err) {
    await made.authority.close();
    const hint = made.created ? ' The new birth key stays in the token; the next attempt uses it.' : '';
    throw new Error(`${(err as Error).message}.${hint} (${describeKeyUri(uri)})`);
  }
  return made.authority;
}

/** Makes and records a new birth CA in the device CA key's store and signs its first CRL. Refuses when one exists. */
export async function createBirthCa(o: BirthCaOptions): Promise<CertificateAuthority> {
  if (hasBirthCa(o.dataDir)) throw new Error(`${o.dataDir} already has a birth CA (${dataPath(o.dataDir, 'birthCaCert')})`);
  const subject = o.subject ?? DEFAULT_BIRTH_CA_SUBJECT;
  const store = caKeyBackend(o.dataDir);
  const authority = store === 'pkcs11' ? await createTokenBirthCa(o, subject) : await createFileBirthCa(o, subject);
  try {
    await o.repo.appendAudit({
      at: isoSeconds(),
      accountId: null,
      actor: o.actor,
      action: 'birth_ca.create',
      object: null,
      sourceIp: null,
      result: 'ok',
      detail: `subject=${authority.subject} key=${authority.keyType} store=${store}`,
    });
    await birthCrlPublisher(authority, o.repo, o.settings, o.dataDir, o.actor).publish('first birth CRL');
  } catch (err) {
    await authority.close();
    throw err;
  }
  return authority;
}

/** The data folder's birth CA, made first when the folder predates it. */
export async function loadOrCreateBirthCa(o: BirthCaOptions): Promise<{ ca: CertificateAuthority; created: boolean }> {
  if (hasBirthCa(o.dataDir)) return { ca: await openCa(o.dataDir, o.unlock, 'birth'), created: false };
  return { ca: await createBirthCa(o), created: true };
}
