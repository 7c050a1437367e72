import path from 'node:path/posix';
import type { ProvisionResponse } from '@tds/server/contract';
import { localText } from '../../shared/local-text.js';
import { parseMac } from '@tds/server/contract';
import { checkIssuedCertificate, expandTemplate, obtainCertificate, type DeviceIdentity, type IdentityMemory } from '../certs/device-identity.js';
import { awaitOnlineAndConfirm, watchOnline } from '../certs/online-proof.js';
import { JobFailure, isAbortError } from '../jobs/job-failure.js';
import type { JobContext, StepHandle } from '../jobs/types.js';
import { loadAgentBundle, locateAgentDir, type AgentBundle } from './agent-bundle.js';
import { connectTrusted } from './host-key-trust.js';
import type { PiJobInput, PiJobSettings } from './job-input.js';
import { describeProbe, probeFacts, probePi, probeText, type PiProbe } from './probe.js';
import { installScript } from './install-script.js';
import { RemoteShell, shQuote, type Privilege } from './remote-shell.js';
import { SshConnectionLost, type SshSession } from './ssh-session.js';
import { establishSudoPassword } from './sudo-password.js';

/** What the prepare step hands on: the agent bundle and whether the Debian packages were checked already. */
interface Prepared {
  bundle: AgentBundle;
  /** The probe found every package the agent needs: the installer need not look again. */
  depsChecked: boolean;
}

/**
 * One attempt of the Pi job: a method per step, each given what the earlier ones produced. The fields
 * hold what the clean-up after a failure needs: how far the Pi got (files staged, identity committed)
 * and the session, shell and upload folder to undo it with.
 */
export class PiJobRun {
  private session: SshSession | undefined;
  private shell: RemoteShell | undefined;
  private uploadDir: string | undefined;
  private installer = '';
  private staged = false;
  private committed = false;
  /** The certificate this run got (a pending successor when the MAC already had one). */
  private identity: DeviceIdentity | undefined;

  constructor(
    private readonly ctx: JobContext,
    private readonly input: PiJobInput,
    private readonly memory: IdentityMemory,
  ) {}

  private get s(): PiJobSettings {
    return this.input.settings;
  }

  private get prefixArgs(): string[] {
    return ['--prefix', this.s.installPrefix];
  }

  /** One step; a dropped SSH connection becomes a failure the technician can act on. */
  private step<T>(name: string, fn: (step: StepHandle) => Promise<T>): Promise<T> {
    return this.ctx.step(name, async (h) => {
      try {
        return await fn(h);
      } catch (err) {
        if (err instanceof SshConnectionLost) throw sshLost(err, name);
        // ssh2 reports some channel failures (SFTP "No response from server") just before the close.
        if (this.session && !(err instanceof JobFailure) && !isAbortError(err) && (await this.session.closedWithin(500))) {
          throw sshLost(new SshConnectionLost(`the ${name} step`), name);
        }
        throw err;
      }
    });
  }

  async run(): Promise<void> {
    const { ctx } = this;
    try {
      const session = await this.step('connect', (step) => this.connect(step));
      this.session = session;
      const { probe, shell } = await this.step('probe', (step) => this.probe(step, session));
      if (this.input.probeOnly) {
        // A look at the Pi, nothing changed: what it is, its MAC and whether it has an identity.
        if (probe.mac) ctx.update({ mac: probe.mac });
        if (probe.identity) ctx.update({ certificateSerial: probe.identity.serialNumber });
        return;
      }
      const mac = this.s.mac ? canonicalMac(this.s.mac) : probe.mac;
      if (!mac) {
        throw new JobFailure('REMOTE_COMMAND_FAILED', 'Could not read the MAC of the Pi\'s primary interface.', {
          hint: 'Check that the Pi has a network interface with a default route, or give the MAC in the job.',
          text: localText('core:pi.error.noMac'),
          hintText: localText('core:pi.error.noMacHint'),
        });
      }
      if (this.s.mac) ctx.log(`using the MAC given for this job (${mac}) instead of the probed one (${probe.mac ?? 'none'})`, 'warn');
      const codigo = this.s.gatewayCode ?? expandTemplate(this.s.codeTemplate, mac);
      const nome = expandTemplate(this.s.nameTemplate, mac);
      ctx.update({ mac, gatewayCode: codigo });

      const prepared = await this.step('prepare', (step) => this.prepare(step, shell, probe));
      const csrPem = await this.step('key', (step) => this.makeKey(step, shell, mac));
      const identity = await this.step('certificate', (step) => this.certificate(step, { mac_address: mac, codigo, nome, conta_id: this.s.accountId, csr_pem: csrPem }));
      const since = await this.step('install', (step) => this.install(step, shell, prepared, identity.response, mac, codigo));
      const watch = watchOnline(this.input.monitor, mac, { since, timeoutMs: this.s.onlineTimeoutMs, signal: ctx.signal });
      await awaitOnlineAndConfirm({ ctx, identity, watch, device: 'Pi', runStep: (name, run) => this.step(name, run) });
      await this.step('finalize', (step) => this.finalize(step, shell, identity));
    } catch (err) {
      await this.cleanUpAfterFailure(err);
      await this.identity?.release(ctx, isAbortError(err, ctx.signal) ? 'job cancelled' : 'job failed');
      throw err;
    } finally {
      this.session?.close();
    }
  }

