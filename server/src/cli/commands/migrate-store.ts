/**
 * `tds-server migrate-store --to postgres://…`: moves a SQLite installation into an empty
 * PostgreSQL database (store/postgres/copy-from-sqlite.ts: every table, one transaction, counts and
 * serials checked before COMMIT). The data folder is left as it was; `--use` also records the
 * PostgreSQL URL in config.json, so every later command and `serve` use it.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { checkPostgresUrl } from '../../config/database.js';
import { dataPath, loadSettings, saveSettings } from '../../config/data-dir.js';
import { describePostgresUrl } from '../../store/backend.js';
import { addDataOption, addJsonOption, CliError, dataDirFrom, output } from '../common.js';
import type { CommandModule } from './types.js';

interface MigrateOpts {
  data?: string;
  json?: boolean;
  to: string;
  use?: boolean;
}

export const migrateStoreCommand: CommandModule = {
  register(program: Command) {
    const cmd = program
      .command('migrate-store')
      .description('copy this data folder\'s SQLite store into an empty PostgreSQL database (stop the server first)')
      .requiredOption('--to <url>', 'the empty PostgreSQL database, e.g. postgres://tds@db:5432/tds (password from PGPASSWORD or ~/.pgpass)')
      .option('--use', 'afterwards, record the URL in config.json so the server and the CLI use PostgreSQL');
    addDataOption(cmd);
    addJsonOption(cmd);
    cmd.action(async (opts: MigrateOpts) => {
      const dataDir = dataDirFrom(opts);
      let url: string;
      try {
        url = checkPostgresUrl(opts.to, '--database');
      } catch (err) {
        throw new CliError((err as Error).message.replace(/^--database/, '--to'));
      }
      const settings = await loadSettings(dataDir);
      const caPem = await readFile(dataPath(dataDir, 'caCert'), 'utf8').catch(() => {
        throw new CliError(`${dataPath(dataDir, 'caCert')} is missing: is ${dataDir} a data folder made by "tds-server init"?`);
      });
      const { migrateSqliteStore } = await import('../../store/postgres/migrate-store.js');
      const report = await migrateSqliteStore({
        sqliteFile: dataPath(dataDir, 'database'),
        postgresUrl: url,
        caPem,
        onTable: opts.json ? undefined : (name, rows) => process.stderr.write(`  ${name}: ${rows} rows\n`),
      }).catch((err: unknown) => {
        throw new CliError((err as Error).message);
      });
      if (opts.use) {
        settings.database = { ...settings.database, url };
        await saveSettings(dataDir, settings);
      }
      const target = describePostgresUrl(url);
      output(
        opts.json,
        { to: target, tables: Object.fromEntries(report.tables.map((t) => [t.name, t.rows])), serials: report.serials, serials_sha256: report.serialsSha256, config_updated: opts.use ?? false },
        [
          `copied ${report.tables.reduce((n, t) => n + t.rows, 0)} rows in ${report.tables.length} tables to ${target}; counts and ${report.serials} certificate serials checked`,
          opts.use ? `config.json now uses ${target}` : `next: tds-server serve --data ${dataDir} --database ${url} (or put "database": {"url": …} in config.json)`,
        ],
      );
    });
  },
};
