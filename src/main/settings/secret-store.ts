import { promises as fs } from 'node:fs';
import { z } from 'zod';
import { readFileIfExists, writeFileAtomic } from '@tds/server/util';

/**
 * Where the station keeps its secrets (server token, Wi-Fi passwords, the bundled CA passphrase, the
 * monitor identity's key). Never in settings.json, never in logs, never sent to the renderer.
 */
export interface SecretStore {
  readonly kind: SecretStoreKind;
  get(name: string): Promise<string | undefined>;
  set(name: string, value: string): Promise<void>;
  delete(name: string): Promise<void>;
}

/** Where secrets are kept: encrypted with an OS keychain's key, or a plain 0600 file. */
export type SecretStoreKind = 'safeStorage' | 'keyring' | 'file';

/**
 * Encrypts/decrypts one string with a key the OS keychain holds: Electron's safeStorage in the app,
 * the Secret Service in web mode. Asynchronous, because the station core asks its host process,
 * where the keychain is, to do it.
 */
export interface StringCipher {
  readonly kind: 'safeStorage' | 'keyring';
  encrypt(plain: string): Promise<Buffer>;
  decrypt(cipher: Buffer): Promise<string>;
}

/** The secrets file of each kind of store (a keychain change never reads the other's file). */
export const SECRET_FILES: Record<SecretStoreKind, string> = {
  safeStorage: 'secrets.safe.json',
  keyring: 'secrets.keyring.json',
  file: 'secrets.json',
};

const SecretFile = z.object({ version: z.literal(1), secrets: z.record(z.string(), z.string()) });

/**
 * Secrets in one JSON file with mode 0600, written atomically. With a cipher each value is encrypted
 * with the OS keychain's key and stored as base64; without one the values are plain and the file's
 * permissions are the only protection (as for ~/.ssh keys), which is why the bundled server's CA
 * passphrase is never kept in such a file (see ca-passphrase.ts).
 */
export class FileSecretStore implements SecretStore {
  readonly kind: SecretStoreKind;
  /** Read-modify-write cycles per file, across instances, so no write loses another's secret. */
  private static readonly chains = new Map<string, Promise<unknown>>();

  constructor(
    private readonly file: string,
    private readonly cipher?: StringCipher,
  ) {
    this.kind = cipher?.kind ?? 'file';
  }

  async get(name: string): Promise<string | undefined> {
    const all = await this.load();
    const stored = all[name];
    if (stored === undefined) return undefined;
    return this.cipher ? this.cipher.decrypt(Buffer.from(stored, 'base64')) : stored;
  }

  /** Names of the secrets held (not their values). */
  async names(): Promise<string[]> {
    return Object.keys(await this.load());
  }

  async set(name: string, value: string): Promise<void> {
    // Encrypted before the read-modify-write cycle, which must not wait on the keychain.
    const stored = this.cipher ? (await this.cipher.encrypt(value)).toString('base64') : value;
    return this.modify((all) => {
      all[name] = stored;
      return true;
    });
  }

  delete(name: string): Promise<void> {
    return this.modify((all) => {
      if (!(name in all)) return false;
      delete all[name];
      return true;
    });
  }

  /** Always from the file (small, read rarely): another instance may have written since. */
  private async load(): Promise<Record<string, string>> {
    const text = await readFileIfExists(this.file);
    if (text === undefined) return {};
    const st = await fs.stat(this.file);
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      // Someone loosened the permissions: tighten them again rather than keep exposing secrets.
      await fs.chmod(this.file, 0o600);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const parsed = SecretFile.safeParse(json);
    if (!parsed.success) throw new Error(`${this.file} is not a station secrets file; move it away and set the secrets again`);
    return { ...parsed.data.secrets };
  }

  private modify(change: (all: Record<string, string>) => boolean): Promise<void> {
    const key = this.file;
    const prev = FileSecretStore.chains.get(key) ?? Promise.resolve();
    const next = prev.then(async () => {
      const all = await this.load();
      if (change(all)) await writeFileAtomic(this.file, JSON.stringify({ version: 1, secrets: all }, null, 2), { mode: 0o600, createDir: true });
    });
    FileSecretStore.chains.set(key, next.catch(() => undefined));
    return next;
  }
}

/** Secret names used by the station. */
export const SECRET = {
  serverToken: 'server.token',
  bundledToken: 'bundled.token',
  bundledCaPassphrase: 'bundled.caPassphrase',
  monitorKey: 'monitor.keyPem',
  /** The admin PIN that locks profiles, as a salted scrypt hash (never the PIN itself). */
  adminPin: 'admin.pinHash',
  wifiPassword: (profile: string) => `profile.${profile}.wifiPassword`,
} as const;
