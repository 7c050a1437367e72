import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { FileSecretStore, SECRET_FILES, type SecretStore } from './secret-store.js';

/**
 * Moves the secrets an older station kept in the plain `secrets.json` into the keychain-encrypted
 * store, then deletes the plain file (its bytes overwritten first). A secret already in the
 * encrypted store is newer and wins. Nothing is deleted unless every secret was moved. Returns the
 * names moved (never the values).
 */
export async function migratePlainSecrets(dataDir: string, target: SecretStore & { names(): Promise<string[]> }): Promise<string[]> {
  if (target.kind === 'file') return [];
  const file = path.join(dataDir, SECRET_FILES.file);
  if (!existsSync(file)) return [];
  const plain = new FileSecretStore(file);
  const have = new Set(await target.names());
  const moved: string[] = [];
  for (const name of await plain.names()) {
    if (have.has(name)) continue;
    const value = await plain.get(name);
    if (value === undefined) continue;
    await target.set(name, value);
    moved.push(name);
  }
  await shred(file);
  return moved;
}

/** Overwrites a small file in place, syncs, and removes it (best effort against a later undelete). */
async function shred(file: string): Promise<void> {
  const handle = await fs.open(file, 'r+');
  try {
    const { size } = await handle.stat();
    await handle.write(Buffer.alloc(size), 0, size, 0);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rm(file);
}
