import path from 'node:path/posix';
import type { ProvisionResponse } from '@tds/server/contract';
import { parseMac } from '@tds/server/contract';
import { checkIssuedCertificate, expandTemplate, IdentityMemory, obtainCertificate, type DeviceIdentity, type ReprovisionPolicy } from '../certs/device-identity.js';
import type { CertificateIssuer } from '../certs/issuer.js';
import { JobFailure, isAbortError } from '../jobs/job-failure.js';
import type { JobContext, JobDefinition, StepHandle } from '../jobs/types.js';
import type { BrokerMonitor } from '../monitor/broker-monitor.js';
import { loadAgentBundle, locateAgentDir, type AgentBundle } from './agent-bundle.js';
import type { HostKeyStore } from './host-key-store.js';
import { describeProbe, probePi, type PiProbe } from './probe.js';
import { checkSudoPassword, RemoteShell, type Privilege } from './remote-shell.js';
import { HostKeyRefused, SshConnectionLost, SshSession, type SshTarget } from './ssh-session.js';

/** The issuance server as the Pi job uses it: the station's one issuer (src/main/certs). */

/** What the operator decides when the Pi's MAC already has an active certificate. */
export type PiReprovisionPolicy = ReprovisionPolicy;
/** First contact with a host: ask the operator (UI), pin it (trust on first use), or refuse. */
export type PiHostKeyPolicy = 'ask' | 'accept-new' | 'known';

export interface PiJobSettings {
  accountId: number;
  /** `codigo` template: {mac12}, {MAC12}, {mac}; ignored when `gatewayCode` is given. */
  codeTemplate: string;
  nameTemplate: string;
  gatewayCode?: string;
  /** Broker address the Pi's agent connects to. */
  broker: { host: string; port: number };
  /** Install prefix on the Pi ("/" on a real one; a folder for tests). */
  installPrefix: string;
  serviceManager: 'systemd' | 'none';
  /** System user the agent runs as (created by install.sh when missing). Default gateway-iot. */
  serviceUser: string;
  /** Python interpreter on the Pi (Debian's, with its python3-* packages). */
  python: string;
  onlineTimeoutMs: number;
  /** The agent's `modbus` section of config.json (port, slaves...). */
  modbus?: unknown;
  /** More config.json fields for the agent (commands.reboot, buffer, mqtt timing...). */
  agentConfig?: Record<string, unknown>;
  operator: string;
  stationId: string;
  reprovision: PiReprovisionPolicy;
  hostKeyPolicy: PiHostKeyPolicy;
  /** Accept exactly this host key (`SHA256:...`, compared by the operator) on first contact. */
  expectedHostKey?: string;
  /** Use this MAC instead of the probed one (a Pi whose identity should follow another interface). */
  mac?: string;
}

export interface PiJobInput {
  target: SshTarget;
  issuer: CertificateIssuer;
  /** The station's monitor identity on the broker; without it the online step is skipped. */
  monitor?: BrokerMonitor;
  hostKeys: HostKeyStore;
  settings: PiJobSettings;
  /** sudo password known up front (else asked when sudo needs one). */
  sudoPassword?: string;
  /**
   * Ask the operator for the sudo password (a secret question) when none was given or it was
   * refused. Default true; headless runs without anyone to answer turn it off.
   */
  askSudoPassword?: boolean;
  /** firmware/rpi (default: found next to the station's code). */
  agentDir?: string;
}

export const PI_STEPS = [
  { name: 'connect', weight: 1 },
  { name: 'probe', weight: 1 },
  { name: 'prepare', weight: 2 },
  { name: 'key', weight: 1 },
  { name: 'certificate', weight: 1 },
  { name: 'install', weight: 3 },
  { name: 'online', weight: 3 },
  { name: 'finalize', weight: 1 },
] as const;

/**
 * How long each step may run before the job stops it (STEP_TIMEOUT; time waiting for the operator
 * not counted). Generous: a Pi that stops answering fails the job clearly instead of leaving it hanging;
 * the rollback then restores the previous identity. `online` is the profile's timeout + 30 s.
 */
const PI_STEP_LIMITS_MS: Partial<Record<(typeof PI_STEPS)[number]['name'], number>> = {
  connect: 60_000,
  probe: 60_000,
  prepare: 180_000,
  key: 60_000,
  certificate: 60_000,
  install: 180_000,
  finalize: 60_000,
};

const PREFIX_RE = /^\/[A-Za-z0-9._/-]*$/;

