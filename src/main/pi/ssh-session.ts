import type { ClientChannel, ConnectConfig, ServerHostKeyAlgorithm, SFTPWrapper } from 'ssh2';
import ssh2 from 'ssh2';
import { localText } from '../../shared/local-text.js';
import { JobFailure, type FailureOptions } from '../jobs/job-failure.js';
import { hostKeyId, type HostKeyStore, sshFingerprint, sshKeyType } from './host-key-store.js';

/** How to log in. The password / key / passphrase are only handed to ssh2, never logged. */
export type SshAuth =
  | { method: 'password'; password: string }
  | { method: 'key'; privateKey: string | Buffer; passphrase?: string }
  /** ssh-agent; `socket` defaults to $SSH_AUTH_SOCK. */
  | { method: 'agent'; socket?: string };

export interface SshTarget {
  host: string;
  port: number;
  username: string;
  auth: SshAuth;
}

/**
 * What to do with the host key: `known` only accepts a pinned key; `accept-new` pins an unknown key
 * (trust on first use) and `expect` accepts exactly the given fingerprint (the operator compared it).
 * A pinned key that changed is always refused.
 */
export type HostKeyPolicy = { mode: 'known' } | { mode: 'accept-new' } | { mode: 'expect'; fingerprint: string };

export interface SshConnectOptions {
  hostKeys: HostKeyStore;
  policy: HostKeyPolicy;
  signal?: AbortSignal;
  readyTimeoutMs?: number;
}

export interface ExecResult {
  code: number | null;
  signal?: string;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Written to the command's stdin, then stdin is closed. */
  stdin?: string | Buffer;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called with each stdout line as it arrives (progress). */
  onLine?: (line: string) => void;
}

/** Host key facts a job reports when it refuses a key (for the operator to compare). */
export interface HostKeyRefusal {
  status: 'unknown' | 'changed';
  keyType: string;
  fingerprint: string;
  pinnedFingerprint?: string;
}

/** The host key was refused; `refusal` carries what the operator must compare. */
export class HostKeyRefused extends JobFailure {
  constructor(
    readonly refusal: HostKeyRefusal,
    message: string,
    texts: Pick<FailureOptions, 'hint' | 'text' | 'hintText'> = {},
  ) {
    super(refusal.status === 'changed' ? 'SSH_HOST_KEY_CHANGED' : 'SSH_HOST_KEY_UNKNOWN', message, {
      where: `${refusal.keyType} ${refusal.fingerprint}`,
      ...texts,
    });
    this.name = 'HostKeyRefused';
  }
}

/** The SSH connection closed under a running command (network cut, host rebooted). */
export class SshConnectionLost extends Error {
  constructor(what: string) {
    super(`the SSH connection was lost during ${what}`);
    this.name = 'SshConnectionLost';
  }
}

/** Thin promise wrapper over an ssh2 client: exec with stdin, SFTP writes, close. */
export class SshSession {
  private closed = false;
  private closeError: Error | undefined;
  private readonly closeListeners = new Set<(err?: Error) => void>();
  private sftpChannel: Promise<SFTPWrapper> | undefined;