  // ---- connect ---------------------------------------------------------------------------------
  private connect(step: StepHandle): Promise<SshSession> {
    const { target, hostKeys } = this.input;
    return connectTrusted(this.ctx, step, {
      target,
      hostKeys,
      policy: this.s.hostKeyPolicy,
      retry: { waitForBoot: this.s.waitForBoot ?? false },
      ...(this.s.expectedHostKey ? { expectedHostKey: this.s.expectedHostKey } : {}),
    });
  }

  // ---- probe -----------------------------------------------------------------------------------
  private async probe(step: StepHandle, session: SshSession): Promise<{ probe: PiProbe; shell: RemoteShell }> {
    const agentDir = this.input.agentDir ?? locateAgentDir();
    const probe = await probePi(session, {
      agentDir,
      installPrefix: this.s.installPrefix,
      python: this.s.python,
      serviceManager: this.s.serviceManager,
      signal: step.signal,
    });
    this.ctx.update({ facts: probeFacts(probe) });
    step.detail(describeProbe(probe), probeText(probe));
    if (!probe.isRaspberryPi) step.log('this host reports no Raspberry Pi model and no Raspberry Pi MAC prefix; continuing', 'warn');
    if (!probe.python) {
      const text = localText('core:pi.error.noPython', { python: this.s.python });
      if (this.input.probeOnly) step.log(`Python 3 was not found at ${this.s.python}`, 'warn');
      else throw new JobFailure('REMOTE_COMMAND_FAILED', `Python 3 was not found at ${this.s.python} on the Pi.`, { hint: 'Install it: sudo apt-get install -y python3', text, hintText: localText('core:pi.error.noPythonHint') });
    }
    if (this.s.serviceManager === 'systemd' && !probe.systemd) {
      if (this.input.probeOnly) step.log('the profile asks for systemd but this host does not run it', 'warn');
      else {
        throw new JobFailure('PROFILE_INVALID', 'The profile asks for systemd but the host does not run systemd.', {
          hint: 'Set pi.serviceManager to "none" for hosts without systemd.',
          text: localText('core:pi.error.noSystemd'),
          hintText: localText('core:pi.error.noSystemdHint'),
        });
      }
    }
    this.shell = new RemoteShell(session, privilegeFromProbe(probe));
    return { probe, shell: this.shell };
  }

