import { createInterface } from 'node:readline/promises';
import { ApiClient } from '@tds/server/client';
import type { Command } from 'commander';
import { claimMac, ClaimApproveInputSchema, ClaimDeviceSchema, ClaimRejectInputSchema, type ClaimDevice, type ClaimPreviewView } from '../../shared/claims.js';
import { StationError } from '../../shared/ipc-errors.js';
import { toFieldIssues } from '../../shared/validation.js';
import { expandTemplate } from '../certs/device-identity.js';
import { ClaimDesk } from '../claims/claim-desk.js';
import { previewLines, refusalText } from '../claims/claim-text.js';
import { JobFailure } from '../jobs/job-failure.js';
import type { BrokerMonitor } from '../monitor/broker-monitor.js';
import { loadProfileFile, resolveSecret, type ProfileFile } from './profile-file.js';
import { monitorFrom, printProfileWarnings } from './run-context.js';

interface ClaimOptions {
  profile: string;
  qr?: string;
  code?: string;
  mac?: string;
  claimSecret?: string;
  contaId?: number;
  codigo?: string;
  nome?: string;
  yes?: boolean;
  reject?: boolean;
  reason?: string;
  waitOnline: number;
  json?: boolean;
}

/** Exit codes: 0 done, 1 refused or failed, 2 bad input (options, profile file). */
class InputError extends Error {}

function deviceFrom(o: ClaimOptions): ClaimDevice {
  const ways = [o.qr, o.code, o.claimSecret].filter((v) => v !== undefined).length;
  let device: ClaimDevice | undefined;
  if (ways === 1 && o.qr !== undefined && o.mac === undefined) device = { by: 'qr', qr: o.qr };
  else if (ways === 1 && o.code !== undefined && o.mac !== undefined) device = { by: 'code', mac: o.mac, code: o.code };
  else if (ways === 1 && o.claimSecret !== undefined && o.mac !== undefined) device = { by: 'label', mac: o.mac, claimSecret: o.claimSecret };
  if (!device) throw new InputError('name the device one way: --qr PAYLOAD (label or device QR), --code XXXX-XXXX --mac MAC (code on the device, MAC on its housing), or --claim-secret S --mac MAC (label typed by hand)');
  const checked = ClaimDeviceSchema.safeParse(device);
  if (!checked.success) throw new InputError(toFieldIssues(checked.error).map((i) => `${OPTION[i.field] ?? i.field}: ${i.message}`).join('; '));
  return device;
}

/** The option each field of the contract comes from, for messages. */
const OPTION: Record<string, string> = { qr: '--qr', mac: '--mac', code: '--code', claimSecret: '--claim-secret', accountId: '--conta-id', gatewayCode: '--codigo', name: '--nome' };

async function confirm(question: string, yes: boolean | undefined): Promise<boolean> {
  if (yes) return true;
  if (!process.stdin.isTTY) throw new InputError('confirmation needed and there is no terminal to ask on: check the preview and run again with --yes');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = (await rl.question(`${question} [y/N] `)).trim().toLowerCase();
    return answer === 'y' || answer === 'yes';
  } finally {
    rl.close();
  }
}

/**
 * `tds-station claim`: the Claim screen's flow without a screen, for a profile file's server and
 * account — preview (what the server saw), confirm, approve (or `--reject`), then wait until the
 * station's monitor sees the device online. Progress on stderr, a JSON summary on stdout.
 */
export function registerClaimCommand(program: Command): void {
  program
    .command('claim')
    .description('claim a device that asked to join (zero-touch): preview, confirm, approve, and wait until the broker sees it online')
    .requiredOption('--profile <file>', 'profile file: server (URL, token, pinned CA), accountId, code/name templates, monitor identity')
    .option('--qr <payload>', 'the scanned QR text (TDS:B1:… from a label, TDS:C1:… from a device)')
    .option('--code <XXXX-XXXX>', 'the activation code the device shows (with --mac)')
    .option('--mac <mac>', 'the MAC printed on the device housing (with --code or --claim-secret)')
    .option('--claim-secret <secret>', 'the claim secret printed on the label, typed by hand (with --mac)')
    .option('--conta-id <id>', "account (default: the profile's accountId)", (v) => Number(v))
    .option('--codigo <code>', "gateway code (default: the profile's code template)")
    .option('--nome <name>', "gateway name (default: the profile's name template)")
    .option('--yes', 'do not ask for confirmation after the preview')
    .option('--reject', 'reject the request instead (e.g. its fingerprint differs from what the device shows)')
    .option('--reason <text>', 'why it is rejected (recorded)')
    .option('--wait-online <seconds>', 'how long to wait for the device on the broker (0: do not wait; needs the profile\'s monitor)', (v) => Number(v), 300)
    .option('--json', 'the summary only, as JSON on stdout')
    .action(async (opts: ClaimOptions) => {
      try {
        process.exitCode = await claim(opts);
      } catch (err) {
        const e = err as Error;
        const hint = err instanceof JobFailure || err instanceof StationError ? err.hint : undefined;
        process.stderr.write(`error: ${e.message}\n${hint ? `hint: ${hint}\n` : ''}`);
        process.exitCode = err instanceof InputError || (err instanceof JobFailure && err.code === 'PROFILE_INVALID') || (err instanceof StationError && err.code === 'INVALID_INPUT') ? 2 : 1;
      }
    });
}

