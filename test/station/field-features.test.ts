import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobSnapshot } from '../../src/shared/jobs.js';
import type { IpcResult } from '../../src/shared/ipc-errors.js';
import { dispatch } from '../../src/main/station/dispatch.js';
import type { StationService } from '../../src/main/station/service.js';
import { startTcpRelay, type TcpRelay } from '../pi/helpers.js';
import { freePort } from '../support/ports.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { makeSshKeyPair, startSshd, type RunningSshd } from '../support/sshd.js';
import { tempDir } from '../support/temp.js';
import { startCoreInProcess } from './renderer-build.js';

/**
 * The Field screen's core through the validated contract, against Debian's OpenSSH server as the
 * "Pi": a probe that changes nothing, a key file read from this station, what is remembered (never a
 * secret), a Pi that "boots" while the job waits for it, a refused port tried with growing pauses,
 * and forgetting the pinned host key of a "re-imaged" Pi (recorded in the station log).
 */
describe('Field core: probe, key file, remembered login, waiting for a boot, forgetting a host key', () => {
  const tmp = tempDir('tds-field-features-');
  const dataDir = path.join(tmp.path, 'station');
  const prefix = path.join(tmp.path, 'pi-root');
  const me = userInfo().username;
  let server: TestServer;
  let sshd: RunningSshd;
  let reimaged: RunningSshd;
  let st: StationService;
  let keyFile: string;
  const relays: TcpRelay[] = [];

  beforeAll(async () => {
    execFileSync('chmod', ['755', tmp.path]);
    [server, sshd, reimaged] = await Promise.all([startTestServer(), startSshd(), startSshd()]);
    const key = makeSshKeyPair(tmp.path, 'installer');
    keyFile = key.privateKeyFile;
    sshd.authorize(me, key.publicKey);
    reimaged.authorize(me, key.publicKey);
    st = await startCoreInProcess(dataDir);
    await call('settings.setServer', { mode: 'remote', url: server.url, token: server.tokens.operator, caPem: server.caPem, accountId: server.contaId });
    await call('settings.update', { operator: 'Carla Dias' });
    // No job here reaches the broker; saving the profile only needs a broker address where TLS answers,
    // which the issuance server's HTTPS port does.
    const tlsPort = Number(new URL(server.url).port);
    await call('profiles.save', { profile: { name: 'field', accountId: server.contaId, brokerHost: '127.0.0.1', brokerPort: tlsPort, pi: { installPrefix: prefix, serviceManager: 'none' } } });
  }, 90_000);
  afterAll(async () => {
    await st?.close();
    for (const r of relays) await r.close();
    await sshd?.stop();
    await reimaged?.stop();
    await server?.stop();
    tmp.remove();
  });

  async function call<T>(ch: string, p?: unknown): Promise<T> {
    const r = (await dispatch(st.handlers, ch, p, () => undefined)) as IpcResult<T>;
    if (!r.ok) throw Object.assign(new Error(`${ch}: ${JSON.stringify(r.error)}`), { body: r.error });
    return r.value;
  }
  /** Waits for the job to finish, answering a host-key question with `accept` when it comes. */
  async function settle(jobId: string, onQuestion?: (j: JobSnapshot) => Promise<void>): Promise<JobSnapshot> {
    const answered = new Set<string>();
    for (let i = 0; i < 1200; i++) {
      const j = st.hub.get(jobId);
      if (j.question && !answered.has(j.question.id) && onQuestion) {
        answered.add(j.question.id);
        await onQuestion(j);
      }
      if (['succeeded', 'failed', 'cancelled', 'skipped'].includes(j.state)) return j;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`job ${jobId} never finished`);
  }
  const accept = async (j: JobSnapshot): Promise<void> => {
    await call('jobs.answer', { jobId: j.id, questionId: j.question!.id, choice: 'accept' });
  };

  it('probes a Pi without changing it, logging in with a key file of this station; remembers the login but no secret', async () => {
    const target = await call<{ id: string }>('field.addHost', { host: sshd.host, port: sshd.port, name: 'Pump house' });
    const { jobId } = await call<{ jobId: string }>('field.probe', { targetId: target.id, profile: 'field', username: me, auth: { method: 'keyFile', path: keyFile } });
    let asked: JobSnapshot | undefined;
    const job = await settle(jobId, async (j) => {
      asked = j;
      await accept(j);
    });
    expect(job.state, JSON.stringify(job.error)).toBe('succeeded');
    expect(job.kind).toBe('pi-probe');
    expect(job.steps.map((s) => `${s.name}:${s.status}`)).toEqual(['connect:done', 'probe:done']);
    // The host-key question carries a translatable text with the real fingerprint.
    expect(asked?.question).toMatchObject({ kind: 'host-key', text: { key: 'core:pi.question.hostKey', params: { fingerprint: sshd.hostKeyFingerprint } } });
    expect(job.facts).toMatchObject({ python: expect.stringMatching(/^3\./), agent: 'none', missingPackages: '' });
    expect(job.mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    expect(job.steps[1]!.detailText?.key).toBe('core:pi.detail.probeNotPi');
    // Nothing was installed or staged on the "Pi".
    expect(existsSync(path.join(prefix, 'etc'))).toBe(false);
    expect(existsSync(path.join(prefix, 'opt'))).toBe(false);
    // The Pi's entry now has its MAC (for its online state; learned from the job's snapshot and saved
    // a moment after it) and the pinned host key.
    await expect.poll(() => st.field.targets().find((x) => x.id === target.id)?.mac).toBe(job.mac);
    await expect.poll(() => st.field.targets().find((x) => x.id === target.id)?.hostKey?.fingerprint).toBe(sshd.hostKeyFingerprint);
    // Remembered for next time: user, sign-in method, key file path, the Pi — never a key or password.
    const state = await call<{ remembered: { username: string; authMethod: string; keyFile: string; recentHosts: Array<{ host: string; port: number; username: string }> }; keyFiles: string[] }>('field.state');
    expect(state.remembered).toMatchObject({ username: me, authMethod: 'keyFile', keyFile, recentHosts: [{ host: sshd.host, port: sshd.port, username: me }] });
    const settingsFile = readFileSync(path.join(dataDir, 'settings.json'), 'utf8');
    expect(settingsFile).toContain(keyFile);
    expect(settingsFile).not.toContain(readFileSync(keyFile, 'utf8').split('\n')[1]!);
    // The log records the probe, and today's figures do not count it as a provisioned device.
    expect((await call<{ provisioned: number }>('log.today')).provisioned).toBe(0);
    expect((await call<{ rows: Array<{ kind: string }> }>('log.query', { kind: 'pi-probe' })).rows).toHaveLength(1);
  }, 60_000);

  it('refuses a key file that is missing, is not a private key, or needs a passphrase, at the field', async () => {
    const target = st.field.targets().find((x) => x.host === sshd.host && x.port === sshd.port)!;
    const probe = (auth: unknown) => call('field.probe', { targetId: target.id, profile: 'field', username: me, auth });
    await expect(probe({ method: 'keyFile', path: path.join(tmp.path, 'nope') })).rejects.toMatchObject({ body: { code: 'INVALID_INPUT', issues: [{ field: 'auth.path', key: 'keyFileMissing' }] } });
    await expect(probe({ method: 'keyFile', path: `${keyFile}.pub` })).rejects.toMatchObject({ body: { issues: [{ field: 'auth.path', key: 'keyFileInvalid' }] } });
    const locked = path.join(tmp.path, 'locked');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'a passphrase', '-f', locked]);
    await expect(probe({ method: 'keyFile', path: locked })).rejects.toMatchObject({ body: { issues: [{ field: 'auth.passphrase', key: 'keyFilePassphrase' }] } });
    await expect(probe({ method: 'keyFile', path: locked, passphrase: 'wrong one' })).rejects.toMatchObject({ body: { issues: [{ field: 'auth.path', key: 'keyFileInvalid' }] } });
    expect(st.hub.list().filter((j) => j.kind === 'pi-probe')).toHaveLength(1);
  });

  it('tries a refused port a few times with growing pauses, then fails saying how often and how long', async () => {
    const port = await freePort();
    const target = await call<{ id: string }>('field.addHost', { host: '127.0.0.1', port, name: 'Not there' });
    const t0 = Date.now();
    const { jobId } = await call<{ jobId: string }>('field.provision', { targetId: target.id, profile: 'field', username: me, auth: { method: 'keyFile', path: keyFile } });
    const details: string[] = [];
    const off = st.hub.queue.onUpdate((s) => {
      const d = s.id === jobId ? s.steps[0]?.detailText : undefined;
      if (d) details.push(d.key);
    });
    const job = await settle(jobId);
    off();
    const took = Date.now() - t0;
    expect(job.state).toBe('failed');
    expect(job.error).toMatchObject({ code: 'SSH_UNREACHABLE', message: expect.stringMatching(/ECONNREFUSED.*\(5 attempts over [78] s\)/), text: { key: 'core:pi.error.unreachableAfter', params: { attempts: 5, reason: 'ECONNREFUSED' } } });
    expect(details).toContain('core:pi.detail.retrying');
    // 0.5 + 1 + 2 + 4 s of pauses: not 20 ms, and not minutes.
    expect(took).toBeGreaterThanOrEqual(7_400);
    expect(took).toBeLessThan(30_000);
  }, 60_000);

  it('waits for a Pi that boots while the job waits, and connects once it answers', async () => {
    const port = await freePort();
    const target = await call<{ id: string }>('field.addHost', { host: '127.0.0.1', port, name: 'Booting' });
    const { jobId } = await call<{ jobId: string }>('field.probe', { targetId: target.id, profile: 'field', username: me, auth: { method: 'keyFile', path: keyFile }, waitForBoot: true });
    // The job keeps trying and says so; ten seconds later the "Pi" answers on that port.
    await expect.poll(() => st.hub.get(jobId).steps[0]?.detailText?.key, { timeout: 10_000 }).toBe('core:pi.detail.waitingForBoot');
    await new Promise((r) => setTimeout(r, 10_000));
    expect(st.hub.get(jobId).state).toBe('running');
    relays.push(await startTcpRelay(sshd.port, '127.0.0.1', port));
    const job = await settle(jobId, accept);
    expect(job.state, JSON.stringify(job.error)).toBe('succeeded');
    expect((await call<{ remembered: { waitForBoot: boolean } }>('field.state')).remembered.waitForBoot).toBe(true);
  }, 120_000);

  it('refuses a re-imaged Pi whose host key changed, until its pinned key is forgotten (recorded in the log)', async () => {
    const relay = relays[0]!;
    const target = st.field.targets().find((x) => x.name === 'Booting')!;
    const pinned = target.hostKey!.fingerprint;
    expect(pinned).toBe(sshd.hostKeyFingerprint);
    // The "Pi" at that address now has another host key.
    relay.retarget(reimaged.port);
    const login = { targetId: target.id, profile: 'field', username: me, auth: { method: 'keyFile', path: keyFile } };
    const refused = await settle((await call<{ jobId: string }>('field.probe', login)).jobId);
    expect(refused.state).toBe('failed');
    expect(refused.error).toMatchObject({ code: 'SSH_HOST_KEY_CHANGED', text: { key: 'core:pi.error.hostKeyChanged', params: { fingerprint: reimaged.hostKeyFingerprint, pinned } } });

    const after = await call<{ hostKey: unknown }>('field.forgetHostKey', { targetId: target.id });
    expect(after.hostKey).toBeNull();
    await expect(call('field.forgetHostKey', { targetId: target.id })).rejects.toMatchObject({ body: { code: 'NOT_FOUND' } });
    const events = await call<{ rows: Array<Record<string, unknown>> }>('log.query', { kind: 'host-key' });
    expect(events.rows).toEqual([expect.objectContaining({ type: 'event', kind: 'host-key', operator: 'Carla Dias', target: `127.0.0.1:${relay.port}`, reason: pinned })]);

    // Asked again, with the new key's fingerprint; accepted, it is pinned.
    let shown: string | undefined;
    const again = await settle((await call<{ jobId: string }>('field.probe', login)).jobId, async (j) => {
      shown = j.question?.facts?.fingerprint;
      await accept(j);
    });
    expect(again.state).toBe('succeeded');
    expect(shown).toBe(reimaged.hostKeyFingerprint);
    await expect.poll(() => st.field.targets().find((x) => x.id === target.id)?.hostKey?.fingerprint).toBe(reimaged.hostKeyFingerprint);
    // No leftovers of the probes on either "Pi".
    for (const s of [sshd, reimaged]) expect(readdirSync(path.join(s.dir, 'tmp')).filter((n) => n.startsWith('tds-pi.'))).toEqual([]);
  }, 90_000);
});
