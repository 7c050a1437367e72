/**
 * A logged-in connection to one PKCS#11 token: the library loaded once per process, the slot found
 * from the URI's token attributes, and a small pool of sessions (a session runs one operation at a
 * time; several let signatures overlap in libuv's thread pool). When the token drops the sessions
 * (device reset, network HSM failover, "all sessions closed"), the connection is opened again on
 * the next use with the PIN it was given, and the failed operation is retried once.
 */
import pkcs11 from 'pkcs11js';
import { TokenError, TokenUnavailableError } from './errors.js';
import { describeKeyUri, type Pkcs11Uri, type TokenAttribute } from './uri.js';

type Handle = pkcs11.Handle;

/** The name of a CKR_* code, e.g. "CKR_PIN_INCORRECT". */
export function ckrName(code: number): string {
  const entry = Object.entries(pkcs11).find(([k, v]) => k.startsWith('CKR_') && v === code);
  return entry ? entry[0] : `CKR 0x${code.toString(16)}`;
}

export function pkcs11Code(err: unknown): number | undefined {
  return err instanceof pkcs11.Pkcs11Error ? err.code : undefined;
}

/** Codes after which the sessions (or the login) are gone and a fresh connection may succeed. */
const CONNECTION_LOST = new Set<number>([
  pkcs11.CKR_SESSION_HANDLE_INVALID,
  pkcs11.CKR_SESSION_CLOSED,
  pkcs11.CKR_USER_NOT_LOGGED_IN,
  pkcs11.CKR_DEVICE_REMOVED,
  pkcs11.CKR_TOKEN_NOT_PRESENT,
  pkcs11.CKR_DEVICE_ERROR,
  pkcs11.CKR_OBJECT_HANDLE_INVALID,
  pkcs11.CKR_KEY_HANDLE_INVALID,
  pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED,
]);

const modules = new Map<string, { lib: pkcs11.PKCS11; users: number }>();

/** Loads and initialises a PKCS#11 library, shared by every connection of this process. */
function acquireModule(modulePath: string): pkcs11.PKCS11 {
  const loaded = modules.get(modulePath);
  if (loaded) {
    loaded.users++;
    return loaded.lib;
  }
  const lib = new pkcs11.PKCS11();
  try {
    lib.load(modulePath);
  } catch (err) {
    throw new TokenError(`cannot load the PKCS#11 module ${modulePath}: ${(err as Error).message} (is the path right and the vendor library installed?)`);
  }
  try {
    // OS locking: signatures run on libuv worker threads, several at once.
    lib.C_Initialize({ flags: pkcs11.CKF_OS_LOCKING_OK });
  } catch (err) {
    if (pkcs11Code(err) !== pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      lib.close();
      throw new TokenError(`the PKCS#11 module ${modulePath} failed to initialise: ${(err as Error).message}`);
    }
  }
  modules.set(modulePath, { lib, users: 1 });
  return lib;
}

function releaseModule(modulePath: string): void {
  const loaded = modules.get(modulePath);
  if (!loaded || --loaded.users > 0) return;
  modules.delete(modulePath);
  try {
    loaded.lib.C_Finalize();
  } catch {
    // already finalised: nothing left to release
  }
  loaded.lib.close();
}

const trim = (s: string): string => s.replace(/[\s\0]+$/, '');

interface SlotInfo {
  slot: Handle;
  values: Record<TokenAttribute, string>;
  loginRequired: boolean;
  initialised: boolean;
}

