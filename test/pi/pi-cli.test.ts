/**
 * `tds-station pi probe|provision` from the compiled CLI (npm run build), as a field installer runs
 * it headless: real OpenSSH "Pi", real server, Mosquitto with the broker kit, the station's monitor
 * identity from the profile, and the provisioning recorded in the station log.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend, type Backend } from '../support/backend.js';
import { startProcess } from '../support/processes.js';
import { createTestUser, makeSshKeyPair, startSshd, type RunningSshd } from '../support/sshd.js';
import { isRoot } from '../support/tools.js';
import { tempDir } from '../support/temp.js';
import { stopAgent } from './helpers.js';

const CLI = path.resolve(import.meta.dirname, '../../dist/station/main/cli/index.js');
const me = userInfo().username;
let backend: Backend;
let sshd: RunningSshd;
let work: { path: string; remove(): void };
let key: { privateKeyFile: string; publicKey: string };
let prefix: string;

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | string; stdout: string; output: string }> {
  const p = startProcess('tds-station', process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });
  let stdout = '';
  p.child.stdout?.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  const code = await p.exited();
  return { code, stdout, output: p.output() };
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first`);
  work = tempDir('tds-pi-cli-');
  key = makeSshKeyPair(work.path, 'id_field');
  prefix = path.join(work.path, 'pi');
  [backend, sshd] = await Promise.all([startBackend({ broker: 'mosquitto', monitorName: 'pi-cli' }), startSshd()]);
  sshd.authorize(me, key.publicKey);
});

afterAll(async () => {
  await stopAgent(prefix);
  await sshd?.stop();
  await backend?.stop();
  work?.remove();
});

describe('tds-station pi (compiled CLI)', () => {
  const ssh = () => ['--host', sshd.host, '--ssh-port', String(sshd.port), '--user', me, '--key', key.privateKeyFile, '--data-dir', path.join(work.path, 'data')];

  it('probe pins the host key and reports the host without changing it', async () => {
    const r = await cli(['pi', 'probe', ...ssh(), '--json']);
    expect(r.code, r.output).toBe(0);
    const out = JSON.parse(r.stdout) as { ok: boolean; hostKey: { fingerprint: string }; probe: { mac: string; python: string; agentBundle: string | null } };
    expect(out.ok).toBe(true);
    expect(out.hostKey.fingerprint).toBe(sshd.hostKeyFingerprint);
    expect(out.probe.python).toMatch(/^3\./);
    expect(out.probe.agentBundle).toBeNull();
    const pinned = JSON.parse(readFileSync(path.join(work.path, 'data', 'pi-known-hosts.json'), 'utf8')) as { hosts: Record<string, { fingerprint: string }> };
    expect(pinned.hosts[`${sshd.host}:${sshd.port}`]?.fingerprint).toBe(sshd.hostKeyFingerprint);
    expect(existsSync(prefix)).toBe(false);
  });

  it('provision takes the Pi to online and records the job in the station log', async () => {
    const files = path.join(work.path, 'monitor');
    writeFileSync(`${files}.crt`, backend.monitor.certPem);
    writeFileSync(`${files}.key`, backend.monitor.keyPem, { mode: 0o600 });
    writeFileSync(`${files}-ca.crt`, backend.monitor.caPem);
    // Written with the former field names (contaId, gateway.*, broker.*): such files still load, with a warning.
    const profile = path.join(work.path, 'profile.json');
    writeFileSync(
      profile,
      JSON.stringify({
        name: 'field test',
        server: { url: backend.server.url, token: { env: 'TDS_TEST_TOKEN' }, caPem: backend.server.caPem },
        contaId: backend.server.contaId,
        gateway: { codigoTemplate: 'CLI-{mac12}', nomeTemplate: 'Pi {mac12}' },
        broker: { host: backend.broker.host, port: backend.broker.port },
        monitor: { certFile: `${files}.crt`, keyFile: `${files}.key`, caFile: `${files}-ca.crt`, host: backend.broker.servername },
        pi: {
          installPrefix: prefix,
          serviceManager: 'none',
          serviceUser: me,
          onlineTimeoutSec: 30,
          agentConfig: { mqtt: { keepalive: 5, reconnect_max_s: 2 }, renewal: { renew_before_days: 0 } },
        },
        operator: 'cli-tester',
      }),
    );
    const r = await cli(['pi', 'provision', ...ssh(), '--profile', profile, '--mac', 'dc:a6:32:7e:20:01', '--station-id', 'cli-station', '--json'], {
      TDS_TEST_TOKEN: backend.server.tokens.operator,
    });
    expect(r.code, r.output).toBe(0);
    const out = JSON.parse(r.stdout) as { ok: boolean; job: { state: string; mac: string; certificateSerial: string; gatewayCode: string } };
    expect(out.ok).toBe(true);
    expect(out.job).toMatchObject({ state: 'succeeded', mac: 'dc:a6:32:7e:20:01', gatewayCode: 'CLI-dca6327e2001' });
    expect(r.output).not.toContain(backend.server.tokens.operator);
    expect(r.output).toMatch(/warning: profile .*profile\.json: `contaId` is now `accountId`; loaded it, please rename/);
    expect(r.output).toMatch(/warning: .*`broker\.host` is now `brokerHost`/);
    const db = new Database(path.join(work.path, 'data', 'station-log.sqlite'), { readonly: true });
    try {
      const text = JSON.stringify(db.prepare('SELECT * FROM jobs').all());
      expect(text).toContain('dc:a6:32:7e:20:01');
      expect(text).toContain(out.job.certificateSerial);
      expect(text).toContain('cli-tester');
      expect(text).not.toContain('PRIVATE KEY');
    } finally {
      db.close();
    }
  });
});

describe.skipIf(!isRoot())('tds-station pi with a password (test user, needs root)', () => {
  it('--password-env logs in with the password from the environment; a wrong one fails clearly; neither is printed', async () => {
    const user = createTestUser();
    let own: RunningSshd | undefined;
    try {
      own = await startSshd({ allowUsers: [user.name] });
      const args = ['pi', 'probe', '--host', own.host, '--ssh-port', String(own.port), '--user', user.name, '--password-env', 'TDS_PI_PW', '--data-dir', path.join(work.path, 'data-pw'), '--json'];
      const ok = await cli(args, { TDS_PI_PW: user.password });
      expect(ok.code, ok.output).toBe(0);
      expect((JSON.parse(ok.stdout) as { ok: boolean }).ok).toBe(true);
      expect(ok.output).not.toContain(user.password);

      const wrong = await cli(args, { TDS_PI_PW: 'not-the-password' });
      expect(wrong.code).toBe(1);
      expect(wrong.output).toMatch(/SSH_AUTH_FAILED|login failed/i);
      expect(wrong.output).not.toContain('not-the-password');

      const missing = await cli(args, {});
      expect(missing.code).not.toBe(0);
      expect(missing.output).toMatch(/TDS_PI_PW/);
    } finally {
      await own?.stop();
      user.remove();
    }
  });
});
