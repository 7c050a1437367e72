/** `tds-server account create|list`. */
import type { Command } from 'commander';
import { addDatabaseOption, addDataOption, addJsonOption, CliError, cliAudit, dataDirFrom, openOffline, output } from '../common.js';
import type { CommandModule } from './types.js';

export const accountCommand: CommandModule = {
  register(program: Command) {
    const group = program.command('account').description('accounts (conta): every gateway, certificate and token belongs to one');
    const create = group.command('create').description('create an account').requiredOption('--name <name>', 'account name');
    addDataOption(create);
    addDatabaseOption(create);
    addJsonOption(create);
    create.action(async (opts: { data?: string; database?: string; json?: boolean; name: string }) => {
      const name = opts.name.trim();
      if (name.length < 1 || name.length > 100) throw new CliError('--name must be 1-100 characters');
      const ctx = await openOffline(dataDirFrom(opts), opts.database);
      try {
        const account = await ctx.repo.createAccount(name, cliAudit('account.create', `name=${name}`));
        output(opts.json, { id: account.id, name: account.name, created_at: account.createdAt }, `account ${account.id} created: ${account.name}`);
      } finally {
        await ctx.close();
      }
    });

    const list = group.command('list').description('list accounts');
    addDataOption(list);
    addDatabaseOption(list);
    addJsonOption(list);
    list.action(async (opts: { data?: string; database?: string; json?: boolean }) => {
      const ctx = await openOffline(dataDirFrom(opts), opts.database);
      try {
        const accounts = await ctx.repo.listAccounts();
        output(
          opts.json,
          accounts.map((a) => ({ id: a.id, name: a.name, is_active: a.isActive, created_at: a.createdAt })),
          accounts.length ? accounts.map((a) => `${a.id}\t${a.name}${a.isActive ? '' : ' (disabled)'}`) : 'no accounts',
        );
      } finally {
        await ctx.close();
      }
    });
  },
};