  // ---- prepare ---------------------------------------------------------------------------------
  private async prepare(step: StepHandle, shell: RemoteShell, probe: PiProbe): Promise<Prepared> {
    if (shell.privilegeKind === 'sudo-password') {
      const { target, sudoPassword, askSudoPassword } = this.input;
      await establishSudoPassword(this.ctx, step, shell, { target, ...(sudoPassword !== undefined ? { given: sudoPassword } : {}), mayAsk: askSudoPassword !== false });
    }
    else if (shell.privilegeKind === 'none') step.log(`${this.input.target.username} may not use sudo: installing without root (works only where this user may write)`, 'warn');
    const bundle = await loadAgentBundle(this.input.agentDir ?? locateAgentDir());
    const cached = probe.agentBundle === bundle.sha256;
    if (cached) {
      // The same agent is installed: nothing to upload (its installer stages it from where it is).
      this.installer = this.installedInstaller();
      step.log(`agent files already installed (bundle ${bundle.sha256.slice(0, 12)}): not uploaded`);
    } else {
      const tmp = await shell.run(['sh', '-c', 'mktemp -d "${TMPDIR:-/tmp}/tds-pi.XXXXXXXX"'], { what: 'make a private upload folder', signal: step.signal });
      const uploadDir = (this.uploadDir = tmp.trim());
      if (!/^\/[A-Za-z0-9._/-]*\/tds-pi\.[A-Za-z0-9]+$/.test(uploadDir)) {
        throw new JobFailure('REMOTE_COMMAND_FAILED', `mktemp gave an unexpected folder: ${uploadDir.slice(0, 80)}`);
      }
      const agentDir = path.join(uploadDir, 'agent');
      await shell.session.mkdir(agentDir, 0o755);
      await shell.session.mkdir(path.join(agentDir, 'gateway_agent'), 0o755);
      let done = 0;
      await Promise.all(
        bundle.files.map(async (f) => {
          await shell.session.writeFile(path.join(agentDir, f.rel), f.data, f.mode);
          step.progress(++done / bundle.files.length, `agent files: ${done} of ${bundle.files.length}`);
        }),
      );
      this.installer = path.join(agentDir, 'install.sh');
      step.log(`uploaded ${bundle.files.length} agent files (bundle ${bundle.sha256.slice(0, 12)})`);
    }
    const missing = probe.missingPackages;
    if (missing === null) {
      await shell.run(['sh', this.installer, 'check', '--python', this.s.python], { what: 'check the Debian packages the agent needs', signal: step.signal });
    } else if (missing.length > 0) {
      const packages = missing.join(' ');
      throw new JobFailure('REMOTE_COMMAND_FAILED', `The Pi lacks Debian packages the agent needs: ${packages}.`, {
        hint: `Install them on the Pi (sudo apt-get install -y ${packages}), then retry.`,
        text: localText('core:pi.error.missingPackages', { packages }),
        hintText: localText('core:pi.error.missingPackagesHint', { packages }),
      });
    } else step.log('the Debian packages the agent needs are installed (checked by the probe)');
    step.log(`privileges on the Pi: ${shell.privilegeKind}`);
    const short = bundle.sha256.slice(0, 12);
    step.detail(
      `agent bundle ${short}${cached ? ' (cached on the Pi)' : ' uploaded'}; privileges: ${shell.privilegeKind}`,
      cached ? localText('core:pi.detail.prepareCached', { bundle: short }) : localText('core:pi.detail.prepareUploaded', { bundle: short, files: bundle.files.length }),
    );
    return { bundle, depsChecked: missing !== null };
  }

  // ---- key on the Pi ---------------------------------------------------------------------------
  private async makeKey(step: StepHandle, shell: RemoteShell, mac: string): Promise<string> {
    const out = await shell.run(['sh', this.installer, 'keygen', ...this.prefixArgs, '--cn', mac], {
      privileged: true,
      what: 'make the key and CSR',
      signal: step.signal,
      timeoutMs: 60_000,
    });
    this.staged = true;
    const m = /-----BEGIN CERTIFICATE REQUEST-----[\s\S]+?-----END CERTIFICATE REQUEST-----/.exec(out);
    if (!m) throw new JobFailure('REMOTE_COMMAND_FAILED', 'openssl on the Pi did not print a CSR.');
    step.detail(`EC P-256 key made on the Pi (mode 0600, never leaves it); CSR for CN=${mac}`, localText('core:pi.detail.key', { mac }));
    return `${m[0]}\n`;
  }

