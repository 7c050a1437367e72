/**
 * The backup file: one AES-256-GCM encryption (key from the passphrase with scrypt) over a manifest
 * and the files it lists. Node's own scrypt and AES-GCM (OpenSSL) — the primitives that already seal
 * the CA key (ca/key-envelope.ts) — so restoring needs nothing but tds-server; age or OpenPGP would
 * add a dependency and a second key format without adding a property we need.
 *
 *   "TDSBKUP\n" | u32 header length | header JSON | ciphertext | GCM tag (16)
 *   plaintext = u32 manifest length | manifest JSON | the files' bytes, in manifest order
 *
 * The header (format version, KDF parameters, IV, plaintext size, a passphrase check) is the
 * cipher's associated data, so changing any byte of it fails authentication too. Reading verifies
 * the whole file — size, passphrase, GCM tag, manifest, every SHA-256 — and hands out nothing
 * before the tag has verified (see `readBackup`).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import { z } from 'zod';

export const MAGIC = Buffer.from('TDSBKUP\n', 'latin1');
export const BACKUP_FORMAT_VERSION = 1;
const TAG_LENGTH = 16;
const MAX_HEADER = 64 * 1024;
const MAX_MANIFEST = 4 * 1024 * 1024;
export const BACKUP_SCRYPT = { N: 2 ** 17, r: 8, p: 1 } as const;

/** The file is not a usable backup; the message says why and what to do. Nothing was written. */
export class BackupRefused extends Error {}

const b64 = z.string().regex(/^[A-Za-z0-9+/]+=*$/);
const headerSchema = z.object({
  format: z.literal('tds-server-backup'),
  version: z.number().int().min(1),
  created_at: z.string().max(40),
  kdf: z.object({ name: z.literal('scrypt'), N: z.number().int().min(1024).max(2 ** 22), r: z.number().int().min(1).max(32), p: z.number().int().min(1).max(16), salt: b64 }),
  cipher: z.literal('aes-256-gcm'),
  iv: b64,
  /** Bytes of plaintext: the reader knows a truncated file before decrypting. */
  plaintext_size: z.number().int().min(4),
  /** SHA-256 of the passphrase check key: "wrong passphrase" is told apart from "modified". */
  key_check: b64,
});
export type BackupHeader = z.infer<typeof headerSchema>;

/** A relative path inside the data folder: no absolute path, no `..`, no empty or dot segments. */
const safePath = z
  .string()
  .min(1)
  .max(255)
  .refine((p) => !p.startsWith('/') && !p.includes('\\') && !p.includes('\0') && p.split('/').every((s) => s !== '' && s !== '.' && s !== '..'), 'not a safe relative path');

export const manifestSchema = z.object({
  format_version: z.number().int(),
  created_at: z.string().max(40),
  server_version: z.string().max(40),
  /** Which store backend made `store_files` (store-backup.ts). */
  store: z.object({ kind: z.string().max(20), schema_version: z.number().int().nullable() }),
  files: z
    .array(
      z.object({
        path: safePath,
        size: z.number().int().min(0),
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
        mode: z.number().int().min(0).max(0o777),
        /** Written by the store backend (restored by it), not a plain data-folder file. */
        store: z.boolean(),
      }),
    )
    .max(10_000)
    .refine((f) => new Set(f.map((x) => x.path)).size === f.length, 'duplicate paths'),
});
export type BackupManifest = z.infer<typeof manifestSchema>;
export type ManifestFile = BackupManifest['files'][number];

async function deriveKeys(passphrase: string, salt: Buffer, kdf: { N: number; r: number; p: number }): Promise<{ key: Buffer; check: Buffer }> {
  const options: ScryptOptions = { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: 256 * kdf.N * kdf.r + 1024 * 1024 };
  const out = await new Promise<Buffer>((resolve, reject) => scrypt(passphrase.normalize('NFC'), salt, 64, options, (err, k) => (err ? reject(err) : resolve(k))));
  return { key: out.subarray(0, 32), check: createHash('sha256').update(out.subarray(32)).digest() };
}

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

/** A file of the backup: its manifest entry and where its bytes come from. */
export interface BackupSource {
  entry: ManifestFile;
  file: string;
}