/**
 * The Raspberry Pi field job: SSH (host key pinned) → probe → agent files (skipped when the same
 * bundle is installed) → key + CSR made on the Pi → certificate → atomic install + restart → online
 * on the broker → backups dropped, superseded certificate revoked. On failure the Pi keeps (or gets
 * back) its previous certificates and service.
 */
export function piProvisionJob(input: PiJobInput): JobDefinition {
  const { target, settings } = input;
  if (!PREFIX_RE.test(settings.installPrefix)) {
    throw new JobFailure('PROFILE_INVALID', `pi.installPrefix "${settings.installPrefix}" must be an absolute path of letters, digits, ".", "_", "-" and "/".`);
  }
  // Kept across retries: certificates that never ran on the Pi, replacements already agreed.
  const memory = new IdentityMemory();
  return {
    kind: 'pi',
    target: `${target.host}:${target.port}`,
    steps: PI_STEPS.map((st) => ({ ...st, timeoutMs: PI_STEP_LIMITS_MS[st.name] ?? settings.onlineTimeoutMs + 30_000 })),
    initial: {
      operator: settings.operator,
      accountId: settings.accountId,
      serverUrl: input.issuer.serverUrl,
      facts: { host: `${target.username}@${target.host}:${target.port}`, prefix: settings.installPrefix, serviceManager: settings.serviceManager },
    },
    run: (ctx) => new PiJobRun(ctx, input, memory).run(),
  };
}

class PiJobRun {
  private session: SshSession | undefined;
  private shell: RemoteShell | undefined;
  private uploadDir: string | undefined;
  private installer = '';
  private staged = false;
  private committed = false;
  private online = false;
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
      const probe = await this.step('probe', (step) => this.probe(step));
      const mac = this.s.mac ? canonicalMac(this.s.mac) : probe.mac;
      if (!mac) {
        throw new JobFailure('REMOTE_COMMAND_FAILED', 'Could not read the MAC of the Pi\'s primary interface.', {
          hint: 'Check that the Pi has a network interface with a default route, or give the MAC in the job.',
        });
      }
      if (this.s.mac) ctx.log(`using the MAC given for this job (${mac}) instead of the probed one (${probe.mac ?? 'none'})`, 'warn');
      const codigo = this.s.gatewayCode ?? expandTemplate(this.s.codeTemplate, mac);
      const nome = expandTemplate(this.s.nameTemplate, mac);
      ctx.update({ mac, gatewayCode: codigo });