  private constructor(
    private readonly client: ssh2.Client,
    readonly target: Omit<SshTarget, 'auth'>,
    /** The host key this session was verified with. */
    readonly hostKey: { keyType: string; fingerprint: string },
  ) {
    client.on('close', () => {
      this.closed = true;
      for (const l of this.closeListeners) l(this.closeError);
    });
    client.on('error', (err) => {
      this.closeError = err;
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** True when the connection is closed now or closes within `ms` (to classify a failed request). */
  closedWithin(ms: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        off();
        resolve(this.closed);
      }, ms);
      const off = this.onClose(() => {
        clearTimeout(timer);
        off();
        resolve(true);
      });
    });
  }

  onClose(listener: (err?: Error) => void): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  /**
   * Connects and verifies the host key against the station's store. Throws JobFailure:
   * SSH_UNREACHABLE, SSH_AUTH_FAILED, SSH_HOST_KEY_CHANGED, SSH_HOST_KEY_UNKNOWN (with the refusal
   * facts in `facts`, so the caller can ask the operator and retry with `expect`).
   */
  static async connect(target: SshTarget, options: SshConnectOptions): Promise<SshSession> {
    const { host, port, username } = target;
    const pinned = await options.hostKeys.get(host, port);
    let refusal: HostKeyRefusal | undefined;
    let accepted: { blob: Buffer; pinNew: boolean } | undefined;
    const client = new ssh2.Client();

    const config: ConnectConfig = {
      host,
      port,
      username,
      readyTimeout: options.readyTimeoutMs ?? 20_000,
      keepaliveInterval: 5_000,
      keepaliveCountMax: 3,
      // A pinned host must present the pinned key type: no downgrade to another (unpinned) key.
      ...(pinned ? { algorithms: { serverHostKey: hostKeyAlgorithmsFor(pinned.keyType) } } : {}),
      hostVerifier: (blob: Buffer): boolean => {
        const keyType = sshKeyType(blob);
        const fingerprint = sshFingerprint(blob);
        if (pinned) {
          if (pinned.key === blob.toString('base64')) {
            accepted = { blob, pinNew: false };
            return true;
          }
          refusal = { status: 'changed', keyType, fingerprint, pinnedFingerprint: pinned.fingerprint };
          return false;
        }
        const policy = options.policy;
        if (policy.mode === 'accept-new' || (policy.mode === 'expect' && policy.fingerprint === fingerprint)) {
          accepted = { blob, pinNew: true };
          return true;
        }
        refusal = { status: 'unknown', keyType, fingerprint };
        return false;
      },
      ...authConfig(target.auth),
    };

    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        client.end();
        const e = new Error('cancelled');
        e.name = 'AbortError';
        reject(e);
      };
      if (options.signal?.aborted) return onAbort();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      client.once('ready', () => {
        options.signal?.removeEventListener('abort', onAbort);
        resolve();
      });
      client.once('error', (err: Error & { level?: string; code?: string }) => {
        options.signal?.removeEventListener('abort', onAbort);
        client.end();
        reject(connectFailure(host, port, username, err, refusal, pinned !== undefined));
      });
      client.connect(config);
    });

    if (accepted?.pinNew) await options.hostKeys.pin(host, port, accepted.blob);
    const blob = accepted!.blob;
    return new SshSession(client, { host, port, username }, { keyType: sshKeyType(blob), fingerprint: sshFingerprint(blob) });
  }

  /** Runs one command (through the login shell of the remote user). */
  exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    if (this.closed) return Promise.reject(new SshConnectionLost('a command'));
    return new Promise<ExecResult>((resolve, reject) => {
      this.client.exec(command, (err, stream: ClientChannel) => {
        if (err) {
          reject(this.closed ? new SshConnectionLost('a command') : err);
          return;
        }
        let stdout = '';
        let stderr = '';
        let pending = '';
        let exit: { code: number | null; signal?: string } | undefined;
        let settled = false;
        const finish = (fn: () => void): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          options.signal?.removeEventListener('abort', onAbort);
          offClose();
          fn();
        };
        const timer =
          options.timeoutMs !== undefined
            ? setTimeout(() => {
                stream.close();
                finish(() => reject(new Error(`the remote command did not finish within ${Math.round(options.timeoutMs! / 1000)} s`)));
              }, options.timeoutMs)
            : undefined;
        const onAbort = (): void => {
          stream.close();
          const e = new Error('cancelled');
          e.name = 'AbortError';
          finish(() => reject(e));
        };
        if (options.signal?.aborted) return onAbort();
        options.signal?.addEventListener('abort', onAbort, { once: true });
        const offClose = this.onClose(() => finish(() => reject(new SshConnectionLost('a command'))));
        stream.on('data', (chunk: Buffer) => {
          const text = chunk.toString('utf8');
          stdout += text;
          if (options.onLine) {
            pending += text;
            const lines = pending.split('\n');
            pending = lines.pop() ?? '';
            for (const l of lines) options.onLine(l);
          }
        });
        stream.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk.toString('utf8');
        });
        stream.on('exit', (code: number | null, signal?: string) => {
          exit = { code, ...(signal ? { signal } : {}) };
        });
        stream.on('close', () => {
          if (options.onLine && pending) options.onLine(pending);
          if (!exit) {
            finish(() => reject(this.closed ? new SshConnectionLost('a command') : new Error('the remote command ended without an exit status')));
            return;
          }
          const result: ExecResult = { code: exit.code, stdout, stderr };
          if (exit.signal) result.signal = exit.signal;
          finish(() => resolve(result));
        });
        if (options.stdin !== undefined) stream.end(options.stdin);
        else stream.end();
      });
    });
  }

  private sftp(): Promise<SFTPWrapper> {
    this.sftpChannel ??= new Promise<SFTPWrapper>((resolve, reject) => {
      this.client.sftp((err, sftp) => (err ? reject(err) : resolve(sftp)));
    });
    return this.sftpChannel;
  }

  /** Writes a file over SFTP with `mode` from creation (parent folder must exist). */
  async writeFile(remotePath: string, data: string | Buffer, mode = 0o644): Promise<void> {
    if (this.closed) throw new SshConnectionLost(`the upload of ${remotePath}`);
    const sftp = await this.sftp();
    await new Promise<void>((resolve, reject) => {
      const offClose = this.onClose(() => reject(new SshConnectionLost(`the upload of ${remotePath}`)));
      sftp.writeFile(remotePath, data, { mode }, (err) => {
        offClose();
        if (err) reject(this.closed ? new SshConnectionLost(`the upload of ${remotePath}`) : err);
        else resolve();
      });
    });
  }

  /** Creates a folder over SFTP (parents must exist). */
  async mkdir(remotePath: string, mode = 0o755): Promise<void> {
    const sftp = await this.sftp();
    await new Promise<void>((resolve, reject) => {
      sftp.mkdir(remotePath, { mode }, (err) => (err ? reject(err) : resolve()));
    });
  }

  close(): void {
    if (!this.closed) this.client.end();
  }
}

