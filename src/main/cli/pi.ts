import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Option, type Command } from 'commander';
import type { JobSnapshot } from '../../shared/jobs.js';
import type { ApiClientIssuer } from '../certs/api-client-issuer.js';
import { runHeadless } from '../jobs/headless.js';
import { JobFailure, toJobError } from '../jobs/job-failure.js';
import { defaultDataDir } from '../log/paths.js';
import { StationLog } from '../log/station-log.js';
import type { BrokerMonitor } from '../monitor/broker-monitor.js';
import { HostKeyStore } from '../pi/host-key-store.js';
import { piJobSettings } from '../pi/job-settings.js';
import { piProvisionJob } from '../pi/pi-job.js';
import { describeProbe, probePiHost } from '../pi/probe.js';
import type { SshAuth, SshTarget } from '../pi/ssh-session.js';
import { loadProfileFile, resolveSecret } from './profile-file.js';
import { issuerFrom, monitorFrom, operatorFrom, printProfileWarnings, stationIdFrom } from './run-context.js';

interface SshFlags {
  host: string;
  sshPort: string;
  user: string;
  key?: string;
  passphraseEnv?: string;
  passwordEnv?: string;
  agent?: boolean;
  hostKey?: string;
  strictHostKey?: boolean;
  dataDir?: string;
  json?: boolean;
}

interface ProvisionFlags extends SshFlags {
  profile: string;
  sudoPasswordEnv?: string;
  replace?: boolean;
  gatewayCode?: string;
  mac?: string;
  stationId?: string;
  operator?: string;
}

/** A secret named by a `--…-env VAR` flag. */
function envValue(name: string, what: string): string {
  return resolveSecret({ env: name }, what);
}

async function sshTarget(f: SshFlags): Promise<SshTarget> {
  const port = Number(f.sshPort);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new JobFailure('PROFILE_INVALID', `--ssh-port ${f.sshPort} is not a port number.`);
  const chosen = [f.key !== undefined, f.passwordEnv !== undefined, f.agent === true].filter(Boolean).length;
  if (chosen > 1) throw new JobFailure('PROFILE_INVALID', 'Give only one of --key, --password-env and --agent.');
  let auth: SshAuth;
  if (f.key !== undefined) {
    const privateKey = await readFile(f.key).catch((err: unknown) => {
      throw new JobFailure('SSH_AUTH_FAILED', `Cannot read the key file ${f.key}: ${(err as Error).message}`);
    });
    auth = { method: 'key', privateKey, ...(f.passphraseEnv ? { passphrase: envValue(f.passphraseEnv, 'The key passphrase') } : {}) };
  } else if (f.passwordEnv !== undefined) {
    auth = { method: 'password', password: envValue(f.passwordEnv, 'The SSH password') };
  } else if (f.agent || process.env.SSH_AUTH_SOCK) {
    auth = { method: 'agent' };
  } else {
    throw new JobFailure('SSH_AUTH_FAILED', 'No way to log in was given.', { hint: 'Use --key FILE, --password-env VAR or --agent (with ssh-agent running).' });
  }
  return { host: f.host, port, username: f.user, auth };
}

function hostKeys(f: SshFlags): HostKeyStore {
  return HostKeyStore.inDataDir(f.dataDir ? path.resolve(f.dataDir) : defaultDataDir());
}

function sshOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--host <host>', 'Pi address or host name')
    .option('--ssh-port <port>', 'SSH port', '22')
    .requiredOption('--user <user>', 'SSH user on the Pi')
    .option('--key <file>', 'private key file (OpenSSH or PEM)')
    .option('--passphrase-env <VAR>', 'environment variable holding the key passphrase')
    .option('--password-env <VAR>', 'environment variable holding the SSH password')
    .option('--agent', 'log in through ssh-agent (SSH_AUTH_SOCK)')
    .addOption(new Option('--host-key <SHA256:...>', 'accept only this host key fingerprint on first contact').conflicts('strictHostKey'))
    .option('--strict-host-key', 'refuse hosts whose key is not pinned yet (default: pin on first use)')
    .option('--data-dir <dir>', 'station data folder (pinned host keys, station log)')
    .option('--json', 'print the result as JSON');
}

function printFailure(err: unknown, json: boolean | undefined): void {
  const e = toJobError(err);
  if (json) process.stdout.write(`${JSON.stringify({ ok: false, error: e })}\n`);
  process.stderr.write(`error ${e.code}: ${e.message}\n${e.hint ? `hint: ${e.hint}\n` : ''}`);
  process.exitCode = 1;
}

