import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ssh2 from 'ssh2';
import type { ValidRequestOf } from '../../shared/ipc.js';
import { StationError } from '../../shared/ipc-errors.js';
import { V, type ValidationKey } from '../../shared/validation.js';
import type { SshAuth } from '../pi/ssh-session.js';

/** A private key file is small; anything bigger is not one. */
const MAX_KEY_BYTES = 64 * 1024;

type RequestAuth = ValidRequestOf<'field.provision'>['auth'];

function keyFileIssue(key: ValidationKey, message: string, field = 'auth.path'): StationError {
  return new StationError('INVALID_INPUT', message, { issues: [{ field, key, message }] });
}

/**
 * A key file on this station, read for one job: it must be an SSH private key (OpenSSH or PEM) that
 * opens with the passphrase given. Its content goes to ssh2 only; errors never quote it.
 */
export async function readKeyFile(file: string, passphrase?: string): Promise<Buffer> {
  let data: Buffer;
  try {
    const st = await fs.stat(file);
    if (!st.isFile() || st.size > MAX_KEY_BYTES) throw keyFileIssue(V.keyFileInvalid, `${file} is not an SSH private key.`);
    data = await fs.readFile(file);
  } catch (err) {
    if (err instanceof StationError) throw err;
    throw keyFileIssue(V.keyFileMissing, `There is no readable file at ${file} on this station.`);
  }
  const parsed = ssh2.utils.parseKey(data, passphrase);
  if (parsed instanceof Error) {
    if (!passphrase && /passphrase/i.test(parsed.message)) throw keyFileIssue(V.keyFilePassphrase, `${file} is protected by a passphrase; enter it.`, 'auth.passphrase');
    throw keyFileIssue(V.keyFileInvalid, `${file} is not an SSH private key, or its passphrase is wrong.`);
  }
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key?.isPrivateKey()) throw keyFileIssue(V.keyFileInvalid, `${file} holds a public key, not a private one.`);
  return data;
}

/** The SSH login a Field request describes (a key file is read now). */
export async function sshAuthFor(auth: RequestAuth): Promise<SshAuth> {
  switch (auth.method) {
    case 'password':
      return { method: 'password', password: auth.password };
    case 'key':
      return { method: 'key', privateKey: auth.privateKeyPem, ...(auth.passphrase ? { passphrase: auth.passphrase } : {}) };
    case 'keyFile':
      return { method: 'key', privateKey: await readKeyFile(auth.path, auth.passphrase), ...(auth.passphrase ? { passphrase: auth.passphrase } : {}) };
    case 'agent':
      return { method: 'agent' };
  }
}

/** This station user's private key files (~/.ssh/id_*, not the .pub halves), offered for "key file". */
export async function stationKeyFiles(home = os.homedir()): Promise<string[]> {
  const dir = path.join(home, '.ssh');
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return [];
  }
  const files: string[] = [];
  for (const name of names.filter((n) => /^id_[A-Za-z0-9_-]+$/.test(n)).sort()) {
    const file = path.join(dir, name);
    const st = await fs.stat(file).catch(() => undefined);
    if (st?.isFile() && st.size <= MAX_KEY_BYTES) files.push(file);
  }
  return files;
}
