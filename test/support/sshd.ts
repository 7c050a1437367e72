/**
 * A real OpenSSH server (Debian's openssh-server) for the Pi tests: `sshd -D -e -f <config>` on a free
 * loopback port with a throwaway host key, stopped by PID. Stands in for a Raspberry Pi: the job
 * cannot tell it from one except by /proc/device-tree/model.
 *
 * As root (CI) sshd needs its privilege-separation folder /run/sshd (the Debian service creates it
 * at boot; containers often lack it): it is created, empty and root-owned, when missing. A test user
 * with a password and a sudoers.d entry that requires that password can be created for password
 * login and sudo tests (`createTestUser`); without root those tests must be skipped.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from './ports.js';
import { startProcess, type StartedProcess } from './processes.js';
import { tempDir } from './temp.js';
import { isRoot, requireTool } from './tools.js';

export interface StartSshdOptions {
  /** Listen on this port (e.g. to restart with another host key on the same address). */
  port?: number;
  /** An existing private host key file; a fresh ed25519 key when omitted. */
  hostKeyFile?: string;
  /** Users allowed to log in (default: the current user). */
  allowUsers?: string[];
}

export interface RunningSshd {
  host: string;
  port: number;
  pid: number;
  /** Folder of this server's files (config, host key, authorized_keys, sessions' TMPDIR `tmp/`). */
  dir: string;
  hostKeyFile: string;
  /** `SHA256:...` of the host key, as `ssh-keygen -lf` prints it. */
  hostKeyFingerprint: string;
  process: StartedProcess;
  /** Lets `user` log in with this public key (OpenSSH one-line format). */
  authorize(user: string, publicKeyLine: string): void;
  output(): string;
  stop(): Promise<void>;
}

/** A throwaway key pair in OpenSSH format (ssh-keygen); returns the private key path and public line. */
export function makeSshKeyPair(dir: string, name: string, type: 'ed25519' | 'ecdsa' | 'rsa' = 'ed25519'): { privateKeyFile: string; publicKey: string } {
  const keygen = requireTool('ssh-keygen', 'openssh-client');
  const file = path.join(dir, name);
  execFileSync(keygen, ['-q', '-t', type, '-N', '', '-C', `tds-test-${name}`, '-f', file], { stdio: 'ignore' });
  return { privateKeyFile: file, publicKey: readFileSync(`${file}.pub`, 'utf8').trim() };
}