/** Writes the encrypted backup to `out` (a new file, 0600). */
export async function writeBackup(out: string, manifest: BackupManifest, sources: readonly BackupSource[], passphrase: string): Promise<void> {
  const manifestBytes = Buffer.from(JSON.stringify(manifest), 'utf8');
  const plaintextSize = 4 + manifestBytes.length + sources.reduce((n, s) => n + s.entry.size, 0);
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const { key, check } = await deriveKeys(passphrase, salt, BACKUP_SCRYPT);
  const header: BackupHeader = {
    format: 'tds-server-backup',
    version: BACKUP_FORMAT_VERSION,
    created_at: manifest.created_at,
    kdf: { name: 'scrypt', ...BACKUP_SCRYPT, salt: salt.toString('base64') },
    cipher: 'aes-256-gcm',
    iv: iv.toString('base64'),
    plaintext_size: plaintextSize,
    key_check: check.toString('base64'),
  };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.concat([MAGIC, u32(headerBytes.length), headerBytes]);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(prefix);
  key.fill(0);
  const fh = await fs.open(out, 'wx', 0o600);
  try {
    await fh.write(prefix);
    await fh.write(cipher.update(Buffer.concat([u32(manifestBytes.length), manifestBytes])));
    for (const s of sources) {
      let seen = 0;
      for await (const chunk of createReadStream(s.file)) {
        seen += (chunk as Buffer).length;
        await fh.write(cipher.update(chunk as Buffer));
      }
      if (seen !== s.entry.size) throw new Error(`${s.entry.path} changed while it was being backed up`);
    }
    const final = cipher.final();
    if (final.length > 0) await fh.write(final);
    await fh.write(cipher.getAuthTag());
    await fh.sync();
  } catch (err) {
    await fh.close();
    await fs.rm(out, { force: true });
    throw err;
  }
  await fh.close();
}

/** Receives the files of a backup as they are decrypted (not yet authenticated: see readBackup). */
export interface BackupSink {
  open(entry: ManifestFile): Promise<void>;
  write(chunk: Buffer): Promise<void>;
  close(entry: ManifestFile): Promise<void>;
}

async function readHeader(file: string): Promise<{ header: BackupHeader; prefix: Buffer; size: number }> {
  let st;
  try {
    st = await fs.stat(file);
  } catch (err) {
    throw new BackupRefused(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!st.isFile()) throw new BackupRefused(`${file} is not a file`);
  const fh = await fs.open(file, 'r');
  try {
    const head = Buffer.alloc(Math.min(st.size, MAGIC.length + 4 + MAX_HEADER));
    await fh.read(head, 0, head.length, 0);
    if (head.length < MAGIC.length + 4 || !head.subarray(0, MAGIC.length).equals(MAGIC)) throw new BackupRefused(`${file} is not a TDS server backup (made by "tds-server backup")`);
    const len = head.readUInt32BE(MAGIC.length);
    if (len > MAX_HEADER || MAGIC.length + 4 + len > head.length) throw new BackupRefused(`${file} is truncated or damaged: its header is incomplete`);
    const headerBytes = head.subarray(MAGIC.length + 4, MAGIC.length + 4 + len);
    let json: unknown;
    try {
      json = JSON.parse(headerBytes.toString('utf8'));
    } catch {
      throw new BackupRefused(`${file} is damaged: its header is not readable`);
    }
    const version = (json as { version?: unknown } | null)?.version;
    if (typeof version === 'number' && version > BACKUP_FORMAT_VERSION) {
      throw new BackupRefused(`${file} has backup format version ${version}; this tds-server reads version ${BACKUP_FORMAT_VERSION}: restore it with a newer tds-server`);
    }
    const parsed = headerSchema.safeParse(json);
    if (!parsed.success) throw new BackupRefused(`${file} is damaged or not a supported backup: its header is invalid (${parsed.error.issues[0]?.path.join('.') ?? ''})`);
    if (parsed.data.version !== BACKUP_FORMAT_VERSION) throw new BackupRefused(`${file} has backup format version ${parsed.data.version}; this tds-server reads version ${BACKUP_FORMAT_VERSION}`);
    const prefix = Buffer.from(head.subarray(0, MAGIC.length + 4 + len));
    const expected = prefix.length + parsed.data.plaintext_size + TAG_LENGTH;
    if (st.size < expected) throw new BackupRefused(`${file} is truncated: ${expected - st.size} bytes are missing (copy the backup again)`);
    if (st.size > expected) throw new BackupRefused(`${file} is damaged: it has ${st.size - expected} bytes more than its header says`);
    return { header: parsed.data, prefix, size: st.size };
  } finally {
    await fh.close();
  }
}

/**
 * Decrypts and checks the whole backup, passing each file's bytes to `sink` as they come. The
 * bytes are authenticated only when this resolves: a sink must write nowhere final before then
 * (restore writes into a temp folder and renames it after). Throws BackupRefused with the reason.
 */
export async function readBackup(file: string, passphrase: string, sink?: BackupSink): Promise<{ header: BackupHeader; manifest: BackupManifest }> {
  const { header, prefix, size } = await readHeader(file);
  const { key, check } = await deriveKeys(passphrase, Buffer.from(header.kdf.salt, 'base64'), header.kdf);
  const expectedCheck = Buffer.from(header.key_check, 'base64');
  if (expectedCheck.length !== check.length || !timingSafeEqual(expectedCheck, check)) {
    key.fill(0);
    throw new BackupRefused('the passphrase does not open this backup (wrong passphrase, or the header was modified)');
  }
  const fh = await fs.open(file, 'r');
  const tag = Buffer.alloc(TAG_LENGTH);
  await fh.read(tag, 0, TAG_LENGTH, size - TAG_LENGTH);
  await fh.close();
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(header.iv, 'base64'));
  key.fill(0);
  decipher.setAAD(prefix);
  decipher.setAuthTag(tag);

  // Before the tag has verified, the plaintext is not trusted: a parse error is kept and reported
  // only if the file authenticates (else the authentication failure is the reason).
  const parser = new PlaintextParser(sink);
  let parseError: unknown;
  const feed = async (data: Buffer): Promise<void> => {
    if (parseError !== undefined) return;
    try {
      await parser.push(data);
    } catch (err) {
      parseError = err;
    }
  };
  for await (const chunk of createReadStream(file, { start: prefix.length, end: size - TAG_LENGTH - 1, highWaterMark: 256 * 1024 })) {
    await feed(decipher.update(chunk as Buffer));
  }
  let final: Buffer;
  try {
    final = decipher.final();
  } catch {
    throw new BackupRefused('the backup failed authentication: it was modified or damaged after it was made (nothing was restored)');
  }
  await feed(final);
  if (parseError !== undefined) throw parseError;
  const manifest = parser.finish();
  return { header, manifest };
}

