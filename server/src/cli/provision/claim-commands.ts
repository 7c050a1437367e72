/**
 * tds-provision's zero-touch commands (docs/zero-touch.md §7.3): `claim` (preview first, then approve
 * after a confirmation unless --yes), `claim-reject`, and `birth-identity` for scripting the bench.
 */
import path from 'node:path';
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import type { ApiClient } from '../../client/api-client.js';
import type { ClaimCredentials, ClaimPreviewResponse } from '../../contract/bootstrap.js';
import { parseMac } from '../../contract/mac.js';
import { writeFileAtomic } from '../../util/atomic-file.js';
import { escapeControlChars } from '../../util/escape.js';
import { CliError, output, parsePositiveInt } from '../common.js';
import { gatewayDir } from './output-dir.js';

type ClientFactory = () => Promise<{ api: ApiClient; json: boolean }>;

interface DeviceOpts {
  qr?: string;
  code?: string;
  mac?: string;
  claimSecret?: string;
  yes?: boolean;
}

function credentials(o: DeviceOpts): ClaimCredentials {
  const ways = [o.qr !== undefined, o.code !== undefined, o.claimSecret !== undefined].filter(Boolean).length;
  if (ways === 1 && o.qr !== undefined && o.mac === undefined) return { qr: o.qr };
  if (ways === 1 && o.code !== undefined && o.mac !== undefined) return { mac_address: o.mac, activation_code: o.code };
  if (ways === 1 && o.claimSecret !== undefined && o.mac !== undefined) return { mac_address: o.mac, claim_secret: o.claimSecret };
  throw new CliError('name the device one way: --qr PAYLOAD (label or device QR), or --code XXXX-XXXX --mac MAC (code on the device, MAC on its housing), or --claim-secret S --mac MAC (label typed by hand)');
}

const addDeviceOptions = (cmd: Command): Command =>
  cmd
    .option('--qr <payload>', 'the scanned QR text (TDS:B1:… from a label, TDS:C1:… from a device)')
    .option('--code <XXXX-XXXX>', 'the activation code the device shows (with --mac)')
    .option('--mac <mac>', 'the MAC printed on the device housing (with --code or --claim-secret)')
    .option('--claim-secret <secret>', 'the claim secret printed on the label, typed by hand (with --mac)')
    .option('--yes', 'do not ask for confirmation after the preview');

/** The preview as lines; device-supplied text is escaped (it could hold terminal control sequences). */
function previewLines(p: ClaimPreviewResponse): string[] {
  const fp = p.key_fingerprint.slice(0, 16).replace(/(.{4})(?=.)/g, '$1 ');
  return [
    'Device asking to join:',
    `  MAC          ${p.mac_address}`,
    `  path         ${p.path === 'attested' ? `bench-born (birth certificate ${p.birth_serial_number ?? '?'})` : 'open enrolment (activation code)'}`,
    `  model        ${escapeControlChars(p.model ?? '-')}`,
    `  firmware     ${escapeControlChars(p.firmware_version ?? '-')}`,
    `  key          ${p.key_type}, fingerprint ${fp} (compare with what the device shows)`,
    `  asked at     ${p.requested_at} from ${p.source_ip ?? 'unknown address'}`,
    `  expires at   ${p.expires_at}`,
    ...(p.problem ? [`  problem      ${p.problem}`] : []),
  ];
}

async function confirm(question: string, yes: boolean | undefined): Promise<void> {
  if (yes) return;
  if (!process.stdin.isTTY) throw new CliError('confirmation needed and there is no terminal to ask on: check the preview and run again with --yes');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = (await rl.question(`${question} [y/N] `)).trim().toLowerCase();
    if (answer !== 'y' && answer !== 'yes') throw new CliError('not confirmed; nothing was changed');
  } finally {
    rl.close();
  }
}

