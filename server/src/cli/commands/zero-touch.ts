/**
 * `tds-server zero-touch`: shows and changes the zero-touch onboarding settings (config.json →
 * `bootstrap`, docs/zero-touch.md §5). A running server reads them at start: restart it after a change.
 */
import { Option, type Command } from 'commander';
import { bootstrapSettingsSchema, loadSettings, saveSettings } from '../../config/data-dir.js';
import { addDataOption, addJsonOption, CliError, dataDirFrom, output, parsePositiveInt } from '../common.js';
import type { CommandModule } from './types.js';

interface Opts {
  data?: string;
  json?: boolean;
  openEnrolment?: 'on' | 'off';
  pendingMinutes?: number;
  fetchHours?: number;
  pollSeconds?: number;
  serverUrl?: string;
}

export const zeroTouchCommand: CommandModule = {
  register(program: Command) {
    const cmd = program.command('zero-touch').description('show or change the zero-touch onboarding settings (restart serve to apply)');
    addDataOption(cmd);
    addJsonOption(cmd);
    cmd
      .addOption(new Option('--open-enrolment <on|off>', 'allow devices without a birth identity to ask (they show a code)').choices(['on', 'off']))
      .option('--pending-minutes <n>', 'lifetime of a pending request (1-1440, default 30)', parsePositiveInt('--pending-minutes'))
      .option('--fetch-hours <n>', 'how long an approved certificate waits for its device (1-168, default 24)', parsePositiveInt('--fetch-hours'))
      .option('--poll-seconds <n>', 'poll interval given to devices (1-300, default 5)', parsePositiveInt('--poll-seconds'))
      .option('--server-url <url>', 'https:// API base URL given to bench-born devices ("" to unset)')
      .action(async (opts: Opts) => {
        const dataDir = dataDirFrom(opts);
        const settings = await loadSettings(dataDir);
        const next = { ...settings.bootstrap };
        if (opts.openEnrolment) next.openEnrolment = opts.openEnrolment === 'on';
        if (opts.pendingMinutes !== undefined) next.pendingMinutes = opts.pendingMinutes;
        if (opts.fetchHours !== undefined) next.fetchHours = opts.fetchHours;
        if (opts.pollSeconds !== undefined) next.pollSeconds = opts.pollSeconds;
        if (opts.serverUrl !== undefined) {
          if (opts.serverUrl === '') delete next.serverUrl;
          else next.serverUrl = opts.serverUrl;
        }
        const checked = bootstrapSettingsSchema.safeParse(next);
        if (!checked.success) {
          const i = checked.error.issues[0]!;
          throw new CliError(`${i.path.join('.')}: ${i.message}`);
        }
        const changed = JSON.stringify(checked.data) !== JSON.stringify(settings.bootstrap);
        if (changed) await saveSettings(dataDir, { ...settings, bootstrap: checked.data });
        const b = checked.data;
        output(opts.json, { ...b, changed }, [
          `open enrolment: ${b.openEnrolment ? 'ON (devices without a birth identity may ask; an operator approves by code + MAC)' : 'off'}`,
          `pending requests live ${b.pendingMinutes} min; approved certificates wait ${b.fetchHours} h; devices poll every ${b.pollSeconds} s`,
          `caps: ${b.maxPendingPerMac} pending per MAC, ${b.maxPendingTotal} in total; ${b.perAddressPerMinute} requests/min per address; ${b.admissionPerSecond}/s server-wide`,
          `server URL for bench-born devices: ${b.serverUrl ?? '(not set: the station uses its own)'}`,
          ...(changed ? ['saved; restart tds-server serve to apply'] : []),
        ]);
      });
  },
};
