import { BackupRefused } from '@tds/server';
import { StationError } from '../../shared/ipc-errors.js';

/**
 * Why a backup file was refused, as a key the Settings screen words in each language (the server's
 * English message stays as the detail). The server says it in one sentence per cause; the station
 * sorts those sentences into the causes a person can act on.
 */
export const BACKUP_REFUSALS = ['notFound', 'notBackup', 'truncated', 'modified', 'wrongPassphrase', 'newerFormat', 'exists', 'incomplete', 'other'] as const;
export type BackupRefusal = (typeof BACKUP_REFUSALS)[number];

const CAUSES: [RegExp, BackupRefusal][] = [
  [/passphrase does not open/, 'wrongPassphrase'],
  [/cannot read .*: (ENOENT|ENOTDIR)|is not a file/, 'notFound'],
  [/is not a TDS server backup/, 'notBackup'],
  [/is truncated/, 'truncated'],
  [/failed authentication|is damaged|not readable|is invalid|does not match its SHA-256|foreign-key|integrity check|cannot be opened/, 'modified'],
  [/format version/, 'newerFormat'],
  [/already exists|appeared while/, 'exists'],
  [/lacks /, 'incomplete'],
];

export function backupRefusal(message: string): BackupRefusal {
  return CAUSES.find(([re]) => re.test(message))?.[1] ?? 'other';
}

/**
 * A backup refusal (tampered, truncated, wrong passphrase, …) as the station's error, on the field
 * to fix (the passphrase, else the file), with its cause as the issue key `backup.<cause>`; other
 * errors pass through.
 */
export function asBackupError(err: unknown): never {
  if (err instanceof BackupRefused) {
    const cause = backupRefusal(err.message);
    const field = cause === 'wrongPassphrase' ? 'passphrase' : 'path';
    throw new StationError('INVALID_INPUT', err.message, { issues: [{ field, key: `backup.${cause}`, message: err.message }] });
  }
  throw err;
}
