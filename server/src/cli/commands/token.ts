/** `tds-server token create|revoke|list`: API tokens, shown once, stored hashed. */
import { Option, type Command } from 'commander';
import type { Role } from '../../contract/api.js';
import { createApiToken } from '../../service/tokens.js';
import { NotFoundError, StateError } from '../../store/repository.js';
import { addDatabaseOption, addDataOption, addJsonOption, CliError, cliAudit, dataDirFrom, openOffline, output, parsePositiveInt } from '../common.js';
import type { CommandModule } from './types.js';

export const tokenCommand: CommandModule = {
  register(program: Command) {
    const group = program.command('token').description('API tokens (Authorization: Token <token>)');

    const create = group
      .command('create')
      .description('create a token; it is printed once and stored only as a hash')
      .requiredOption('--account <id>', 'account id', parsePositiveInt('--account'))
      .addOption(new Option('--role <role>', 'what the token may do').choices(['admin', 'operator', 'auditor']).makeOptionMandatory())
      .option('--label <text>', 'a note to recognise the token by')
      .option('--server-admin', 'an admin of the whole server (every account, accounts, tokens, broker state); needs --role admin');
    addDataOption(create);
    addDatabaseOption(create);
    addJsonOption(create);
    create.action(async (opts: { data?: string; database?: string; json?: boolean; account: number; role: Role; label?: string; serverAdmin?: boolean }) => {
      if (opts.serverAdmin && opts.role !== 'admin') throw new CliError('--server-admin needs --role admin');
      const ctx = await openOffline(dataDirFrom(opts), opts.database);
      try {
        const { token, record } = await createApiToken(ctx.repo, { accountId: opts.account, role: opts.role, label: opts.label ?? null, serverAdmin: opts.serverAdmin ?? false }, 'cli').catch((err: unknown) => {
          throw err instanceof NotFoundError ? new CliError(err.message) : err;
        });
        output(opts.json, { id: record.id, account_id: record.accountId, role: record.role, label: record.label, server_admin: record.serverAdmin, token }, [
          `token ${record.id} (${record.role}${record.serverAdmin ? ', server admin' : ''}, account ${record.accountId}) — shown only now, keep it secret:`,
          token,
        ]);
      } finally {
        await ctx.close();
      }
    });

    const revoke = group.command('revoke').description('revoke a token at once').argument('<id>', 'token id', parsePositiveInt('token id'));
    addDataOption(revoke);
    addDatabaseOption(revoke);
    addJsonOption(revoke);
    revoke.action(async (id: number, opts: { data?: string; database?: string; json?: boolean }) => {
      const ctx = await openOffline(dataDirFrom(opts), opts.database);
      try {
        const record = await ctx.repo.revokeToken(id, cliAudit('token.revoke')).catch((err: unknown) => {
          throw err instanceof NotFoundError || err instanceof StateError ? new CliError(err.message) : err;
        });
        output(opts.json, { id: record.id, revoked_at: record.revokedAt }, `token ${record.id} revoked`);
      } finally {
        await ctx.close();
      }
    });

    const list = group.command('list').description("list an account's tokens (never the secrets)").requiredOption('--account <id>', 'account id', parsePositiveInt('--account'));
    addDataOption(list);
    addDatabaseOption(list);
    addJsonOption(list);
    list.action(async (opts: { data?: string; database?: string; json?: boolean; account: number }) => {
      const ctx = await openOffline(dataDirFrom(opts), opts.database);
      try {
        const tokens = await ctx.repo.listTokens(opts.account);
        output(
          opts.json,
          tokens.map((t) => ({ id: t.id, role: t.role, label: t.label, server_admin: t.serverAdmin, created_at: t.createdAt, revoked_at: t.revokedAt })),
          tokens.length ? tokens.map((t) => `${t.id}\t${t.role}${t.serverAdmin ? ' (server)' : ''}\t${t.label ?? ''}\t${t.revokedAt ? `revoked ${t.revokedAt}` : 'active'}`) : 'no tokens',
        );
      } finally {
        await ctx.close();
      }
    });
  },
};
