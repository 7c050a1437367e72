/**
 * `tds-server backup` / `restore`: the whole data folder — the store (a consistent online snapshot,
 * store-backup.ts), the sealed CA key(s), certificates, config, CRL, broker and identity files —
 * in one encrypted file with a manifest of SHA-256 checksums (container.ts).
 *
 * Restore refuses a non-empty target, verifies the whole file before it writes anything, then
 * decrypts again into a temp folder next to the target, checks the store, and renames the folder into
 * place: the target is either the complete restored data folder or absent.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { DATA_FILES } from '../config/data-dir.js';
import { SERVER_VERSION } from '../version.js';
import { BACKUP_FORMAT_VERSION, BackupRefused, readBackup, writeBackup, type BackupManifest, type BackupSink, type BackupSource, type ManifestFile } from './container.js';
import { storeBackupFor, storeBackupOfKind } from './store-backup.js';

export const MIN_BACKUP_PASSPHRASE_LENGTH = 12;
/**
 * Files a restored data folder cannot work without. The CA key is the sealed file, or — when it lives
 * in a PKCS#11 token, which a backup cannot hold — the note saying where it is (the token is backed up
 * with its own tools; see docs/deployment.md).
 */
const REQUIRED: readonly (readonly string[])[] = [[DATA_FILES.settings], [DATA_FILES.caCert], [DATA_FILES.caKey, DATA_FILES.caKeyPkcs11]];

function missingOf(paths: readonly string[]): string[] {
  return REQUIRED.filter((any) => !any.some((r) => paths.includes(r))).map((any) => any.join(' or '));
}

const iso = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Every regular file of the folder, relative, except the store's own and temp files. */
async function dataFiles(dir: string, skip: ReadonlySet<string>, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(path.join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (skip.has(rel) || (e.name.startsWith('.') && e.name.endsWith('.tmp'))) continue;
    if (e.isDirectory()) out.push(...(await dataFiles(dir, skip, rel)));
    else if (e.isFile()) out.push(rel);
    // Symbolic links, sockets and pipes are not data; they are left out.
  }
  return out.sort();
}

export interface BackupSummary {
  file: string;
  bytes: number;
  createdAt: string;
  files: { path: string; size: number; sha256: string }[];
  store: { kind: string; schemaVersion: number | null };
}

function summary(file: string, bytes: number, m: BackupManifest): BackupSummary {
  return {
    file,
    bytes,
    createdAt: m.created_at,
    files: m.files.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 })),
    store: { kind: m.store.kind, schemaVersion: m.store.schema_version },
  };
}

/** Makes `out` (refused if it exists). The server may keep running and issuing meanwhile. */
export async function createBackup(o: { dataDir: string; out: string; passphrase: string; database?: string }): Promise<BackupSummary> {
  if (o.passphrase.length < MIN_BACKUP_PASSPHRASE_LENGTH) throw new BackupRefused(`the backup passphrase must have at least ${MIN_BACKUP_PASSPHRASE_LENGTH} characters`);
  const out = path.resolve(o.out);
  if (await fs.lstat(out).catch(() => undefined)) throw new BackupRefused(`${out} already exists; choose a new file name (a backup never overwrites)`);
  const store = await storeBackupFor(o.dataDir, o.database);
  // Staging next to the output: the same file system, and never a shared temp folder.
  const staging = await fs.mkdtemp(path.join(path.dirname(out), '.tds-backup-'));
  await fs.chmod(staging, 0o700);
  const partial = `${out}.${randomBytes(6).toString('hex')}.partial`;
  try {
    const snap = await store.snapshot(o.dataDir, staging);
    const sources: BackupSource[] = [];
    const add = async (rel: string, from: string, isStore: boolean): Promise<void> => {
      const st = await fs.stat(from);
      sources.push({ file: from, entry: { path: rel, size: st.size, sha256: await sha256File(from), mode: st.mode & 0o777, store: isStore } });
    };
    for (const f of snap.files) await add(f, path.join(staging, f), true);
    // Plain files are copied first, so each is taken whole even if the server replaces it meanwhile.
    const plain = path.join(staging, 'files');
    for (const rel of await dataFiles(o.dataDir, new Set(store.ownedFiles))) {
      const copy = path.join(plain, rel);
      await fs.mkdir(path.dirname(copy), { recursive: true, mode: 0o700 });
      await fs.copyFile(path.join(o.dataDir, rel), copy);
      await fs.chmod(copy, (await fs.stat(path.join(o.dataDir, rel))).mode & 0o777);
      await add(rel, copy, false);
    }
    const missing = missingOf(sources.map((s) => s.entry.path));
    if (missing.length > 0) throw new BackupRefused(`${o.dataDir} lacks ${missing.join(', ')}: is it a data folder made by "tds-server init"?`);
    const manifest: BackupManifest = {
      format_version: BACKUP_FORMAT_VERSION,
      created_at: iso(),
      server_version: SERVER_VERSION,
      store: { kind: store.kind, schema_version: snap.schemaVersion },
      files: sources.map((s) => s.entry),
    };
    await writeBackup(partial, manifest, sources, o.passphrase);
    if (await fs.lstat(out).catch(() => undefined)) throw new BackupRefused(`${out} appeared while the backup was written; it was left alone`);
    await fs.rename(partial, out);
    return summary(out, (await fs.stat(out)).size, manifest);
  } finally {
    await fs.rm(partial, { force: true });
    await fs.rm(staging, { recursive: true, force: true });
  }
}