function listTokens(lib: pkcs11.PKCS11): SlotInfo[] {
  return lib.C_GetSlotList(true).map((slot) => {
    const t = lib.C_GetTokenInfo(slot);
    const s = lib.C_GetSlotInfo(slot);
    return {
      slot,
      loginRequired: (t.flags & pkcs11.CKF_LOGIN_REQUIRED) !== 0,
      initialised: (t.flags & pkcs11.CKF_TOKEN_INITIALIZED) !== 0,
      values: {
        token: trim(t.label),
        manufacturer: trim(t.manufacturerID),
        serial: trim(t.serialNumber),
        model: trim(t.model),
        'slot-description': trim(s.slotDescription),
        'slot-manufacturer': trim(s.manufacturerID),
        'slot-id': (slot.length >= 8 ? slot.readBigUInt64LE(0) : BigInt(slot.readUInt32LE(0))).toString(),
      },
    };
  });
}

function findSlot(lib: pkcs11.PKCS11, uri: Pkcs11Uri): SlotInfo {
  // An uninitialised token (SoftHSM2 always offers one free slot) holds no key and matches nothing.
  const tokens = listTokens(lib).filter((t) => t.initialised);
  const wanted = Object.entries(uri.token) as [TokenAttribute, string][];
  const matches = tokens.filter((t) => wanted.every(([k, v]) => t.values[k] === v));
  const present = tokens.map((t) => `'${t.values.token}' (serial ${t.values.serial})`).join(', ') || 'none';
  if (matches.length === 0) {
    throw new TokenError(`no token matches ${wanted.map(([k, v]) => `${k}=${v}`).join(';') || 'the URI'}; tokens present: ${present}`);
  }
  if (matches.length > 1) {
    throw new TokenError(`${matches.length} tokens match the URI (${present}): add token=<label> or serial=<serial> to it`);
  }
  return matches[0]!;
}

function login(lib: pkcs11.PKCS11, session: Handle, pin: string): void {
  try {
    lib.C_Login(session, pkcs11.CKU_USER, pin);
  } catch (err) {
    const code = pkcs11Code(err);
    if (code === pkcs11.CKR_USER_ALREADY_LOGGED_IN) return;
    if (code === pkcs11.CKR_PIN_INCORRECT) throw new TokenError('the token refused the PIN (CKR_PIN_INCORRECT): check TDS_PKCS11_PIN or the --pin-file; repeated failures lock the token');
    if (code === pkcs11.CKR_PIN_LOCKED) throw new TokenError('the token user PIN is locked (CKR_PIN_LOCKED): unblock it with the security officer PIN using the token vendor\'s tool');
    if (code === pkcs11.CKR_PIN_LEN_RANGE) throw new TokenError('the PIN has a length the token does not accept (CKR_PIN_LEN_RANGE)');
    if (code === pkcs11.CKR_USER_PIN_NOT_INITIALIZED) throw new TokenError('the token has no user PIN yet (CKR_USER_PIN_NOT_INITIALIZED): initialise the token first');
    throw new TokenError(`login to the token failed: ${(err as Error).message}`);
  }
}

export interface TokenConnectionOptions {
  modulePath: string;
  uri: Pkcs11Uri;
  pin: string;
  /** Sessions in the pool (signatures that can be in flight together). */
  sessions: number;
  /** Read/write sessions: only for creating objects (init). */
  readWrite?: boolean;
}

/** What one opened connection found: the sessions and the objects resolved in it. */
interface Connection<K> {
  idle: Handle[];
  all: Handle[];
  objects: K;
  broken: boolean;
}

/**
 * The pool of logged-in sessions. `resolve` finds the objects the caller needs (key handles) in a
 * fresh connection: object handles are only valid while the application has sessions open, so they
 * are looked up again after a reconnect.
 */
export class TokenConnection<K> {
  private readonly lib: pkcs11.PKCS11;
  private connection: Connection<K> | undefined;
  private opening: Promise<Connection<K>> | undefined;
  private waiters: (() => void)[] = [];
  private inFlight = 0;
  private drained: (() => void) | undefined;
  private closed = false;

  private constructor(
    private readonly options: TokenConnectionOptions,
    private readonly resolve: (lib: pkcs11.PKCS11, session: Handle) => K,
  ) {
    this.lib = acquireModule(options.modulePath);
  }