      const bundle = await this.step('prepare', (step) => this.prepare(step, probe));
      const csrPem = await this.step('key', (step) => this.makeKey(step, mac));
      const identity = await this.step('certificate', (step) => this.certificate(step, { mac_address: mac, codigo, nome, conta_id: this.s.accountId, csr_pem: csrPem }));
      const since = await this.step('install', (step) => this.install(step, bundle, identity.response, mac, codigo));
      if (this.input.monitor) {
        await this.step('online', async (step) => {
          step.detail(`waiting for ${mac} on the broker (up to ${Math.round(this.s.onlineTimeoutMs / 1000)} s)`);
          const e = await this.input.monitor!.waitForOnline(mac, { timeoutMs: this.s.onlineTimeoutMs, signal: step.signal, since });
          this.online = true;
          const seen = `${e.kind === 'status' ? 'status online' : 'telemetry'} ${((e.at - since) / 1000).toFixed(1)} s after the restart`;
          step.detail(seen);
          // Seen online with the new certificate: only now is the previous one revoked (superseded).
          await identity.confirm(step);
          if (identity.previous) step.detail(`${seen}; ${identity.previous.serialNumber} revoked (superseded)`);
        });
      } else {
        this.online = true;
        ctx.skip('online', 'no monitor identity in the profile: the station cannot watch the broker');
        if (identity.pending) ctx.log(`confirming certificate ${identity.serial} without seeing the Pi online (no monitor identity)`, 'warn');
        await identity.confirm(ctx);
      }
      await this.step('finalize', (step) => this.finalize(step, identity));
    } catch (err) {
      await this.cleanUpAfterFailure(err);
      await this.identity?.release(ctx, isAbortError(err, ctx.signal) ? 'job cancelled' : 'job failed');
      throw err;
    } finally {
      this.session?.close();
    }
  }

  // ---- connect ---------------------------------------------------------------------------------
  private async connect(step: StepHandle): Promise<SshSession> {
    const { target, hostKeys } = this.input;
    const policy = this.s.hostKeyPolicy;
    step.detail(`${target.username}@${target.host}:${target.port} (${target.auth.method})`);
    const connect = (p: Parameters<typeof SshSession.connect>[1]['policy']): Promise<SshSession> =>
      SshSession.connect(target, { hostKeys, policy: p, signal: step.signal });
    let session: SshSession;
    const pinnedBefore = await hostKeys.get(target.host, target.port);
    if (this.s.expectedHostKey) {
      session = await connect({ mode: 'expect', fingerprint: this.s.expectedHostKey });
    } else if (policy !== 'ask') {
      session = await connect({ mode: policy });
    } else {
      try {
        session = await connect({ mode: 'known' });
      } catch (err) {
        if (!(err instanceof HostKeyRefused) || err.refusal.status !== 'unknown') throw err;
        const { keyType, fingerprint } = err.refusal;
        const choice = await this.ctx.ask({
          kind: 'host-key',
          message: `First connection to ${target.host}:${target.port}. Its SSH host key is ${keyType} ${fingerprint}. Compare it with the Pi (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) before accepting.`,
          facts: { host: `${target.host}:${target.port}`, keyType, fingerprint },
          choices: ['accept', 'reject'],
        });
        if (choice !== 'accept') {
          throw new JobFailure('SSH_HOST_KEY_UNKNOWN', `The operator did not accept the host key of ${target.host}:${target.port} (${fingerprint}).`);
        }
        session = await connect({ mode: 'expect', fingerprint });
      }
    }
    if (!pinnedBefore) step.log(`host key ${session.hostKey.keyType} ${session.hostKey.fingerprint} pinned (first use)`);
    this.ctx.update({ facts: { hostKey: `${session.hostKey.keyType} ${session.hostKey.fingerprint}` } });
    step.detail(`${target.username}@${target.host}:${target.port}, host key ${session.hostKey.fingerprint}`);
    return session;
  }

  // ---- probe -----------------------------------------------------------------------------------
  private async probe(step: StepHandle): Promise<PiProbe> {
    const agentDir = this.input.agentDir ?? locateAgentDir();
    const probe = await probePi(this.session!, {
      agentDir,
      installPrefix: this.s.installPrefix,
      python: this.s.python,
      serviceManager: this.s.serviceManager,
      signal: step.signal,
    });
    const facts: Record<string, string> = {
      model: probe.model ?? 'unknown (not a Raspberry Pi?)',
      os: probe.os,
      arch: probe.arch,
      interface: probe.interface ?? '?',
      python: probe.python ?? 'missing',
      pahoMqtt: probe.pahoMqtt ?? 'missing',
      agent: probe.agentBundle ? 'installed' : 'not installed',
    };
    if (probe.identity) facts.installedSerial = probe.identity.serialNumber;
    this.ctx.update({ facts });
    if (!probe.isRaspberryPi) step.log('this host reports no Raspberry Pi model and no Raspberry Pi MAC prefix; continuing', 'warn');
    if (!probe.python) {
      throw new JobFailure('REMOTE_COMMAND_FAILED', `Python 3 was not found at ${this.s.python} on the Pi.`, { hint: 'Install it: sudo apt-get install -y python3' });
    }
    if (this.s.serviceManager === 'systemd' && !probe.systemd) {
      throw new JobFailure('PROFILE_INVALID', 'The profile asks for systemd but the host does not run systemd.', { hint: 'Set pi.serviceManager to "none" for hosts without systemd.' });
    }
    step.detail(describeProbe(probe));
    this.privilegeFromProbe(probe);
    return probe;
  }

  private privilegeFromProbe(probe: PiProbe): void {
    let p: Privilege;
    if (probe.uid === 0) p = { kind: 'root' };
    else if (probe.sudo === 'nopasswd') p = { kind: 'sudo-nopasswd' };
    else if (probe.sudo === 'password') p = { kind: 'sudo-password', password: '' };
    else p = { kind: 'none' };
    this.shell = new RemoteShell(this.session!, p);
  }

  // ---- prepare ---------------------------------------------------------------------------------
  private async prepare(step: StepHandle, probe: PiProbe): Promise<AgentBundle> {
    const shell = this.shell!;
    if (shell.privilegeKind === 'sudo-password') await this.sudoPassword(step);
    else if (shell.privilegeKind === 'none') step.log(`${this.input.target.username} may not use sudo: installing without root (works only where this user may write)`, 'warn');
    const bundle = await loadAgentBundle(this.input.agentDir ?? locateAgentDir());
    const tmp = await shell.run(['sh', '-c', 'mktemp -d "${TMPDIR:-/tmp}/tds-pi.XXXXXXXX"'], { what: 'make a private upload folder', signal: step.signal });
    this.uploadDir = tmp.trim();
    if (!/^\/[A-Za-z0-9._/-]*\/tds-pi\.[A-Za-z0-9]+$/.test(this.uploadDir)) {
      throw new JobFailure('REMOTE_COMMAND_FAILED', `mktemp gave an unexpected folder: ${this.uploadDir.slice(0, 80)}`);
    }
    const installed = path.join(this.s.installPrefix, 'opt/gateway-iot');
    if (probe.agentBundle === bundle.sha256) {
      this.installer = path.join(installed, 'install.sh');
      step.log(`agent files already installed (bundle ${bundle.sha256.slice(0, 12)}): not uploaded`);
    } else {
      const agentDir = path.join(this.uploadDir, 'agent');
      await this.session!.mkdir(agentDir, 0o755);
      await this.session!.mkdir(path.join(agentDir, 'gateway_agent'), 0o755);
      let done = 0;
      await Promise.all(
        bundle.files.map(async (f) => {
          await this.session!.writeFile(path.join(agentDir, f.rel), f.data, f.mode);
          step.progress(++done / bundle.files.length, `agent files: ${done} of ${bundle.files.length}`);
        }),
      );
      this.installer = path.join(agentDir, 'install.sh');
      step.log(`uploaded ${bundle.files.length} agent files (bundle ${bundle.sha256.slice(0, 12)})`);
    }
    await shell.run(['sh', this.installer, 'check', '--python', this.s.python], { what: 'check the Debian packages the agent needs', signal: step.signal });
    step.detail(`agent bundle ${bundle.sha256.slice(0, 12)}${probe.agentBundle === bundle.sha256 ? ' (cached on the Pi)' : ' uploaded'}; privileges: ${shell.privilegeKind}`);
    return bundle;
  }

  private async sudoPassword(step: StepHandle): Promise<void> {
    const { target } = this.input;
    let password = this.input.sudoPassword;
    for (let attempt = 0; attempt < 3; attempt++) {
      if (password === undefined) {
        if (this.input.askSudoPassword === false) {
          if (attempt > 0) break;
          throw new JobFailure('SUDO_PASSWORD_REQUIRED', `sudo on ${target.host} needs the password of ${target.username} and none was given.`, {
            hint: 'Give it with --sudo-password-env VAR, or log in as a user whose sudo needs no password.',
          });
        }
        // A secret question: the password reaches this step only (never a log, snapshot or event).
        const answer = await this.ctx.askSecret({
          kind: 'sudo-password',
          message: `sudo on ${target.host} needs the password of ${target.username}.`,
          facts: { host: target.host, user: target.username },
          choices: ['submit', 'cancel'],
        });
        if (answer.choice !== 'submit') throw new JobFailure('SUDO_PASSWORD_REQUIRED', `sudo on ${target.host} needs a password and none was given.`);
        if (!answer.secret) throw new JobFailure('SUDO_PASSWORD_REQUIRED', 'The sudo password question was answered without a password.');
        password = answer.secret.reveal();
      }
      const verdict = await checkSudoPassword(this.session!, password, step.signal);
      if (verdict === 'ok') {
        this.shell!.setPrivilege({ kind: 'sudo-password', password });
        step.log('sudo password accepted');
        return;
      }
      if (verdict === 'not-allowed') {
        throw new JobFailure('REMOTE_COMMAND_FAILED', `${target.username} may not use sudo on ${target.host}.`, { hint: 'Log in as a user with sudo rights, or as root.' });
      }
      step.log('the sudo password was refused', 'warn');
      password = undefined;
    }
    throw new JobFailure('SUDO_PASSWORD_REQUIRED', `sudo on ${target.host} refused the password of ${target.username}.`, { hint: 'Check the password of this user on the Pi and retry.' });
  }

  // ---- key on the Pi ---------------------------------------------------------------------------
  private async makeKey(step: StepHandle, mac: string): Promise<string> {
    const out = await this.shell!.run(['sh', this.installer, 'keygen', ...this.prefixArgs, '--cn', mac], {
      privileged: true,
      what: 'make the key and CSR',
      signal: step.signal,
      timeoutMs: 60_000,
    });
    this.staged = true;
    const m = /-----BEGIN CERTIFICATE REQUEST-----[\s\S]+?-----END CERTIFICATE REQUEST-----/.exec(out);
    if (!m) throw new JobFailure('REMOTE_COMMAND_FAILED', 'openssl on the Pi did not print a CSR.');
    step.detail(`EC P-256 key made on the Pi (mode 0600, never leaves it); CSR for CN=${mac}`);
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
    step.detail(`serial ${response.serial_number}, expires ${response.expires_at}${identity.previous ? ` (pending; replaces ${identity.previous.serialNumber})` : ''}`);
    return identity;
  }

  // ---- install ---------------------------------------------------------------------------------
  private async install(step: StepHandle, bundle: AgentBundle, issued: ProvisionResponse, mac: string, codigo: string): Promise<number> {
    const session = this.session!;
    const up = this.uploadDir!;
    const config = this.agentConfig(codigo);
    await session.writeFile(path.join(up, 'client.crt'), issued.certificate_pem, 0o644);
    await session.writeFile(path.join(up, 'ca.crt'), issued.ca_pem, 0o644);
    await session.writeFile(path.join(up, 'config.json'), JSON.stringify(config, null, 2) + '\n', 0o644);
    const agentFrom = path.dirname(this.installer);
    const since = Date.now();
    let installedSerial: string | undefined;
    const out = await this.shell!.exec(
      [
        'sh', this.installer, 'install', ...this.prefixArgs,
        '--service-manager', this.s.serviceManager,
        '--user', this.s.serviceUser,
        '--python', this.s.python,
        '--from', up,
        '--agent-from', agentFrom,
        '--bundle-hash', bundle.sha256,
      ],
      {
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
      },
    );
    if (out.code !== 0) {
      const reason = out.stderr.split('\n').map((l) => l.replace(/^ERROR:\s*/, '').trim()).filter(Boolean).join(' ');
      throw new JobFailure('REMOTE_COMMAND_FAILED', `install.sh failed on the Pi (exit ${out.code}): ${reason.slice(0, 500)}`, {
        ...(out.code === 3 ? { hint: 'Install the Debian packages named above on the Pi (sudo apt-get install -y ...), then retry.' } : {}),
      });
    }
    this.staged = false;
    if (installedSerial && normaliseSerial(installedSerial) !== normaliseSerial(issued.serial_number)) {
      throw new JobFailure('REMOTE_COMMAND_FAILED', `The Pi reports certificate ${installedSerial} installed, not ${issued.serial_number}.`);
    }
    step.detail(`certificate ${issued.serial_number}, config and ${this.s.serviceManager === 'systemd' ? 'gateway-mqtt.service' : 'agent'} installed for ${mac}; restarted`);
    return since;
  }

  private agentConfig(codigo: string): Record<string, unknown> {
    const etc = path.join(this.s.installPrefix, 'etc/gateway-iot');
    const extra = this.s.agentConfig ?? {};
    const mqttExtra = typeof extra.mqtt === 'object' && extra.mqtt !== null ? (extra.mqtt as Record<string, unknown>) : {};
    return {
      ...extra,
      gateway_code: codigo,
      mqtt: { ...mqttExtra, host: this.s.broker.host, port: this.s.broker.port },
      paths: { certs_dir: path.join(etc, 'certs'), state_dir: path.join(this.s.installPrefix, 'var/lib/gateway-iot') },
      ...(this.s.modbus !== undefined ? { modbus: this.s.modbus } : {}),
      provisioned_by: `${this.s.operator}@${this.s.stationId}`,
    };
  }

  // ---- finalize --------------------------------------------------------------------------------
  private async finalize(step: StepHandle, identity: DeviceIdentity): Promise<void> {
    await this.shell!.run(['sh', this.installedInstaller(), 'finalize', ...this.prefixArgs], { privileged: true, what: 'drop the previous identity', signal: step.signal });
    await this.removeUploadDir();
    const previous = identity.previous;
    step.detail(previous ? `previous identity removed from the Pi; certificate ${previous.serialNumber} superseded` : 'backups removed');
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
    if (!shell || !this.session || this.session.isClosed) {
      if (this.committed && !this.online) {
        ctx.log(
          `the SSH connection is gone: the Pi could not be checked or rolled back and may run certificate ${this.identity?.serial ?? '?'}${this.identity?.pending ? ', which is cancelled now' : ''} (re-run the job)`,
          'warn',
        );
      }
      return;
    }
    const cancelled = isAbortError(err);
    try {
      if (this.committed && !this.online) {
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

function sshLost(err: SshConnectionLost, step: string): JobFailure {
  return new JobFailure('SSH_UNREACHABLE', `The SSH connection to the Pi was lost during the ${step} step.`, {
    hint: 'Check the network. The installer switches files only at its very end, so the Pi keeps either its previous identity or the complete new one; run the job again.',
    cause: err,
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
