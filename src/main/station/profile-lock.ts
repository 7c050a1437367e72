import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { ValidRequestOf } from '../../shared/ipc.js';
import { StationError } from '../../shared/ipc-errors.js';
import { V } from '../../shared/validation.js';
import { SECRET } from '../settings/secret-store.js';
import type { SettingsService } from './settings-service.js';

const scryptAsync = promisify(scrypt) as (password: string, salt: Buffer, keylen: number, options: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;
/** scrypt needs 128·N·r bytes (32 MiB here); Node's default limit is exactly that, so give it room. */
const MAXMEM = 64 * 1024 * 1024;

/** scrypt cost: ~50 ms a try on a small machine, so guessing a 4-digit PIN offline is slow too. */
const COST = { N: 1 << 15, r: 8, p: 1 };
const MAX_FAILURES = 5;
const LOCKOUT_MS = 60_000;

async function hashPin(pin: string, salt = randomBytes(16)): Promise<string> {
  const key = await scryptAsync(pin, salt, 32, { ...COST, maxmem: MAXMEM });
  return `scrypt$${COST.N}$${COST.r}$${COST.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

async function pinMatches(pin: string, stored: string): Promise<boolean> {
  const [kind, n, r, p, salt, key] = stored.split('$');
  if (kind !== 'scrypt' || !salt || !key) return false;
  const expected = Buffer.from(key, 'base64');
  const got = await scryptAsync(pin, Buffer.from(salt, 'base64'), expected.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: MAXMEM });
  return got.length === expected.length && timingSafeEqual(got, expected);
}

function pinIssue(key: string, message: string, field = 'pin'): StationError {
  return new StationError('INVALID_INPUT', message, { issues: [{ field, key, message }] });
}

/**
 * Profiles an admin has locked: operators see them but cannot save or delete them. The lock is a
 * station setting guarded by a local admin PIN (not the server's admin token: a bench with a remote
 * server's operator token has no admin token to give, and the lock must work offline). The PIN is
 * kept only as a salted scrypt hash in the secret store; after five wrong PINs the next try waits a
 * minute.
 */
export class ProfileLock {
  private failures = 0;
  private blockedUntil = 0;

  constructor(private readonly settings: SettingsService) {}

  get locked(): boolean {
    return this.settings.current.profileLock.locked;
  }

  /** Refuses a change to the profiles while they are locked. */
  assertUnlocked(): void {
    if (!this.locked) return;
    throw new StationError('FORBIDDEN', 'Profiles are locked by an admin.', {
      hint: 'Ask an admin to unlock them (Settings → Profiles → Lock), or use them as they are.',
    });
  }

  /** Locks or unlocks; the first lock sets the PIN. A new PIN needs the current one. */
  async set(req: ValidRequestOf<'profiles.setLock'>): Promise<void> {
    const stored = await this.settings.secrets.get(SECRET.adminPin);
    if (stored === undefined) {
      if (!req.locked) throw pinIssue(V.pinWrong, 'No admin PIN is set yet: lock the profiles first, which sets it.');
      await this.settings.secrets.set(SECRET.adminPin, await hashPin(req.newPin ?? req.pin));
    } else {
      await this.check(req.pin, stored);
      if (req.newPin) await this.settings.secrets.set(SECRET.adminPin, await hashPin(req.newPin));
    }
    await this.settings.patch((d) => {
      d.profileLock.locked = req.locked;
    });
  }

  private async check(pin: string, stored: string): Promise<void> {
    if (Date.now() < this.blockedUntil) throw pinIssue(V.pinLater, 'Too many wrong PINs: try again in a minute.');
    if (await pinMatches(pin, stored)) {
      this.failures = 0;
      return;
    }
    this.failures++;
    if (this.failures >= MAX_FAILURES) {
      this.failures = 0;
      this.blockedUntil = Date.now() + LOCKOUT_MS;
    }
    throw pinIssue(V.pinWrong, 'This is not the admin PIN.');
  }
}
