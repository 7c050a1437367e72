import { promises as fs } from 'node:fs';
import { z } from 'zod';
import { readFileIfExists, writeFileAtomic } from '@tds/server/util';

/**
 * Where the station keeps its secrets (server token, Wi-Fi passwords, the bundled CA passphrase, the
 * monitor identity's key). Never in settings.json, never in logs, never sent to the renderer.
 */
export interface SecretStore {
  readonly kind: 'safeStorage' | 'file';
  get(name: string): Promise<string | undefined>;
  set(name: string, value: string): Promise<void>;
  delete(name: string): Promise<void>;
}

/** Encrypts/decrypts one string; in the app this is Electron's safeStorage (OS keychain). */
export interface StringCipher {
  encrypt(plain: string): Buffer;
  decrypt(cipher: Buffer): string;
}

const SecretFile = z.object({ version: z.literal(1), secrets: z.record(z.string(), z.string()) });

/**
 * Secrets in one JSON file with mode 0600, written atomically. Without a cipher the values are
 * plain (web mode: the file's permissions are the protection, as for ~/.ssh keys); with a cipher each
 * value is encrypted (Electron safeStorage) and stored as base64.
 */
export class FileSecretStore implements SecretStore {
  readonly kind: 'safeStorage' | 'file';
  /** Read-modify-write cycles per file, across instances, so no write loses another's secret. */
  private static readonly chains = new Map<string, Promise<unknown>>();

  constructor(
    private readonly file: string,
    private readonly cipher?: StringCipher,
  ) {
    this.kind = cipher ? 'safeStorage' : 'file';
  }

  async get(name: string): Promise<string | undefined> {
    const all = await this.load();
    const stored = all[name];
    if (stored === undefined) return undefined;
    return this.cipher ? this.cipher.decrypt(Buffer.from(stored, 'base64')) : stored;
  }

  set(name: string, value: string): Promise<void> {
    return this.modify((all) => {
      all[name] = this.cipher ? this.cipher.encrypt(value).toString('base64') : value;
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
  wifiPassword: (profile: string) => `profile.${profile}.wifiPassword`,
} as const;
