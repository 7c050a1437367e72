/**
 * `tds-server renew-expiring --within 730d`: the seed's renovar_certificados, without locking devices
 * out. The same run as serve's scheduled sweep (recorded for /healthz, audited); the oneshot command
 * of the systemd timer alternative (docs/server.md). The pending successors it makes are delivered
 * by the running server's MQTT side when each device is online.
 */
import type { Command } from 'commander';
import { resolveSchedule } from '../../config/schedule.js';
import { PartialRunError, type RenewalRunOutcome } from '../../service/scheduled-jobs.js';
import { addDatabaseOption, addDataOption, addJsonOption, addPassphraseOption, dataDirFrom, openSigning, output, parseDuration, resolveCaUnlock } from '../common.js';
import type { CommandModule } from './types.js';

const DAY_MS = 86_400_000;

export const renewExpiringCommand: CommandModule = {
  register(program: Command) {
    const cmd = program
      .command('renew-expiring')
      .description('issue a pending successor (same key) for every active device certificate expiring soon; the server delivers it to the device over MQTT, and it becomes active when the device confirms it')
      .option('--within <duration>', 'expiring within (e.g. 730d, 8w, 2y; default: config.json\'s schedule, a fifth of the certificate lifetime)')
      .option('--dry-run', 'only list what would be renewed');
    addDataOption(cmd);
    addDatabaseOption(cmd);
    addJsonOption(cmd);
    addPassphraseOption(cmd);
    cmd.action(async (opts: { data?: string; database?: string; json?: boolean; passphraseFile?: string; pinFile?: string; within?: string; dryRun?: boolean }) => {
      const dataDir = dataDirFrom(opts);
      const ctx = await openSigning(dataDir, await resolveCaUnlock(dataDir, opts), opts.database);
      try {
        const schedule = resolveSchedule(ctx.settings.schedule, {}, ctx.settings.device.validityDays).renewal;
        const within = opts.within !== undefined ? parseDuration(opts.within) : schedule.withinMs;
        let renewed;
        let cancelled = 0;
        let failed: RenewalRunOutcome['failed'] = [];
        if (opts.dryRun) renewed = (await ctx.service.renewals.renewExpiring(within, 'cli', true)).renewed;
        else {
          // Undelivered renewals that would expire before the next sweep are cancelled.
          const r = await ctx.service.jobs.renewal('cli', within, schedule.everyMs ?? DAY_MS).catch((err: unknown) => {
            if (err instanceof PartialRunError) return err.outcome as RenewalRunOutcome;
            throw err;
          });
          ({ renewed, cancelled, failed } = r);
        }
        output(
          opts.json,
          {
            dry_run: opts.dryRun ?? false,
            count: renewed.length,
            cancelled,
            failed: failed.map((f) => ({ mac_address: f.mac, serial: f.serial, error: f.error })),
            renewed: renewed.map((r) => ({ mac_address: r.mac, old_serial: r.oldSerial, old_expires_at: r.oldExpiresAt, new_serial: r.newSerial })),
          },
          [
            ...renewed.map((r) => `${r.mac}\t${r.oldSerial} (expires ${r.oldExpiresAt}) → ${r.newSerial ?? '(dry run)'}`),
            ...failed.map((f) => `${f.mac}\t${f.serial}: NOT renewed: ${f.error}`),
            `${opts.dryRun ? 'would renew' : 'renewed'} ${renewed.length} certificate(s)${cancelled > 0 ? `; ${cancelled} undelivered renewal(s) cancelled` : ''}`,
          ],
        );
        if (failed.length > 0) process.exitCode = 1;
      } finally {
        await ctx.close();
      }
    });
  },
};
