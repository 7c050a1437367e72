import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { StationError } from '../../shared/ipc-errors.js';
import { SECRET, SECRET_FILES, type SecretStore } from './secret-store.js';

/** The operator gives the bundled server's CA passphrase in one of these (web mode and the app). */
export const CA_PASSPHRASE_ENV = 'TDS_STATION_CA_PASSPHRASE';
export const CA_PASSPHRASE_FILE_ENV = 'TDS_STATION_CA_PASSPHRASE_FILE';
/** A passphrase for a new CA shorter than this is refused (an existing CA takes whatever opens it). */
const MIN_NEW_LENGTH = 12;

/**
 * Where the bundled server's CA passphrase comes from. It is never kept in plain text next to the
 * CA key: either the OS keychain protects it (a random passphrase in the encrypted secret store) or
 * the operator gives it at start (environment variable or a file outside the data folder).
 */
export interface CaPassphrase {
  /** The passphrase that opens the existing CA. */
  get(): Promise<string>;
  /** The passphrase for a CA created now (first run); stored where `get` finds it. */
  forNewCa(): Promise<string>;
  /**
   * Checks that `p` (the CA passphrase of a server restored from a backup) can be kept where `get`
   * finds it next time, before anything is changed; `adopt` then keeps it.
   */
  canAdopt(p: string): Promise<void>;
  adopt(p: string): Promise<void>;
}

const notTheGivenOne = (): StationError =>
  new StationError('NOT_CONFIGURED', `The backed-up server's CA passphrase differs from the one this station was started with (${CA_PASSPHRASE_FILE_ENV}/${CA_PASSPHRASE_ENV}).`, {
    hint: `Start the station with the backed-up server's CA passphrase in ${CA_PASSPHRASE_FILE_ENV} or ${CA_PASSPHRASE_ENV}, then restore again; nothing was changed.`,
  });

const moveHint = (dataDir: string): string =>
  `Move it out: umask 077; jq -r '.secrets["${SECRET.bundledCaPassphrase}"]' ${path.join(dataDir, SECRET_FILES.file)} > ~/tds-ca-passphrase, ` +
  `then start the station with ${CA_PASSPHRASE_FILE_ENV}=~/tds-ca-passphrase (the station then deletes it from the data folder). Or run it where a desktop keyring is unlocked.`;

const noKeychain = (): StationError =>
  new StationError('NOT_CONFIGURED', 'This machine has no unlocked keychain to protect the bundled server\'s CA passphrase.', {
    hint: `Start the station with ${CA_PASSPHRASE_FILE_ENV} naming a file outside the data folder (mode 0600) that holds a passphrase of at least ${MIN_NEW_LENGTH} characters, or with ${CA_PASSPHRASE_ENV} set; or unlock a desktop keyring (Secret Service).`,
  });

/**
 * The CA passphrase for a station core. `given`: from the operator (wins); else the secret store when
 * a keychain encrypts it; else none, with what to do. A copy left in a plain secrets file by an older
 * station is deleted once the given passphrase matches it, and refused otherwise.
 */
export function caPassphrase(options: { given?: string; store: SecretStore; dataDir: string }): CaPassphrase {
  const { given, store, dataDir } = options;
  const plainCopy = async (): Promise<string | undefined> => (store.kind === 'file' ? store.get(SECRET.bundledCaPassphrase) : undefined);

  if (given !== undefined) {
    const dropPlainCopy = async (): Promise<void> => {
      const old = await plainCopy();
      if (old === undefined) return;
      if (old !== given) {
        throw new StationError('NOT_CONFIGURED', `The CA passphrase given in ${CA_PASSPHRASE_FILE_ENV}/${CA_PASSPHRASE_ENV} differs from the one an older station kept in ${SECRET_FILES.file}.`, {
          hint: moveHint(dataDir),
        });
      }
      await store.delete(SECRET.bundledCaPassphrase);
    };
    return {
      async get() {
        await dropPlainCopy();
        return given;
      },
      async forNewCa() {
        if (given.length < MIN_NEW_LENGTH) throw new StationError('NOT_CONFIGURED', `The CA passphrase given is too short for a new CA (at least ${MIN_NEW_LENGTH} characters).`);
        await dropPlainCopy();
        return given;
      },
      async canAdopt(p) {
        if (p !== given) throw notTheGivenOne();
      },
      async adopt(p) {
        if (p !== given) throw notTheGivenOne();
      },
    };
  }
  if (store.kind !== 'file') {
    return {
      async get() {
        const p = await store.get(SECRET.bundledCaPassphrase);
        if (!p) throw new StationError('NOT_CONFIGURED', 'The bundled server has no CA passphrase in the secret store.', { hint: 'Run the first-run set-up again with a fresh data folder.' });
        return p;
      },
      async forNewCa() {
        // Stored before the CA exists, so a crash in between cannot leave a CA nobody can open.
        const p = randomBytes(32).toString('base64url');
        await store.set(SECRET.bundledCaPassphrase, p);
        return p;
      },
      async canAdopt() {},
      async adopt(p) {
        await store.set(SECRET.bundledCaPassphrase, p);
      },
    };
  }
  return {
    async get() {
      if ((await plainCopy()) !== undefined) {
        throw new StationError('NOT_CONFIGURED', `The bundled server's CA passphrase is in plain text in ${path.join(dataDir, SECRET_FILES.file)}, next to the CA key, and this machine has no keychain to move it into.`, {
          hint: moveHint(dataDir),
        });
      }
      throw noKeychain();
    },
    async forNewCa() {
      throw noKeychain();
    },
    async canAdopt() {
      throw noKeychain();
    },
    async adopt() {
      throw noKeychain();
    },
  };
}

/** The environment for the core's process: the passphrase reaches it in its start message instead. */
export function withoutCaPassphrase(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { [CA_PASSPHRASE_ENV]: _pass, [CA_PASSPHRASE_FILE_ENV]: _file, ...rest } = env;
  return rest;
}

/**
 * Reads the passphrase the operator gives (host side, before the core starts): the file named by
 * TDS_STATION_CA_PASSPHRASE_FILE (outside the data folder, readable only by its owner), else
 * TDS_STATION_CA_PASSPHRASE. Undefined when neither is set.
 */
export async function readGivenCaPassphrase(env: NodeJS.ProcessEnv, dataDir: string): Promise<string | undefined> {
  const file = env[CA_PASSPHRASE_FILE_ENV];
  if (file) {
    const abs = path.resolve(file);
    const real = await fs.realpath(abs).catch(() => {
      throw new Error(`${CA_PASSPHRASE_FILE_ENV}: ${abs} does not exist`);
    });
    const data = await fs.realpath(dataDir).catch(() => path.resolve(dataDir));
    const rel = path.relative(data, real);
    if (rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))) {
      throw new Error(`${CA_PASSPHRASE_FILE_ENV}: ${abs} is inside the data folder ${data}; keep the passphrase apart from the CA key it opens`);
    }
    const st = await fs.stat(real);
    if (!st.isFile()) throw new Error(`${CA_PASSPHRASE_FILE_ENV}: ${abs} is not a file`);
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) throw new Error(`${CA_PASSPHRASE_FILE_ENV}: ${abs} is readable by others; chmod 600 it`);
    const text = (await fs.readFile(real, 'utf8')).replace(/\r?\n$/, '');
    if (!text) throw new Error(`${CA_PASSPHRASE_FILE_ENV}: ${abs} is empty`);
    return text;
  }
  const value = env[CA_PASSPHRASE_ENV];
  return value ? value : undefined;
}