/** Splits the decrypted stream into the manifest and the files, hashing each against the manifest. */
class PlaintextParser {
  private buffered = Buffer.alloc(0);
  private manifest: BackupManifest | undefined;
  private index = 0;
  private left = 0;
  private hash = createHash('sha256');

  constructor(private readonly sink: BackupSink | undefined) {}

  async push(data: Buffer): Promise<void> {
    if (this.manifest === undefined) {
      this.buffered = Buffer.concat([this.buffered, data]);
      if (this.buffered.length < 4) return;
      const len = this.buffered.readUInt32BE(0);
      if (len > MAX_MANIFEST) throw new BackupRefused('the backup is damaged: its manifest is too large');
      if (this.buffered.length < 4 + len) return;
      let json: unknown;
      try {
        json = JSON.parse(this.buffered.subarray(4, 4 + len).toString('utf8'));
      } catch {
        throw new BackupRefused('the backup is damaged: its manifest is not readable');
      }
      const parsed = manifestSchema.safeParse(json);
      if (!parsed.success) throw new BackupRefused(`the backup's manifest is invalid: ${parsed.error.issues[0]?.path.join('.') ?? ''} ${parsed.error.issues[0]?.message ?? ''}`);
      if (parsed.data.format_version !== BACKUP_FORMAT_VERSION) throw new BackupRefused(`the backup's manifest has format version ${parsed.data.format_version}; this tds-server reads ${BACKUP_FORMAT_VERSION}`);
      this.manifest = parsed.data;
      data = this.buffered.subarray(4 + len);
      this.buffered = Buffer.alloc(0);
      await this.startNext();
    }
    while (data.length > 0) {
      const entry = this.manifest.files[this.index];
      if (!entry) throw new BackupRefused('the backup is damaged: it holds more data than its manifest lists');
      const take = data.subarray(0, this.left);
      this.hash.update(take);
      await this.sink?.write(take);
      this.left -= take.length;
      data = data.subarray(take.length);
      if (this.left === 0) await this.endCurrent();
    }
  }

  private async startNext(): Promise<void> {
    // Empty files end as soon as they start.
    while (this.manifest && this.index < this.manifest.files.length) {
      const entry = this.manifest.files[this.index]!;
      this.left = entry.size;
      this.hash = createHash('sha256');
      await this.sink?.open(entry);
      if (entry.size > 0) return;
      await this.endCurrent(false);
    }
  }

  private async endCurrent(next = true): Promise<void> {
    const entry = this.manifest!.files[this.index]!;
    if (this.hash.digest('hex') !== entry.sha256) throw new BackupRefused(`the backup is damaged: ${entry.path} does not match its SHA-256 in the manifest`);
    await this.sink?.close(entry);
    this.index++;
    if (next) await this.startNext();
  }

  finish(): BackupManifest {
    if (!this.manifest) throw new BackupRefused('the backup is damaged: it has no manifest');
    if (this.index < this.manifest.files.length) throw new BackupRefused(`the backup is damaged: ${this.manifest.files[this.index]!.path} is incomplete`);
    return this.manifest;
  }
}
