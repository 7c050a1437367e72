/**
 * Creates a data folder: settings, a new or imported CA (key sealed with the passphrase), the
 * database, the first CRL, and the birth CA of zero-touch onboarding with its first CRL. Refuses to
 * touch a folder that is already initialised.
 */
import { CertificateAuthority } from '../ca/authority.js';
import { saveCa, MIN_PASSPHRASE_LENGTH } from '../ca/key-store.js';
import type { KeyType } from '../ca/keys.js';
import { CrlPublisher } from '../service/crl-publisher.js';
import { isoSeconds } from '../service/clock.js';
import { SqliteRepository } from '../store/sqlite/repository.js';
import { createBirthCa } from './birth-ca.js';
import { dataPath, defaultSettings, ensureDataDir, isInitialised, saveSettings, settingsSchema, type Settings } from './data-dir.js';

export interface InitOptions {
  dataDir: string;
  passphrase: string;
  keyType?: KeyType;
  /** CA subject DN, e.g. "C=BR, O=TDS IoT, CN=TDS IoT Device CA". */
  subject?: string;
  importCa?: { certPem: string; keyPem: string; keyPassphrase?: string };
  settings?: (s: Settings) => void;
}

export interface InitResult {
  dataDir: string;
  caPem: string;
  caSubject: string;
  caKeyType: KeyType;
  caNotAfter: string;
  imported: boolean;
  birthCaPem: string;
  birthCaSubject: string;
  settings: Settings;
}

export async function initServerData(o: InitOptions): Promise<InitResult> {
  if (isInitialised(o.dataDir)) throw new Error(`${o.dataDir} already holds a TDS server (found its CA key or database); refusing to overwrite it`);
  if (o.passphrase.length < MIN_PASSPHRASE_LENGTH) throw new Error(`the CA passphrase must have at least ${MIN_PASSPHRASE_LENGTH} characters`);
  const settings = defaultSettings();
  o.settings?.(settings);
  settingsSchema.parse(settings);

  const { authority, pkcs8Der } = o.importCa
    ? await CertificateAuthority.import(o.importCa.certPem, o.importCa.keyPem, o.importCa.keyPassphrase)
    : await CertificateAuthority.generate({ ...(o.keyType ? { keyType: o.keyType } : {}), ...(o.subject ? { subject: o.subject } : {}) });
  try {
    await ensureDataDir(o.dataDir);
    await saveSettings(o.dataDir, settings);
    await saveCa(o.dataDir, authority, pkcs8Der, o.passphrase);
  } finally {
    pkcs8Der.fill(0);
  }
  const repo = new SqliteRepository(dataPath(o.dataDir, 'database'), { durability: settings.durability });
  let birth: CertificateAuthority;
  try {
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
    birth = await createBirthCa({ dataDir: o.dataDir, passphrase: o.passphrase, repo, settings, actor: 'cli', keyType: authority.keyType });
  } finally {
    await repo.close();
  }
  return {
    dataDir: o.dataDir,
    caPem: authority.certificatePem,
    caSubject: authority.subject,
    caKeyType: authority.keyType,
    caNotAfter: authority.notAfter.toISOString(),
    imported: o.importCa !== undefined,
    birthCaPem: birth.certificatePem,
    birthCaSubject: birth.subject,
    settings,
  };
}