  /** Opens the pool and resolves the objects now, so a wrong PIN or a missing key fails at start-up. */
  static async open<K>(options: TokenConnectionOptions, resolve: (lib: pkcs11.PKCS11, session: Handle) => K): Promise<TokenConnection<K>> {
    const c = new TokenConnection(options, resolve);
    try {
      await c.current();
    } catch (err) {
      await c.close();
      throw err;
    }
    return c;
  }

  private async current(): Promise<Connection<K>> {
    if (this.closed) throw new TokenUnavailableError('the token connection is closed');
    if (this.connection && !this.connection.broken) return this.connection;
    this.opening ??= Promise.resolve()
      .then(() => this.connect())
      .finally(() => (this.opening = undefined));
    return this.opening;
  }

  private connect(): Connection<K> {
    const { lib, options } = this;
    const { slot, loginRequired } = findSlot(lib, options.uri);
    const flags = pkcs11.CKF_SERIAL_SESSION | (options.readWrite ? pkcs11.CKF_RW_SESSION : 0);
    const all: Handle[] = [];
    try {
      for (let i = 0; i < options.sessions; i++) all.push(lib.C_OpenSession(slot, flags));
      // The login state belongs to the application, so one login covers every session.
      if (loginRequired) login(lib, all[0]!, options.pin);
      const objects = this.resolve(lib, all[0]!);
      const c: Connection<K> = { idle: [...all], all, objects, broken: false };
      this.connection = c;
      return c;
    } catch (err) {
      for (const s of all) this.closeSession(s);
      if (err instanceof TokenError) throw err;
      throw new TokenError(`cannot open the ${describeKeyUri(options.uri)}: ${(err as Error).message}`);
    }
  }

  private closeSession(session: Handle): void {
    try {
      this.lib.C_CloseSession(session);
    } catch {
      // the token already dropped it
    }
  }

  private async acquire(): Promise<{ c: Connection<K>; session: Handle }> {
    for (;;) {
      const c = await this.current();
      const session = c.idle.pop();
      if (session) return { c, session };
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private release(c: Connection<K>, session: Handle): void {
    if (c.broken) this.closeSession(session);
    else c.idle.push(session);
    this.waiters.shift()?.();
  }

  /** Marks a connection lost: its idle sessions close now, busy ones when they come back. */
  private markBroken(c: Connection<K>): void {
    if (c.broken) return;
    c.broken = true;
    for (const s of c.idle.splice(0)) this.closeSession(s);
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) w();
  }

  /**
   * Runs `fn` on a session of its own. A lost connection is reopened and `fn` retried once; if the
   * token stays away the caller gets TokenUnavailableError.
   */
  async run<T>(fn: (lib: pkcs11.PKCS11, session: Handle, objects: K) => Promise<T> | T): Promise<T> {
    this.inFlight++;
    try {
      for (let attempt = 0; ; attempt++) {
        let lease: { c: Connection<K>; session: Handle };
        try {
          lease = await this.acquire();
        } catch (err) {
          if (err instanceof TokenUnavailableError) throw err;
          throw new TokenUnavailableError(`the CA key's token is not available: ${(err as Error).message}`);
        }
        try {
          return await fn(this.lib, lease.session, lease.c.objects);
        } catch (err) {
          const code = pkcs11Code(err);
          if (code === undefined || !CONNECTION_LOST.has(code)) throw err;
          this.markBroken(lease.c);
          if (attempt >= 1) throw new TokenUnavailableError(`the CA key's token is not available (${ckrName(code)})`);
        } finally {
          this.release(lease.c, lease.session);
        }
      }
    } finally {
      if (--this.inFlight === 0) this.drained?.();
    }
  }

  /** Waits for operations in flight, then closes every session and releases the library. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.inFlight > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    await this.opening?.catch(() => undefined);
    for (const s of this.connection?.all ?? []) this.closeSession(s);
    this.connection = undefined;
    releaseModule(this.options.modulePath);
  }
}