function authConfig(auth: SshAuth): Partial<ConnectConfig> {
  switch (auth.method) {
    case 'password':
      // keyboard-interactive too: some sshd setups offer only that for passwords.
      return { password: auth.password, tryKeyboard: true };
    case 'key':
      return { privateKey: auth.privateKey, ...(auth.passphrase ? { passphrase: auth.passphrase } : {}) };
    case 'agent': {
      const socket = auth.socket ?? process.env.SSH_AUTH_SOCK;
      if (!socket) {
        throw new JobFailure('SSH_AUTH_FAILED', 'SSH agent authentication was chosen but no agent is running (SSH_AUTH_SOCK is not set).', {
          hint: 'Start ssh-agent and add your key (ssh-add), or log in with a key file or a password.',
          text: localText('core:pi.error.noAgent'),
          hintText: localText('core:pi.error.noAgentHint'),
        });
      }
      return { agent: socket };
    }
  }
}

/** Host key algorithms that yield the pinned key type (RSA keys are offered with SHA-2 signatures). */
function hostKeyAlgorithmsFor(keyType: string): ServerHostKeyAlgorithm[] {
  if (keyType === 'ssh-rsa') return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  return [keyType as ServerHostKeyAlgorithm];
}

function connectFailure(
  host: string,
  port: number,
  username: string,
  err: Error & { level?: string; code?: string },
  refusal: HostKeyRefusal | undefined,
  wasPinned: boolean,
): JobFailure {
  const where = hostKeyId(host, port);
  const changedHint = {
    hint: 'If this Pi was re-imaged, check the new fingerprint on its console (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), forget the pinned key in the station (Field → Forget the host key) and connect again; otherwise do not continue.',
    hintText: localText('core:pi.error.hostKeyChangedHint'),
  };
  if (refusal?.status === 'changed') {
    return new HostKeyRefused(
      refusal,
      `WARNING: the SSH host key of ${where} has CHANGED (now ${refusal.keyType} ${refusal.fingerprint}, pinned ${refusal.pinnedFingerprint}). The job was stopped: this may be someone impersonating the Pi.`,
      { ...changedHint, text: localText('core:pi.error.hostKeyChanged', { host: where, keyType: refusal.keyType, fingerprint: refusal.fingerprint, pinned: refusal.pinnedFingerprint ?? '?' }) },
    );
  }
  if (refusal?.status === 'unknown') {
    return new HostKeyRefused(refusal, `The SSH host key of ${where} is not known yet: ${refusal.keyType} ${refusal.fingerprint}.`, {
      text: localText('core:pi.error.hostKeyUnknown', { host: where, keyType: refusal.keyType, fingerprint: refusal.fingerprint }),
    });
  }
  if (wasPinned && err.level === 'handshake') {
    return new JobFailure('SSH_HOST_KEY_CHANGED', `${where} no longer offers the pinned host key type; the job was stopped (${err.message}).`, {
      ...changedHint,
      text: localText('core:pi.error.keyTypeChanged', { host: where }),
    });
  }
  if (err.level === 'client-authentication') {
    return new JobFailure('SSH_AUTH_FAILED', `SSH login as ${username} on ${where} failed: ${err.message}.`, {
      hint: 'Check the user name and the password, key (and its passphrase) or ssh-agent identity.',
      text: localText('core:pi.error.authFailed', { user: username, host: where, reason: err.message }),
    });
  }
  if (err.level === 'client-timeout') {
    return new JobFailure('SSH_UNREACHABLE', `No SSH handshake with ${where} in time.`, { cause: err, text: localText('core:pi.error.noHandshake', { host: where }) });
  }
  return new JobFailure('SSH_UNREACHABLE', `Cannot reach ${where} over SSH: ${err.code ?? err.message}.`, {
    hint: 'Check the address and port, that the Pi is powered and on this network, and that SSH is enabled (raspi-config → Interface Options → SSH).',
    cause: err,
    text: localText('core:pi.error.unreachable', { host: where, reason: err.code ?? err.message }),
  });
}
