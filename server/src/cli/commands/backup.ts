/**
 * `tds-server backup --out FILE` (online: the server may keep running), `tds-server restore --from
 * FILE --data DIR [--check] [--database URL]` (a PostgreSQL backup goes into a new, empty database).
 * The backup's passphrase (at least 12 characters; not the CA's) comes from --passphrase-file,
 * $TDS_BACKUP_PASSPHRASE, or a hidden prompt (twice when backing up).
 */
import path from 'node:path';
import type { Command } from 'commander';
import { BackupRefused, checkBackup, createBackup, restoreBackup, type BackupSummary } from '../../backup/backup.js';
import { addDatabaseOption, addDataOption, addJsonOption, CliError, cliAudit, dataDirFrom, openOffline, output, resolvePassphrase } from '../common.js';
import type { CommandModule } from './types.js';

export const BACKUP_PASSPHRASE_ENV = 'TDS_BACKUP_PASSPHRASE';

function backupPassphrase(opts: { passphraseFile?: string }, confirm: boolean): Promise<string> {
  return resolvePassphrase(opts, confirm, { env: BACKUP_PASSPHRASE_ENV, name: 'backup passphrase' });
}

const refused = (err: unknown): never => {
  throw err instanceof BackupRefused ? new CliError(err.message) : err;
};

function describe(s: BackupSummary): Record<string, unknown> {
  return { file: s.file, bytes: s.bytes, created_at: s.createdAt, store: s.store, files: s.files };
}

export const backupCommand: CommandModule = {
  register(program: Command) {
    const backup = program
      .command('backup')
      .description('write an encrypted backup of the data folder (database snapshot, sealed CA key, config, CRL, broker files); the server may keep running')
      .requiredOption('--out <file>', 'the backup file to make (never overwritten)')
      .option('--passphrase-file <file>', `the backup's passphrase (else $${BACKUP_PASSPHRASE_ENV}, else a prompt); at least 12 characters, not the CA's`);
    addDataOption(backup);
    addDatabaseOption(backup);
    addJsonOption(backup);
    backup.action(async (opts: { data?: string; database?: string; json?: boolean; out: string; passphraseFile?: string }) => {
      const dataDir = dataDirFrom(opts);
      const s = await createBackup({ dataDir, out: opts.out, passphrase: await backupPassphrase(opts, true), ...(opts.database !== undefined ? { database: opts.database } : {}) }).catch(refused);
      const ctx = await openOffline(dataDir, opts.database);
      try {
        await ctx.repo.appendAudit(cliAudit('backup.create', `${path.basename(s.file)}: ${s.files.length} files, ${s.bytes} bytes`));
      } finally {
        await ctx.close();
      }
      output(opts.json, describe(s), `backup written: ${s.file} (${s.files.length} files, ${s.bytes} bytes, store ${s.store.kind})`);
    });

    const restore = program
      .command('restore')
      .description('verify a backup completely, then restore it into a new or empty data folder (or only verify it, --check)')
      .requiredOption('--from <file>', 'the backup file')
      .option('--check', 'only verify the file (passphrase, authentication, manifest, every checksum); write nothing')
      .option('--passphrase-file <file>', `the backup's passphrase (else $${BACKUP_PASSPHRASE_ENV}, else a prompt)`)
      .option('--database <url>', "PostgreSQL backup: the new, empty database to restore into, recorded in the restored config.json (default: $TDS_DATABASE_URL, else the backup's config.json)");
    addDataOption(restore);
    addJsonOption(restore);
    restore.action(async (opts: { data?: string; json?: boolean; from: string; check?: boolean; passphraseFile?: string; database?: string }) => {
      const passphrase = await backupPassphrase(opts, false);
      if (opts.check) {
        const s = await checkBackup({ from: opts.from, passphrase }).catch(refused);
        output(opts.json, { ok: true, ...describe(s) }, `${s.file}: verified (${s.files.length} files, made ${s.createdAt}); nothing written`);
        return;
      }
      const dataDir = dataDirFrom(opts);
      const s = await restoreBackup({ from: opts.from, dataDir, passphrase, ...(opts.database !== undefined ? { database: opts.database } : {}) }).catch(refused);
      const ctx = await openOffline(dataDir);
      try {
        await ctx.repo.appendAudit(cliAudit('backup.restore', `from ${path.basename(s.file)} made ${s.createdAt}`));
      } finally {
        await ctx.close();
      }
      output(opts.json, { ok: true, data_dir: dataDir, ...describe(s) }, `restored ${s.files.length} files into ${dataDir} (backup made ${s.createdAt}); start it with "tds-server serve --data ${dataDir}"`);
    });
  },
};