  // ---- certificate -----------------------------------------------------------------------------
  private async certificate(step: StepHandle, request: { mac_address: string; codigo: string; nome: string; conta_id: number; csr_pem: string }): Promise<DeviceIdentity> {
    const identity = await obtainCertificate({
      ctx: this.ctx,
      step,
      issuer: this.input.issuer,
      request,
      keyOrigin: 'device',
      policy: this.s.reprovision,
      memory: this.memory,
      device: 'Pi',
    });
    this.identity = identity;
    const response = identity.response;
    checkIssuedCertificate(response, request.mac_address);
    this.ctx.update({ gatewayId: response.gateway_id, certificateSerial: response.serial_number, certificateExpiresAt: response.expires_at });
    step.detail(
      `serial ${response.serial_number}, expires ${response.expires_at}${identity.previous ? ` (pending; replaces ${identity.previous.serialNumber})` : ''}`,
      identity.previous
        ? localText('core:stepDetail.certificateReplacing', { serial: response.serial_number, expires: response.expires_at, previous: identity.previous.serialNumber })
        : localText('core:stepDetail.certificate', { serial: response.serial_number, expires: response.expires_at }),
    );
    return identity;
  }

  // ---- install ---------------------------------------------------------------------------------
  private async install(step: StepHandle, shell: RemoteShell, prepared: Prepared, issued: ProvisionResponse, mac: string, codigo: string): Promise<number> {
    const { bundle, depsChecked } = prepared;
    const config = agentConfig(this.s, codigo);
    const script = installScript(
      { 'client.crt': issued.certificate_pem, 'ca.crt': issued.ca_pem, 'config.json': JSON.stringify(config, null, 2) + '\n' },
      this.installer,
      [
        ...this.prefixArgs,
        '--service-manager', this.s.serviceManager,
        '--user', this.s.serviceUser,
        '--python', this.s.python,
        '--agent-from', path.dirname(this.installer),
        '--bundle-hash', bundle.sha256,
        ...(depsChecked ? ['--deps-checked'] : []),
      ],
    );
    const since = Date.now();
    let installedSerial: string | undefined;
    const out = await shell.exec(script.argv, {
      stdin: script.stdin,
      privileged: true,
      what: 'install the certificate, configuration and agent',
      signal: step.signal,
      timeoutMs: 120_000,
      onLine: (line) => {
        if (/^installed mac=/.test(line)) {
          this.committed = true;
          installedSerial = /serial=(\S+)/.exec(line)?.[1];
        }
        if (line.trim()) step.log(line.trim());
      },
    });
    if (out.code !== 0) {
      const reason = out.stderr.split('\n').map((l) => l.replace(/^ERROR:\s*/, '').trim()).filter(Boolean).join(' ').slice(0, 500);
      throw new JobFailure('REMOTE_COMMAND_FAILED', `install.sh failed on the Pi (exit ${out.code}): ${reason}`, {
        ...(out.code === 3 ? { hint: 'Install the Debian packages named above on the Pi (sudo apt-get install -y ...), then retry.' } : {}),
        text: localText('core:pi.error.installFailed', { code: String(out.code ?? out.signal ?? '?'), reason }),
      });
    }
    this.staged = false;
    if (installedSerial && normaliseSerial(installedSerial) !== normaliseSerial(issued.serial_number)) {
      throw new JobFailure('REMOTE_COMMAND_FAILED', `The Pi reports certificate ${installedSerial} installed, not ${issued.serial_number}.`, {
        text: localText('core:pi.error.serialMismatch', { installed: installedSerial, issued: issued.serial_number }),
      });
    }
    step.detail(
      `certificate ${issued.serial_number}, config and ${this.s.serviceManager === 'systemd' ? 'gateway-mqtt.service' : 'agent'} installed for ${mac}; restarted`,
      localText('core:pi.detail.install', { serial: issued.serial_number, mac }),
    );
    return since;
  }

  // ---- finalize --------------------------------------------------------------------------------
  private async finalize(step: StepHandle, shell: RemoteShell, identity: DeviceIdentity): Promise<void> {
    // One command: drop the backups and, when agent files were uploaded, their folder.
    const dropUploads = this.uploadDir ? `; rm -rf -- ${shQuote(this.uploadDir)}` : '';
    await shell.run(['sh', '-c', `sh "$0" finalize --prefix "$1" </dev/null || exit $?${dropUploads}`, this.installedInstaller(), this.s.installPrefix], {
      privileged: true,
      what: 'drop the previous identity',
      signal: step.signal,
    });
    this.uploadDir = undefined;
    const previous = identity.previous;
    if (previous) step.detail(`previous identity removed from the Pi; certificate ${previous.serialNumber} superseded`, localText('core:pi.detail.finalizeSuperseded', { serial: previous.serialNumber }));
    else step.detail('backups removed', localText('core:pi.detail.finalize'));
  }