/** `tds-station pi probe|provision`: the Raspberry Pi field flow without the UI. */
export function registerPiCommands(program: Command): void {
  const pi = program.command('pi').description('Raspberry Pi gateways over SSH');

  sshOptions(pi.command('probe').description('connect, pin the host key, and show model, MAC, OS, Python and agent state (changes nothing)'))
    .option('--profile <file>', 'profile JSON (for pi.installPrefix / pi.serviceManager)')
    .action(async (f: SshFlags & { profile?: string }) => {
      try {
        const file = f.profile ? await loadProfileFile(f.profile) : undefined;
        if (file) printProfileWarnings(file);
        const profile = file?.profile;
        const r = await probePiHost(await sshTarget(f), {
          hostKeys: hostKeys(f),
          hostKeyPolicy: f.strictHostKey ? 'known' : 'accept-new',
          ...(f.hostKey ? { expectedHostKey: f.hostKey } : {}),
          ...(profile?.pi ? { installPrefix: profile.pi.installPrefix, serviceManager: profile.pi.serviceManager } : {}),
          ...(profile?.pi?.python ? { python: profile.pi.python } : {}),
        });
        if (f.json) process.stdout.write(`${JSON.stringify({ ok: true, hostKey: r.hostKey, probe: r.probe }, null, 2)}\n`);
        else {
          process.stdout.write(`${f.user}@${f.host}:${f.sshPort} host key ${r.hostKey.keyType} ${r.hostKey.fingerprint}\n${describeProbe(r.probe)}\n`);
        }
      } catch (err) {
        printFailure(err, f.json);
      }
    });

  sshOptions(pi.command('provision').description('give the Pi its own key (made on the Pi), certificate, agent and service, and wait until it is online'))
    .requiredOption('--profile <file>', 'profile JSON (server, account, broker, pi section)')
    .option('--sudo-password-env <VAR>', 'environment variable holding the sudo password (when sudo asks for one)')
    .option('--replace', 'if the MAC already has an active certificate, give the Pi a new identity (default: stop)')
    .option('--gateway-code <code>', 'gateway codigo (default: the profile template)')
    .option('--mac <mac>', 'identity MAC to use instead of the primary interface of the Pi')
    .option('--station-id <id>', 'station id recorded in the log (default: from the host name)')
    .option('--operator <name>', 'operator recorded in the log (default: profile operator or OS user)')
    .action(async (f: ProvisionFlags) => {
      let log: StationLog | undefined;
      let issuer: ApiClientIssuer | undefined;
      let monitor: BrokerMonitor | undefined;
      try {
        const file = await loadProfileFile(f.profile);
        printProfileWarnings(file);
        const target = await sshTarget(f);
        const dataDir = f.dataDir ? path.resolve(f.dataDir) : defaultDataDir();
        const stationId = stationIdFrom(f.stationId);
        log = StationLog.open(path.join(dataDir, 'station-log.sqlite'), { stationId });
        issuer = issuerFrom(file, 'device', { timeoutMs: 20_000 });
        const settings = piJobSettings(file.profile, {
          operator: operatorFrom(f.operator, file),
          stationId,
          reprovision: f.replace ? 'replace' : 'stop',
          hostKeyPolicy: f.strictHostKey ? 'known' : 'accept-new',
          loginUser: f.user,
          ...(f.hostKey ? { expectedHostKey: f.hostKey } : {}),
          ...(f.gatewayCode ? { gatewayCode: f.gatewayCode } : {}),
          ...(f.mac ? { mac: f.mac } : {}),
        });
        const sudoPassword = f.sudoPasswordEnv ? envValue(f.sudoPasswordEnv, 'The sudo password') : undefined;
        monitor = await monitorFrom(file);
        let lastSteps = '';
        const [job] = await runHeadless({
          jobs: [
            piProvisionJob({
              target,
              issuer,
              ...(monitor ? { monitor } : {}),
              hostKeys: HostKeyStore.inDataDir(dataDir),
              settings,
              ...(sudoPassword !== undefined ? { sudoPassword } : {}),
              // Nobody to answer: a refused or missing sudo password fails the job at once.
              askSudoPassword: false,
            }),
          ],
          log,
          onUpdate: (s) => {
            const line = s.steps.map((st) => `${st.name}:${st.status}`).join(' ');
            if (line !== lastSteps) {
              lastSteps = line;
              const running = s.steps.find((st) => st.status === 'running');
              if (running) process.stderr.write(`[${s.target}] ${running.name}…\n`);
            }
          },
          onLog: (l) => process.stderr.write(`[${l.step ?? '-'}] ${l.text}\n`),
        });
        report(job!, f.json);
      } catch (err) {
        printFailure(err, f.json);
      } finally {
        await monitor?.close().catch(() => undefined);
        issuer?.close();
        log?.close();
      }
    });
}

function report(job: JobSnapshot, json: boolean | undefined): void {
  if (json) process.stdout.write(`${JSON.stringify({ ok: job.state === 'succeeded', job }, null, 2)}\n`);
  if (job.state === 'succeeded') {
    if (!json) {
      process.stdout.write(`${job.target}: ${job.mac} online, gateway ${job.gatewayCode} (id ${job.gatewayId}), certificate ${job.certificateSerial} until ${job.certificateExpiresAt}\n`);
    }
    return;
  }
  const e = job.error;
  process.stderr.write(`${job.target}: ${job.state}${e ? ` — ${e.code}: ${e.message}${e.where ? ` (${e.where})` : ''}\n${e.hint ? `hint: ${e.hint}` : ''}` : ''}\n`);
  process.exitCode = 1;
}