export function registerClaimCommands(program: Command, client: ClientFactory, readCsrFile: (file: string) => string): void {
  addDeviceOptions(
    program
      .command('claim')
      .description('claim a device that asked to join (zero-touch): shows what the server saw, then approves it for the account after confirmation')
      .requiredOption('--conta-id <id>', 'account id (the token\'s)', parsePositiveInt('--conta-id'))
      .requiredOption('--codigo <code>', 'gateway code, e.g. GW001')
      .requiredOption('--nome <name>', 'descriptive name'),
  ).action(async (opts: DeviceOpts & { contaId: number; codigo: string; nome: string }) => {
    const creds = credentials(opts);
    const { api, json } = await client();
    try {
      const preview = await api.claimPreview(creds);
      if (!json) process.stderr.write(previewLines(preview).join('\n') + '\n');
      if (!preview.mac_available) throw new CliError(preview.problem ?? `MAC ${preview.mac_address} cannot be claimed by this account`);
      await confirm(`Approve ${preview.mac_address} for conta_id ${opts.contaId} as ${opts.codigo} "${escapeControlChars(opts.nome)}"?`, opts.yes);
      const r = await api.claim({ ...creds, conta_id: opts.contaId, codigo: opts.codigo, nome: opts.nome, bootstrap_id: preview.bootstrap_id });
      output(json, { preview, claim: r }, [
        `approved: gateway ${r.gateway_id} (${r.mac_address}, ${r.codigo}), certificate ${r.serial_number} valid until ${r.expires_at}`,
        'the device fetches its certificate on its next poll and then connects to the broker',
      ]);
    } finally {
      api.close();
    }
  });

  addDeviceOptions(
    program
      .command('claim-reject')
      .description('reject a device that asked to join (e.g. its key fingerprint differs from what the device shows)')
      .option('--reason <text>', 'why (recorded)'),
  ).action(async (opts: DeviceOpts & { reason?: string }) => {
    const creds = credentials(opts);
    const { api, json } = await client();
    try {
      const preview = await api.claimPreview(creds);
      if (!json) process.stderr.write(previewLines(preview).join('\n') + '\n');
      await confirm(`Reject this request of ${preview.mac_address}?`, opts.yes);
      const r = await api.claimReject({ ...creds, bootstrap_id: preview.bootstrap_id, ...(opts.reason ? { reason: opts.reason } : {}) });
      output(json, r, `rejected ${r.bootstrap_id} (${preview.mac_address}): ${r.reason}`);
    } finally {
      api.close();
    }
  });

  program
    .command('birth-identity')
    .description('give a board a birth identity at the bench (zero-touch): birth certificate + single-use claim secret for its label')
    .requiredOption('--mac <mac>', 'MAC address (aa:bb:cc:dd:ee:ff)')
    .requiredOption('--csr <file>', 'certificate request (PEM) for the birth key, CN = the MAC, made where the key lives')
    .option('--model <text>', 'board model, recorded')
    .option('--replace', 'revoke an existing birth identity of the MAC and issue a new one')
    .option('--output <dir>', 'also save <dir>/<mac>/birth.crt, birth-ca.crt and label.txt (0600: holds the claim secret)')
    .action(async (opts: { mac: string; csr: string; model?: string; replace?: boolean; output?: string }) => {
      const mac = parseMac(opts.mac);
      if (!mac.ok) throw new CliError(mac.error);
      const csrPem = readCsrFile(opts.csr);
      const { api, json } = await client();
      try {
        const r = await api.issueBirthIdentity({ mac_address: mac.mac, csr_pem: csrPem, ...(opts.model ? { model: opts.model } : {}), ...(opts.replace ? { replace: true } : {}) });
        const files: string[] = [];
        if (opts.output) {
          const dir = gatewayDir(opts.output, mac.mac);
          const put = async (name: string, data: string, mode: number): Promise<void> => {
            await writeFileAtomic(path.join(dir, name), data, mode);
            files.push(path.join(dir, name));
          };
          await put('birth.crt', r.birth_certificate_pem, 0o644);
          await put('birth-ca.crt', r.birth_ca_pem, 0o644);
          await put('label.txt', `${r.label_qr}\nMAC ${r.mac_address}\nclaim secret ${r.claim_secret}\n`, 0o600);
        }
        output(json, { ...r, files }, [
          `birth identity for ${r.mac_address}: certificate ${r.serial_number} valid until ${r.expires_at}`,
          `label QR: ${r.label_qr}`,
          'the claim secret is shown only now: print the label before you close this',
          ...files.map((f) => `saved ${f}`),
        ]);
      } finally {
        api.close();
      }
    });
}
