/**
 * `tds-server crl`: re-sign the CRL now (a running server picks it up and announces it). The same run
 * as serve's scheduled re-sign (recorded for /healthz, audited); the systemd timer's oneshot command.
 */
import type { Command } from 'commander';
import { addDatabaseOption, addDataOption, addJsonOption, addPassphraseOption, dataDirFrom, openSigning, output, resolveCaUnlock } from '../common.js';
import type { CommandModule } from './types.js';

export const crlCommand: CommandModule = {
  register(program: Command) {
    const cmd = program.command('crl').description('re-sign the CRL now and write <data>/crl.pem');
    addDataOption(cmd);
    addDatabaseOption(cmd);
    addJsonOption(cmd);
    addPassphraseOption(cmd);
    cmd.action(async (opts: { data?: string; database?: string; json?: boolean; passphraseFile?: string; pinFile?: string }) => {
      const dataDir = dataDirFrom(opts);
      const ctx = await openSigning(dataDir, await resolveCaUnlock(dataDir, opts), opts.database);
      try {
        const crl = await ctx.service.jobs.crl('cli');
        const revoked = (await ctx.repo.listRevoked()).length;
        output(
          opts.json,
          { crl_number: crl.crlNumber, this_update: crl.thisUpdate, next_update: crl.nextUpdate, revoked_count: revoked, file: `${ctx.dataDir}/crl.pem` },
          `CRL ${crl.crlNumber} signed (${revoked} revoked), next update ${crl.nextUpdate}`,
        );
      } finally {
        await ctx.close();
      }
    });
  },
};