async function claim(opts: ClaimOptions): Promise<number> {
  const device = deviceFrom(opts);
  const file = await loadProfileFile(opts.profile);
  printProfileWarnings(file);
  const say = (line: string): void => {
    if (!opts.json) process.stderr.write(`${line}\n`);
  };
  const out = (value: unknown): void => void process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  const api = new ApiClient({ baseUrl: file.server.url, token: resolveSecret(file.server.token, 'server.token'), ...(file.server.caPem ? { caPem: file.server.caPem } : {}), timeoutMs: 20_000 });
  try {
    const desk = new ClaimDesk(async () => api);
    const looked = await desk.preview(ClaimDeviceSchema.parse(device));
    if (!looked.ok) {
      say(`not claimed: ${refusalText(looked.refusal, claimMac(device))}`);
      out({ result: 'refused', refusal: looked.refusal });
      return 1;
    }
    const preview = looked.value;
    for (const l of previewLines(preview)) say(l);
    if (opts.reject) return await reject(desk, device, preview, opts, say, out);
    if (!preview.macAvailable) {
      say(`not claimed: ${preview.problem ?? `${preview.mac} cannot be claimed by this account`}`);
      out({ result: 'refused', preview });
      return 1;
    }
    const accountId = opts.contaId ?? file.profile.accountId;
    const request = ClaimApproveInputSchema.safeParse({
      device,
      bootstrapId: preview.bootstrapId,
      accountId,
      gatewayCode: opts.codigo ?? expandTemplate(file.profile.codeTemplate, preview.mac),
      name: opts.nome ?? expandTemplate(file.profile.nameTemplate, preview.mac),
    });
    if (!request.success) throw new InputError(toFieldIssues(request.error).map((i) => `${OPTION[i.field] ?? i.field}: ${i.message}`).join('; '));
    const r = request.data;
    if (!(await confirm(`Approve ${preview.mac} for conta_id ${r.accountId} as ${r.gatewayCode} "${r.name}"?`, opts.yes))) {
      say('not confirmed; nothing was changed');
      out({ result: 'not-confirmed', preview });
      return 1;
    }
    // Watching starts before the approval: the device may connect within a second of it.
    const monitor = await watcher(file, opts.waitOnline, say);
    try {
      const approvedAt = Date.now();
      const approved = await desk.approve(r);
      if (!approved.ok) {
        say(`not claimed: ${refusalText(approved.refusal, preview.mac)}`);
        out({ result: 'refused', preview, refusal: approved.refusal });
        return 1;
      }
      const a = approved.value;
      say(`approved: gateway ${a.gatewayId} (${a.mac}, ${a.gatewayCode}), certificate ${a.certificateSerial} valid until ${a.expiresAt}`);
      const online = monitor ? await waitOnline(monitor, a.mac, approvedAt, opts.waitOnline, say) : null;
      out({ result: 'approved', preview, approved: a, online });
      return online === false ? 1 : 0;
    } finally {
      await monitor?.close();
    }
  } finally {
    api.close();
  }
}

async function reject(
  desk: ClaimDesk,
  device: ClaimDevice,
  preview: ClaimPreviewView,
  opts: ClaimOptions,
  say: (l: string) => void,
  out: (v: unknown) => void,
): Promise<number> {
  if (!(await confirm(`Reject this request of ${preview.mac}?`, opts.yes))) {
    say('not confirmed; nothing was changed');
    return 1;
  }
  const r = await desk.reject(ClaimRejectInputSchema.parse({ device, bootstrapId: preview.bootstrapId, ...(opts.reason ? { reason: opts.reason } : {}) }));
  if (!r.ok) {
    say(`not rejected: ${refusalText(r.refusal, preview.mac)}`);
    out({ result: 'refused', preview, refusal: r.refusal });
    return 1;
  }
  say(`rejected ${r.value.bootstrapId} (${preview.mac}): ${r.value.reason}`);
  out({ result: 'rejected', preview, rejected: r.value });
  return 0;
}

/** The profile's monitor identity on the broker, when the command waits for the device. */
async function watcher(file: ProfileFile, seconds: number, say: (l: string) => void): Promise<BrokerMonitor | undefined> {
  if (!seconds || seconds <= 0) return undefined;
  if (!file.monitor) {
    say('the profile has no monitor identity: not waiting for the device on the broker');
    return undefined;
  }
  return monitorFrom(file);
}

/** true: seen online; false: not within the time. */
async function waitOnline(monitor: BrokerMonitor, mac: string, since: number, seconds: number, say: (l: string) => void): Promise<boolean> {
  say(`waiting up to ${seconds} s for ${mac} to fetch its certificate and connect to the broker…`);
  try {
    await monitor.waitForOnline(mac, { since, timeoutMs: seconds * 1000 });
    say(`the broker sees ${mac} online`);
    return true;
  } catch (err) {
    say((err as Error).message);
    return false;
  }
}