  private installedInstaller(): string {
    return path.join(this.s.installPrefix, 'opt/gateway-iot/install.sh');
  }

  private async removeUploadDir(): Promise<void> {
    if (!this.uploadDir || !this.session || this.session.isClosed) return;
    await this.session.exec(`rm -rf -- '${this.uploadDir}'`, { timeoutMs: 20_000 }).catch(() => undefined);
    this.uploadDir = undefined;
  }

  /** Leaves the Pi as it was: staged files dropped, or the previous identity and service restored. */
  private async cleanUpAfterFailure(err: unknown): Promise<void> {
    const { ctx } = this;
    const shell = this.shell;
    // Once the Pi was seen online with the new certificate it is in use: no rollback any more.
    const online = this.identity?.onlineSeen ?? false;
    if (!shell || !this.session || this.session.isClosed) {
      if (this.committed && !online) {
        ctx.log(
          `the SSH connection is gone: the Pi could not be checked or rolled back and may run certificate ${this.identity?.serial ?? '?'}${this.identity?.pending ? ', which is cancelled now' : ''} (re-run the job)`,
          'warn',
        );
      }
      return;
    }
    const cancelled = isAbortError(err);
    try {
      if (this.committed && !online) {
        ctx.log('rolling back to the previous identity and service');
        await shell.run(['sh', this.installedInstaller(), 'rollback', ...this.prefixArgs, '--service-manager', this.s.serviceManager, '--user', this.s.serviceUser], {
          privileged: true,
          what: 'roll back',
          timeoutMs: 60_000,
        });
      } else if (this.staged) {
        await shell.run(['sh', this.installer, 'abort', ...this.prefixArgs], { privileged: true, what: 'drop the staged files', timeoutMs: 30_000 });
      }
    } catch (cleanupErr) {
      ctx.log(`clean-up on the Pi failed: ${(cleanupErr as Error).message}`, 'warn');
    }
    await this.removeUploadDir();
    if (cancelled) ctx.log('cancelled; the Pi keeps its previous state');
  }
}

/** How privileged commands will run, from what the probe found (a sudo password is asked for in prepare). */
function privilegeFromProbe(probe: PiProbe): Privilege {
  if (probe.uid === 0) return { kind: 'root' };
  if (probe.sudo === 'nopasswd') return { kind: 'sudo-nopasswd' };
  if (probe.sudo === 'password') return { kind: 'sudo-password', password: '' };
  return { kind: 'none' };
}

/** The agent's `config.json`: the profile's extra fields, then the gateway code, broker, paths and who provisioned it. */
function agentConfig(s: PiJobSettings, codigo: string): Record<string, unknown> {
  const etc = path.join(s.installPrefix, 'etc/gateway-iot');
  const extra = s.agentConfig ?? {};
  const mqttExtra = typeof extra.mqtt === 'object' && extra.mqtt !== null ? (extra.mqtt as Record<string, unknown>) : {};
  return {
    ...extra,
    gateway_code: codigo,
    mqtt: { ...mqttExtra, host: s.broker.host, port: s.broker.port },
    paths: { certs_dir: path.join(etc, 'certs'), state_dir: path.join(s.installPrefix, 'var/lib/gateway-iot') },
    ...(s.modbus !== undefined ? { modbus: s.modbus } : {}),
    provisioned_by: `${s.operator}@${s.stationId}`,
  };
}

function sshLost(err: SshConnectionLost, step: string): JobFailure {
  return new JobFailure('SSH_UNREACHABLE', `The SSH connection to the Pi was lost during the ${step} step.`, {
    hint: 'Check the network. The installer switches files only at its very end, so the Pi keeps either its previous identity or the complete new one; run the job again.',
    cause: err,
    text: localText('core:pi.error.lost', { step }),
    hintText: localText('core:pi.error.lostHint'),
  });
}

function canonicalMac(input: string): string {
  const m = parseMac(input);
  if (!m.ok) throw new JobFailure('PROFILE_INVALID', m.error);
  return m.mac;
}

function normaliseSerial(s: string): string {
  return s.replace(/:/g, '').replace(/^0+/, '').toLowerCase();
}