export async function startSshd(options: StartSshdOptions = {}): Promise<RunningSshd> {
  const sshd = requireTool('sshd', 'openssh-server');
  const keygen = requireTool('ssh-keygen', 'openssh-client');
  if (isRoot() && !existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 });
  const tmp = tempDir('tds-sshd-');
  const dir = tmp.path;
  chmodSync(dir, 0o755);
  // Sessions get TMPDIR inside this folder, so what they leave in "/tmp" goes away with the server.
  const sessionTmp = path.join(dir, 'tmp');
  mkdirSync(sessionTmp);
  chmodSync(sessionTmp, 0o1777);
  const port = options.port ?? (await freePort());
  let hostKeyFile = options.hostKeyFile;
  if (!hostKeyFile) {
    hostKeyFile = path.join(dir, 'ssh_host_ed25519_key');
    execFileSync(keygen, ['-q', '-t', 'ed25519', '-N', '', '-f', hostKeyFile], { stdio: 'ignore' });
  }
  const fingerprint = execFileSync(keygen, ['-l', '-E', 'sha256', '-f', hostKeyFile], { encoding: 'utf8' }).split(' ')[1]!;
  const keysDir = path.join(dir, 'authorized_keys');
  mkdirSync(keysDir, { mode: 0o755 });
  const users = options.allowUsers ?? [userInfo().username];
  const sftp = existsSync('/usr/lib/openssh/sftp-server') ? '/usr/lib/openssh/sftp-server' : 'internal-sftp';
  const config = [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${hostKeyFile}`,
    `PidFile ${path.join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${keysDir}/%u`,
    // The key files live in a temp folder under /tmp (world-writable parent): skip the ownership walk.
    'StrictModes no',
    // Passwords are checked against /etc/shadow directly (no PAM session machinery in containers).
    'UsePAM no',
    'PasswordAuthentication yes',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    `AllowUsers ${users.join(' ')}`,
    `Subsystem sftp ${sftp}`,
    'MaxStartups 50:30:100',
    `SetEnv TMPDIR=${sessionTmp}`,
    'LogLevel VERBOSE',
    '',
  ].join('\n');
  const configFile = path.join(dir, 'sshd_config');
  writeFileSync(configFile, config, { mode: 0o600 });
  execFileSync(sshd, ['-t', '-f', configFile], { stdio: 'pipe' });
  const proc = startProcess('sshd', sshd, ['-D', '-e', '-f', configFile]);
  try {
    await proc.waitForOutput(/Server listening on 127\.0\.0\.1 port \d+/, 15_000);
    await waitForPort(port);
  } catch (err) {
    await proc.stop(1_000);
    tmp.remove();
    throw err;
  }
  return {
    host: '127.0.0.1',
    port,
    pid: proc.pid,
    dir,
    hostKeyFile,
    hostKeyFingerprint: fingerprint,
    process: proc,
    authorize(user, publicKeyLine) {
      const file = path.join(keysDir, user);
      const existing = existsSync(file) ? readFileSync(file, 'utf8') : '';
      writeFileSync(file, `${existing}${publicKeyLine.trim()}\n`, { mode: 0o644 });
    },
    output: () => proc.output(),
    async stop() {
      await proc.stop(3_000);
      tmp.remove();
    },
  };
}

export interface TestUser {
  name: string;
  password: string;
  home: string;
  /** Deletes the user, its home and its sudoers entry. */
  remove(): void;
}

/**
 * A real local user with a password and a sudoers.d entry that *requires* that password (no
 * cached credentials), for password login and sudo tests. Root only; the name says what it is.
 */
export function createTestUser(): TestUser {
  if (!isRoot()) throw new Error('createTestUser needs root');
  const useradd = requireTool('useradd', 'passwd');
  const userdel = requireTool('userdel', 'passwd');
  const chpasswd = requireTool('chpasswd', 'passwd');
  const visudo = requireTool('visudo', 'sudo');
  const name = `tds-pi-test-${randomBytes(2).toString('hex')}`;
  const password = `pw-${randomBytes(12).toString('base64url')}`;
  const home = tempDir('tds-pi-user-');
  chmodSync(home.path, 0o755);
  execFileSync(useradd, ['--no-create-home', '--home-dir', home.path, '--shell', '/bin/sh', '--user-group', name], { stdio: 'pipe' });
  execFileSync('chown', [`${name}:${name}`, home.path]);
  execFileSync(chpasswd, [], { input: `${name}:${password}\n` });
  // A file whose name contains a dot is ignored by sudo: write, validate, then rename into place.
  const sudoers = `/etc/sudoers.d/${name}`;
  const staged = `/etc/sudoers.d/.${name}.tmp`;
  writeFileSync(staged, `# TDS Pi tests (removed by the test run)\nDefaults:${name} timestamp_timeout=0, passwd_tries=1, !lecture\n${name} ALL=(ALL:ALL) ALL\n`, { mode: 0o440 });
  execFileSync(visudo, ['-c', '-q', '-f', staged], { stdio: 'pipe' });
  renameSync(staged, sudoers);
  return {
    name,
    password,
    home: home.path,
    remove() {
      rmSync(sudoers, { force: true });
      // Processes the tests started as this user are stopped by PID before this runs.
      try {
        execFileSync(userdel, [name], { stdio: 'pipe' });
      } catch (err) {
        console.warn(`[sshd] could not delete test user ${name}: ${(err as Error).message}`);
      }
      home.remove();
    },
  };
}
