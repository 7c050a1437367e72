/**
 * The SSH layer of the Pi job against a real OpenSSH server: key and password login, host keys
 * pinned on first use and a changed key refused, the probe, and sudo with a password.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostKeyStore } from '../../src/main/pi/host-key-store.js';
import { locateAgentDir } from '../../src/main/pi/agent-bundle.js';
import { probePi } from '../../src/main/pi/probe.js';
import { checkSudoPassword } from '../../src/main/pi/remote-shell.js';
import { HostKeyRefused, SshSession } from '../../src/main/pi/ssh-session.js';
import { JobFailure } from '../../src/main/jobs/job-failure.js';
import { createTestUser, makeSshKeyPair, startSshd, type RunningSshd, type TestUser } from '../support/sshd.js';
import { startProcess } from '../support/processes.js';
import { tempDir } from '../support/temp.js';
import { isRoot, requireTool } from '../support/tools.js';

const me = userInfo().username;
const root = isRoot();
let work: { path: string; remove(): void };
let sshd: RunningSshd;
let key: { privateKeyFile: string; publicKey: string };
let testUser: TestUser | undefined;

beforeAll(async () => {
  work = tempDir('tds-pi-ssh-');
  key = makeSshKeyPair(work.path, 'id_station');
  if (root) testUser = createTestUser();
  sshd = await startSshd({ allowUsers: [me, ...(testUser ? [testUser.name] : [])] });
  sshd.authorize(me, key.publicKey);
});

afterAll(async () => {
  await sshd?.stop();
  testUser?.remove();
  work?.remove();
});

const keyAuth = () => ({ method: 'key' as const, privateKey: readFileSync(key.privateKeyFile) });

describe('SSH session', () => {
  it('pins an unknown host key on first use (accept-new) and accepts it afterwards with policy known', async () => {
    const store = new HostKeyStore(path.join(work.path, 'known-1.json'));
    const s1 = await SshSession.connect({ host: sshd.host, port: sshd.port, username: me, auth: keyAuth() }, { hostKeys: store, policy: { mode: 'accept-new' } });
    expect(s1.hostKey.fingerprint).toBe(sshd.hostKeyFingerprint);
    const r = await s1.exec('echo hello; id -un');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[1]).toBe(me);
    s1.close();
    const pinned = await store.get(sshd.host, sshd.port);
    expect(pinned?.fingerprint).toBe(sshd.hostKeyFingerprint);
    const s2 = await SshSession.connect({ host: sshd.host, port: sshd.port, username: me, auth: keyAuth() }, { hostKeys: store, policy: { mode: 'known' } });
    expect((await s2.exec('exit 7')).code).toBe(7);
    s2.close();
  });

  it('refuses an unknown key under policy known, reporting the fingerprint to compare', async () => {
    const store = new HostKeyStore(path.join(work.path, 'known-2.json'));
    const err = await SshSession.connect({ host: sshd.host, port: sshd.port, username: me, auth: keyAuth() }, { hostKeys: store, policy: { mode: 'known' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostKeyRefused);
    expect((err as HostKeyRefused).code).toBe('SSH_HOST_KEY_UNKNOWN');
    expect((err as HostKeyRefused).refusal.fingerprint).toBe(sshd.hostKeyFingerprint);
    expect(await store.get(sshd.host, sshd.port)).toBeUndefined();
    // The operator compared it: accept exactly that fingerprint.
    const s = await SshSession.connect(
      { host: sshd.host, port: sshd.port, username: me, auth: keyAuth() },
      { hostKeys: store, policy: { mode: 'expect', fingerprint: sshd.hostKeyFingerprint } },
    );
    s.close();
    expect((await store.get(sshd.host, sshd.port))?.fingerprint).toBe(sshd.hostKeyFingerprint);
  });

  it('stops on a changed host key (same address, new key) and keeps the old pin', async () => {
    const store = new HostKeyStore(path.join(work.path, 'known-3.json'));
    const other = await startSshd({ allowUsers: [me] });
    other.authorize(me, key.publicKey);
    const port = other.port;
    (await SshSession.connect({ host: other.host, port, username: me, auth: keyAuth() }, { hostKeys: store, policy: { mode: 'accept-new' } })).close();
    const firstFp = other.hostKeyFingerprint;
    await other.stop();
    const impostor = await startSshd({ port, allowUsers: [me] });
    try {
      impostor.authorize(me, key.publicKey);
      expect(impostor.hostKeyFingerprint).not.toBe(firstFp);
      const err = await SshSession.connect({ host: impostor.host, port, username: me, auth: keyAuth() }, { hostKeys: store, policy: { mode: 'accept-new' } }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(JobFailure);
      expect((err as JobFailure).code).toBe('SSH_HOST_KEY_CHANGED');
      expect((err as JobFailure).message).toMatch(/CHANGED/);
      expect((await store.get(impostor.host, port))?.fingerprint).toBe(firstFp);
    } finally {
      await impostor.stop();
    }
  });

  it('reports a wrong key as an authentication failure and a closed port as unreachable', async () => {
    const store = new HostKeyStore(path.join(work.path, 'known-4.json'));
    const stranger = makeSshKeyPair(work.path, 'id_stranger');
    const err = await SshSession.connect(
      { host: sshd.host, port: sshd.port, username: me, auth: { method: 'key', privateKey: readFileSync(stranger.privateKeyFile) } },
      { hostKeys: store, policy: { mode: 'accept-new' } },
    ).catch((e: unknown) => e);
    expect((err as JobFailure).code).toBe('SSH_AUTH_FAILED');
    const closed = await SshSession.connect({ host: '127.0.0.1', port: 1, username: me, auth: keyAuth() }, { hostKeys: store, policy: { mode: 'accept-new' } }).catch(
      (e: unknown) => e,
    );
    expect((closed as JobFailure).code).toBe('SSH_UNREACHABLE');
  });

  it('logs in through ssh-agent (the key stays in the agent); without an agent it says how to start one', async () => {
    const sshAgent = requireTool('ssh-agent', 'openssh-client');
    const sshAdd = requireTool('ssh-add', 'openssh-client');
    const socket = path.join(work.path, 'agent.sock');
    const agent = startProcess('ssh-agent', sshAgent, ['-D', '-a', socket]);
    try {
      for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 50));
      const store = new HostKeyStore(path.join(work.path, 'known-agent.json'));
      // An empty agent has nothing to offer: an authentication failure, not a hang.
      const empty = await SshSession.connect({ host: sshd.host, port: sshd.port, username: me, auth: { method: 'agent', socket } }, { hostKeys: store, policy: { mode: 'accept-new' } }).catch(
        (e: unknown) => e,
      );
      expect((empty as JobFailure).code).toBe('SSH_AUTH_FAILED');
      execFileSync(sshAdd, ['-q', key.privateKeyFile], { env: { ...process.env, SSH_AUTH_SOCK: socket }, stdio: 'ignore' });
      const s = await SshSession.connect({ host: sshd.host, port: sshd.port, username: me, auth: { method: 'agent', socket } }, { hostKeys: store, policy: { mode: 'accept-new' } });
      try {
        expect((await s.exec('id -un')).stdout.trim()).toBe(me);
      } finally {
        s.close();
      }
    } finally {
      await agent.stop();
    }
    const saved = process.env.SSH_AUTH_SOCK;
    delete process.env.SSH_AUTH_SOCK;
    try {
      const none = await SshSession.connect(
        { host: sshd.host, port: sshd.port, username: me, auth: { method: 'agent' } },
        { hostKeys: new HostKeyStore(path.join(work.path, 'known-agent-2.json')), policy: { mode: 'accept-new' } },
      ).catch((e: unknown) => e);
      expect((none as JobFailure).code).toBe('SSH_AUTH_FAILED');
      expect((none as JobFailure).message).toMatch(/no agent is running/);
    } finally {
      if (saved !== undefined) process.env.SSH_AUTH_SOCK = saved;
    }
  });

  it('probes the host: MAC of the default-route interface, OS, Python and its Debian packages', async () => {
    const store = new HostKeyStore(path.join(work.path, 'known-5.json'));
    const s = await SshSession.connect({ host: sshd.host, port: sshd.port, username: me, auth: keyAuth() }, { hostKeys: store, policy: { mode: 'accept-new' } });
    try {
      const probe = await probePi(s, { agentDir: locateAgentDir(), installPrefix: work.path, python: '/usr/bin/python3', serviceManager: 'none' });
      const local = await s.exec(`cat /sys/class/net/${probe.interface}/address`);
      expect(probe.mac).toBe(local.stdout.trim().toLowerCase());
      expect(probe.os).toMatch(/Debian|Raspbian|Ubuntu/);
      expect(probe.python).toMatch(/^3\.\d+/);
      expect(probe.pahoMqtt).toMatch(/^\d+\.\d+/);
      expect(probe.uid).toBe(process.getuid?.());
      expect(probe.agentBundle).toBeNull();
      expect(probe.service).toBe('inactive');
    } finally {
      s.close();
    }
  });
});

describe.skipIf(!root)('password login and sudo (needs root to create the test user)', () => {
  it('logs in with a password and checks a sudo password (right, wrong)', async () => {
    const user = testUser!;
    const store = new HostKeyStore(path.join(work.path, 'known-6.json'));
    const s = await SshSession.connect(
      { host: sshd.host, port: sshd.port, username: user.name, auth: { method: 'password', password: user.password } },
      { hostKeys: store, policy: { mode: 'accept-new' } },
    );
    try {
      expect((await s.exec('id -un')).stdout.trim()).toBe(user.name);
      const probe = await probePi(s, { agentDir: locateAgentDir(), installPrefix: work.path, python: '/usr/bin/python3', serviceManager: 'none' });
      expect(probe.sudo).toBe('password');
      expect(await checkSudoPassword(s, 'not-the-password')).toBe('wrong');
      expect(await checkSudoPassword(s, user.password)).toBe('ok');
    } finally {
      s.close();
    }
    const bad = await SshSession.connect(
      { host: sshd.host, port: sshd.port, username: user.name, auth: { method: 'password', password: 'wrong' } },
      { hostKeys: store, policy: { mode: 'known' } },
    ).catch((e: unknown) => e);
    expect((bad as JobFailure).code).toBe('SSH_AUTH_FAILED');
  });
});