/** Verifies the whole file (passphrase, authentication, manifest, every checksum); writes nothing. */
export async function checkBackup(o: { from: string; passphrase: string }): Promise<BackupSummary> {
  const { manifest } = await readBackup(o.from, o.passphrase);
  await storeBackupOfKind(manifest.store.kind);
  const missing = missingOf(manifest.files.map((f) => f.path));
  if (missing.length > 0) throw new BackupRefused(`the backup lacks ${missing.join(', ')}; it cannot make a working data folder`);
  return summary(path.resolve(o.from), (await fs.stat(o.from)).size, manifest);
}

/** Writes the decrypted files under `root` (a fresh temp folder). */
class FolderSink implements BackupSink {
  private fh: fs.FileHandle | undefined;

  constructor(private readonly root: string) {}

  async open(entry: ManifestFile): Promise<void> {
    const file = path.join(this.root, ...entry.path.split('/'));
    // The manifest's paths were checked to be relative without "..": this stays inside root.
    if (!file.startsWith(this.root + path.sep)) throw new BackupRefused(`the backup names a file outside the data folder: ${entry.path}`);
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    this.fh = await fs.open(file, 'wx', 0o600);
  }

  async write(chunk: Buffer): Promise<void> {
    await this.fh!.write(chunk);
  }

  async close(entry: ManifestFile): Promise<void> {
    await this.fh!.chmod(entry.mode);
    await this.fh!.sync();
    await this.fh!.close();
    this.fh = undefined;
  }

  async abort(): Promise<void> {
    await this.fh?.close().catch(() => undefined);
  }
}

/**
 * Restores into `dataDir`, which must not exist or be an empty folder; a PostgreSQL store into a new,
 * empty database (`database`, else $TDS_DATABASE_URL, else the backup's config.json).
 */
export async function restoreBackup(o: { from: string; dataDir: string; passphrase: string; database?: string }): Promise<BackupSummary> {
  const target = path.resolve(o.dataDir);
  const existing = await fs.lstat(target).catch(() => undefined);
  if (existing) {
    if (!existing.isDirectory()) throw new BackupRefused(`${target} exists and is not a folder; restore into a new or empty folder`);
    if ((await fs.readdir(target)).length > 0) throw new BackupRefused(`${target} is not empty; restore into a new or empty folder (nothing was written)`);
  } else if (!(await fs.lstat(path.dirname(target)).catch(() => undefined))?.isDirectory()) {
    throw new BackupRefused(`${path.dirname(target)} does not exist; create it first`);
  }
  // 1. The whole file is verified before anything is written.
  await checkBackup(o);
  // 2. Decrypted again into a temp folder beside the target (verified again as it goes: the file may
  //    have changed since step 1), the store checked, then renamed into place.
  const temp = await fs.mkdtemp(path.join(path.dirname(target), `.${path.basename(target)}.restore-`));
  await fs.chmod(temp, 0o700);
  const sink = new FolderSink(temp);
  try {
    const { manifest } = await readBackup(o.from, o.passphrase, sink);
    await (await storeBackupOfKind(manifest.store.kind)).restore(temp, { ...(o.database !== undefined ? { database: o.database } : {}), schemaVersion: manifest.store.schema_version });
    if (existing) await fs.rmdir(target);
    await fs.rename(temp, target);
    const dir = await fs.open(path.dirname(target), 'r');
    await dir.sync().finally(() => dir.close());
    return summary(path.resolve(o.from), (await fs.stat(o.from)).size, manifest);
  } catch (err) {
    await sink.abort();
    await fs.rm(temp, { recursive: true, force: true });
    throw err;
  }
}

export { BackupRefused };
