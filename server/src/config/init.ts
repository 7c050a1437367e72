/**
 * Creates a data folder: settings, a new or imported CA (key sealed with the passphrase, or kept in
 * a PKCS#11 token), the database (SQLite in the folder, or an empty PostgreSQL database recorded in
 * the settings), the first CRL, and the birth CA of zero-touch onboarding (its key in the same key
 * store) with its first CRL. Refuses to touch a folder or a PostgreSQL database that is already
 * initialised.
 */
import { CertificateAuthority } from '../ca/authority.js';
import { pkcs11Support, savePkcs11Location } from '../ca/ca-backend.js';
import { saveCa, saveCaCertificate, MIN_PASSPHRASE_LENGTH } from '../ca/key-store.js';
import type { KeyType } from '../ca/keys.js';
import { describeKeyUri, type Pkcs11Uri } from '../ca/pkcs11/uri.js';
import { CrlPublisher } from '../service/crl-publisher.js';
import { isoSeconds } from '../service/clock.js';
import type { StoreBackend } from '../store/backend.js';
import { openStore } from '../store/open.js';
import { createBirthCa } from './birth-ca.js';
import { checkPostgresUrl } from './database.js';
import { dataPath, defaultSettings, ensureDataDir, isInitialised, saveSettings, settingsSchema, type Settings } from './data-dir.js';

export interface InitOptions {
  dataDir: string;
  /** Seals the CA key file; not used when the key is in a token (`pkcs11`). */
  passphrase?: string;
  keyType?: KeyType;
  /** CA subject DN, e.g. "C=BR, O=TDS IoT, CN=TDS IoT Device CA". */
  subject?: string;
  importCa?: { certPem: string; keyPem: string; keyPassphrase?: string };
  /**
   * The CA key in a PKCS#11 token: created there (EC P-256 or RSA-3072, never extractable) or, with
   * `existing`, the key the URI names (with `certPem`, its existing CA certificate is kept).
   */
  pkcs11?: { modulePath: string; uri: Pkcs11Uri; pin: string; existing?: boolean; certPem?: string };
  settings?: (s: Settings) => void;
  /** An empty PostgreSQL database for the store (recorded in config.json); default SQLite in the folder. */
  postgresUrl?: string;
}

export interface InitResult {
  dataDir: string;
  caPem: string;
  caSubject: string;
  caKeyType: KeyType;
  caNotAfter: string;
  imported: boolean;
  /** Where the CA keys are: 'file' (sealed in the data folder) or 'pkcs11'. */
  caKeyStore: 'file' | 'pkcs11';
  birthCaPem: string;
  birthCaSubject: string;
  settings: Settings;
}

export async function initServerData(o: InitOptions): Promise<InitResult> {
  if (isInitialised(o.dataDir)) throw new Error(`${o.dataDir} already holds a TDS server (found its CA key or database); refusing to overwrite it`);
  if (o.pkcs11 && o.importCa) throw new Error('a CA key file cannot be imported into the token (it would not be "never extractable"): let init create the key in the token, or use --pkcs11-existing');
  if (!o.pkcs11 && (o.passphrase ?? '').length < MIN_PASSPHRASE_LENGTH) throw new Error(`the CA passphrase must have at least ${MIN_PASSPHRASE_LENGTH} characters`);
  const settings = defaultSettings();
  o.settings?.(settings);
  if (o.postgresUrl !== undefined) settings.database = { ...settings.database, url: checkPostgresUrl(o.postgresUrl, '--database') };
  settingsSchema.parse(settings);
  // The database first: a PostgreSQL that already holds a server is refused before anything is written.
  let store: StoreBackend | undefined;
  if (o.postgresUrl !== undefined) {
    store = await openStore({ kind: 'postgres', url: o.postgresUrl });
    try {
      if ((await store.repo.getLatestCrl()) !== undefined || (await store.repo.listAccounts()).length > 0) {
        throw new Error(`${store.description} already holds a TDS server; refusing to initialise it again (to add an instance, copy this server's data folder instead)`);
      }
    } catch (err) {
      await store.close();
      throw err;
    }
  }

  let authority: CertificateAuthority;
  let imported = o.importCa !== undefined;
  try {
    if (o.pkcs11) {
      const p = o.pkcs11;
      const made = await (await pkcs11Support()).setup.setupTokenCa({
        modulePath: p.modulePath,
        uri: p.uri,
        pin: p.pin,
        existing: p.existing ?? false,
        ...(o.keyType ? { keyType: o.keyType } : {}),
        ...(p.certPem !== undefined ? { certPem: p.certPem } : {}),
        ...(o.subject ? { subject: o.subject } : {}),
      });
      authority = made.authority;
      imported = p.certPem !== undefined;
      try {
        await ensureDataDir(o.dataDir);
        await saveSettings(o.dataDir, settings);
        await savePkcs11Location(o.dataDir, made.location);
        await saveCaCertificate(o.dataDir, authority.certificatePem);
      } catch (err) {
        await authority.close();
        const hint = made.created ? ` The new key stays in the token: run init again with --pkcs11-existing to use it.` : '';
        throw new Error(`${(err as Error).message}.${hint} (${describeKeyUri(p.uri)})`);
      }
    } else {
      const made = o.importCa
        ? await CertificateAuthority.import(o.importCa.certPem, o.importCa.keyPem, o.importCa.keyPassphrase)
        : await CertificateAuthority.generate({ ...(o.keyType ? { keyType: o.keyType } : {}), ...(o.subject ? { subject: o.subject } : {}) });
      authority = made.authority;
      try {
        await ensureDataDir(o.dataDir);
        await saveSettings(o.dataDir, settings);
        await saveCa(o.dataDir, authority, made.pkcs8Der, o.passphrase!);
      } finally {
        made.pkcs8Der.fill(0);
      }
    }
  } catch (err) {
    await store?.close();
    throw err;
  }
  store ??= await openStore({ kind: 'sqlite', file: dataPath(o.dataDir, 'database'), durability: settings.durability });
  const repo = store.repo;
  let birth: CertificateAuthority;
  try {
    await store.bindCa(authority.certificatePem);
    await repo.appendAudit({
      at: isoSeconds(),
      accountId: null,
      actor: 'cli',
      action: imported ? 'ca.import' : 'ca.create',
      object: null,
      sourceIp: null,
      result: 'ok',
      detail: `subject=${authority.subject} key=${authority.keyType} store=${o.pkcs11 ? 'pkcs11' : 'file'}`,
    });
    await new CrlPublisher({ ca: authority, repo, nextUpdateDays: settings.crl.nextUpdateDays, crlFile: dataPath(o.dataDir, 'crl'), actor: 'cli' }).publish('first CRL');
    birth = await createBirthCa({
      dataDir: o.dataDir,
      unlock: o.pkcs11 ? { pin: o.pkcs11.pin } : { passphrase: o.passphrase! },
      repo,
      settings,
      actor: 'cli',
      keyType: authority.keyType,
    }).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}. The device CA is in place: make the birth CA with "tds-server birth-ca create --data ${o.dataDir}"`);
    });
    await birth.close();
  } finally {
    await store.close();
    await authority.close();
  }
  return {
    dataDir: o.dataDir,
    caPem: authority.certificatePem,
    caSubject: authority.subject,
    caKeyType: authority.keyType,
    caNotAfter: authority.notAfter.toISOString(),
    imported,
    caKeyStore: o.pkcs11 ? 'pkcs11' : 'file',
    birthCaPem: birth.certificatePem,
    birthCaSubject: birth.subject,
    settings,
  };
}
