/**
 * Creates a data folder: settings, a new or imported CA (key sealed with the passphrase), the
 * database (SQLite in the folder, or an empty PostgreSQL database recorded in the settings), and
 * the first CRL. Refuses to touch a folder or a PostgreSQL database that is already initialised.
 */
import { CertificateAuthority } from '../ca/authority.js';
import { saveCa, MIN_PASSPHRASE_LENGTH } from '../ca/key-store.js';
import type { KeyType } from '../ca/keys.js';
import { CrlPublisher } from '../service/crl-publisher.js';
import { isoSeconds } from '../service/clock.js';
import type { StoreBackend } from '../store/backend.js';
import { openStore } from '../store/open.js';
import { checkPostgresUrl } from './database.js';
import { dataPath, defaultSettings, ensureDataDir, isInitialised, saveSettings, settingsSchema, type Settings } from './data-dir.js';

export interface InitOptions {
  dataDir: string;
  passphrase: string;
  keyType?: KeyType;
  /** CA subject DN, e.g. "C=BR, O=TDS IoT, CN=TDS IoT Device CA". */
  subject?: string;
  importCa?: { certPem: string; keyPem: string; keyPassphrase?: string };
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
  settings: Settings;
}

export async function initServerData(o: InitOptions): Promise<InitResult> {
  if (isInitialised(o.dataDir)) throw new Error(`${o.dataDir} already holds a TDS server (found its CA key or database); refusing to overwrite it`);
  if (o.passphrase.length < MIN_PASSPHRASE_LENGTH) throw new Error(`the CA passphrase must have at least ${MIN_PASSPHRASE_LENGTH} characters`);
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

  const { authority, pkcs8Der } = o.importCa
    ? await CertificateAuthority.import(o.importCa.certPem, o.importCa.keyPem, o.importCa.keyPassphrase)
    : await CertificateAuthority.generate({ ...(o.keyType ? { keyType: o.keyType } : {}), ...(o.subject ? { subject: o.subject } : {}) });
  try {
    await ensureDataDir(o.dataDir);
    await saveSettings(o.dataDir, settings);
    await saveCa(o.dataDir, authority, pkcs8Der, o.passphrase);
  } catch (err) {
    await store?.close();
    throw err;
  } finally {
    pkcs8Der.fill(0);
  }
  store ??= await openStore({ kind: 'sqlite', file: dataPath(o.dataDir, 'database'), durability: settings.durability });
  const repo = store.repo;
  try {
    await store.bindCa(authority.certificatePem);
    await repo.appendAudit({
      at: isoSeconds(),
      accountId: null,
      actor: 'cli',
      action: o.importCa ? 'ca.import' : 'ca.create',
      object: null,
      sourceIp: null,
      result: 'ok',
      detail: `subject=${authority.subject} key=${authority.keyType}`,
    });
    await new CrlPublisher({ ca: authority, repo, nextUpdateDays: settings.crl.nextUpdateDays, crlFile: dataPath(o.dataDir, 'crl'), actor: 'cli' }).publish('first CRL');
  } finally {
    await store.close();
  }
  return {
    dataDir: o.dataDir,
    caPem: authority.certificatePem,
    caSubject: authority.subject,
    caKeyType: authority.keyType,
    caNotAfter: authority.notAfter.toISOString(),
    imported: o.importCa !== undefined,
    settings,
  };
}
