/** `tds-server renew-expiring --within 730d`: the seed's renovar_certificados, without locking devices out. */
import type { Command } from 'commander';
import { addDatabaseOption, addDataOption, addJsonOption, addPassphraseOption, dataDirFrom, openSigning, output, parseDuration, resolvePassphrase } from '../common.js';
import type { CommandModule } from './types.js';

export const renewExpiringCommand: CommandModule = {
  register(program: Command) {
    const cmd = program
      .command('renew-expiring')
      .description('issue a pending successor (same key) for every active device certificate expiring soon; it becomes active when the device confirms it')
      .option('--within <duration>', 'expiring within (e.g. 730d, 8w, 2y)', '730d')
      .option('--dry-run', 'only list what would be renewed');
    addDataOption(cmd);
    addDatabaseOption(cmd);
    addJsonOption(cmd);
    addPassphraseOption(cmd);
    cmd.action(async (opts: { data?: string; database?: string; json?: boolean; passphraseFile?: string; within: string; dryRun?: boolean }) => {
      const within = parseDuration(opts.within);
      const ctx = await openSigning(dataDirFrom(opts), await resolvePassphrase(opts), opts.database);
      try {
        const { renewed } = await ctx.service.renewals.renewExpiring(within, 'cli', opts.dryRun ?? false);
        output(
          opts.json,
          { dry_run: opts.dryRun ?? false, count: renewed.length, renewed: renewed.map((r) => ({ mac_address: r.mac, old_serial: r.oldSerial, old_expires_at: r.oldExpiresAt, new_serial: r.newSerial })) },
          [
            ...renewed.map((r) => `${r.mac}\t${r.oldSerial} (expires ${r.oldExpiresAt}) → ${r.newSerial ?? '(dry run)'}`),
            `${opts.dryRun ? 'would renew' : 'renewed'} ${renewed.length} certificate(s)`,
          ],
        );
      } finally {
        await ctx.close();
      }
    });
  },
};
