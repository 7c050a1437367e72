import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import path from 'node:path';
import type { StringCipher } from './secret-store.js';

/** The keyring entry's service name; its account names the data folder the key belongs to. */
export const KEYRING_SERVICE = 'tds-station';
const FORMAT = 1;
const IV = 12;
const TAG = 16;

/** The keyring could not be used (no Secret Service on the session bus, locked, library missing). */
export class KeyringUnavailable extends Error {
  override readonly name = 'KeyringUnavailable';
}

interface KeyringEntry {
  getPassword(signal?: AbortSignal | null): Promise<string | null>;
  setPassword(password: string, signal?: AbortSignal | null): Promise<void>;
}

async function entry(account: string): Promise<KeyringEntry> {
  try {
    // Loaded on demand: a native module, absent or unloadable on some systems (then: no keyring).
    const { AsyncEntry } = await import('@napi-rs/keyring');
    return new AsyncEntry(KEYRING_SERVICE, account);
  } catch (err) {
    throw new KeyringUnavailable(`the keyring library cannot load (${err instanceof Error ? err.message : String(err)})`);
  }
}

/** Bounds a keyring call: a Secret Service that never answers must not hold up the station's start. */
async function bounded<T>(what: string, timeoutMs: number, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const signal = AbortSignal.timeout(timeoutMs);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      run(signal),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new KeyringUnavailable(`the keyring did not answer ${what} within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (err) {
    if (err instanceof KeyringUnavailable) throw err;
    throw new KeyringUnavailable(`the keyring refused ${what}: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The station's secrets file encrypted (AES-256-GCM) with a random 256-bit key that lives in the
 * desktop keyring — the Secret Service on Linux (GNOME Keyring, KWallet), the Keychain on macOS,
 * the Credential Manager on Windows — as Electron's safeStorage does with its own key. One key per
 * data folder. Used by web mode, where safeStorage does not exist.
 */
export class KeyringCipher implements StringCipher {
  readonly kind = 'keyring' as const;

  private constructor(private readonly key: Buffer) {}

  /**
   * The data folder's key from the keyring, made and stored there on first use. `mustExist`: secrets
   * were already encrypted with a key; if this keyring has none (another session, another keyring) a
   * new key would make them unreadable, so it is refused instead.
   */
  static async open(dataDir: string, options: { timeoutMs?: number; mustExist?: boolean } = {}): Promise<KeyringCipher> {
    const timeoutMs = options.timeoutMs ?? 5000;
    const e = await entry(`secrets-key:${path.resolve(dataDir)}`);
    const stored = await bounded('a read', timeoutMs, (signal) => e.getPassword(signal));
    if (stored) {
      const key = Buffer.from(stored, 'base64');
      if (key.length !== 32) throw new KeyringUnavailable('the keyring entry for this data folder is not a station key');
      return new KeyringCipher(key);
    }
    if (options.mustExist) throw new KeyringUnavailable('this keyring has no key for the secrets already kept in the data folder (unlock the keyring that has it)');
    const key = randomBytes(32);
    await bounded('a write', timeoutMs, (signal) => e.setPassword(key.toString('base64'), signal));
    // Read back: a keyring that accepts a write but does not keep it must not be trusted with secrets.
    const check = await bounded('a read', timeoutMs, (signal) => e.getPassword(signal));
    if (check !== key.toString('base64')) throw new KeyringUnavailable('the keyring did not keep the station key');
    return new KeyringCipher(key);
  }

  async encrypt(plain: string): Promise<Buffer> {
    const iv = randomBytes(IV);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
    return Buffer.concat([Buffer.from([FORMAT]), iv, c.getAuthTag(), body]);
  }

  async decrypt(data: Buffer): Promise<string> {
    if (data.length < 1 + IV + TAG || data[0] !== FORMAT) throw new Error('a stored secret is not in the keyring format');
    const d = createDecipheriv('aes-256-gcm', this.key, data.subarray(1, 1 + IV));
    d.setAuthTag(data.subarray(1 + IV, 1 + IV + TAG));
    return Buffer.concat([d.update(data.subarray(1 + IV + TAG)), d.final()]).toString('utf8');
  }
}
