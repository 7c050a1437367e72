import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StationLog } from '../../src/main/log/station-log.js';
import { dispatch } from '../../src/main/station/dispatch.js';
import { RESUME_FILE, type StationService } from '../../src/main/station/service.js';
import type { IpcResult } from '../../src/shared/ipc-errors.js';
import type { JobSnapshot } from '../../src/shared/jobs.js';
import { freePort } from '../support/ports.js';
import { tempDir } from '../support/temp.js';
import { startWebStation } from '../../src/main/web/web-station.js';
import { NO_DEVICES } from '../support/station-core.js';
import { ensureRendererBuilt, startCoreInProcess } from './renderer-build.js';

const t0 = '2026-11-27T10:00:00.000Z';

function running(id: string, target: string, extra: Partial<JobSnapshot> = {}): JobSnapshot {
  return {
    id,
    kind: 'pi',
    target,
    state: 'running',
    progress: 0.3,
    steps: [
      { name: 'connect', status: 'done', startedAt: t0, endedAt: '2026-11-27T10:00:01.000Z' },
      { name: 'prepare', status: 'running', startedAt: '2026-11-27T10:00:01.000Z' },
      { name: 'install', status: 'pending' },
    ],
    createdAt: t0,
    startedAt: t0,
    operator: 'ana',
    ...extra,
  };
}

// What a station core finds at start when the previous one stopped with jobs running (crashed,
// killed as hung, or the machine went down): those jobs are recorded as interrupted and shown so,
// and their retry is rebuilt from the resume spec the old core kept — which never holds a secret, so
// a Pi job whose login was a password or key needs it again.
describe('jobs a stopped core left running', () => {
  const tmp = tempDir('tds-interrupted-');
  let st: StationService;
  let sshPort: number;
  const call = async <T>(ch: string, p: unknown): Promise<IpcResult<T>> => (await dispatch(st.handlers, ch, p, () => undefined)) as IpcResult<T>;

  beforeAll(async () => {
    sshPort = await freePort(); // nothing listens: the agent-login retry fails at connect, which is fine here
    const hostA = `manual:127.0.0.1:${sshPort}`;
    writeFileSync(
      path.join(tmp.path, 'settings.json'),
      JSON.stringify({ version: 1, stationId: 'bench-9', configured: true, server: { mode: 'remote', url: `https://127.0.0.1:${sshPort}`, caPem: null, accountId: 1 }, profiles: [{ name: 'field', accountId: 1, brokerHost: '127.0.0.1', pi: { installPrefix: '/tmp/nowhere', serviceManager: 'none' } }], manualHosts: [{ id: hostA, host: '127.0.0.1', port: sshPort, name: null }] }),
    );
    writeFileSync(path.join(tmp.path, 'secrets.json'), JSON.stringify({ version: 1, secrets: { 'server.token': 'tds_token_for_a_server_never_reached' } }), { mode: 0o600 });
    // The previous core's last words: three jobs running in the log, two with resume specs.
    const log = StationLog.open(path.join(tmp.path, 'station-log.sqlite'), { stationId: 'bench-9' });
    log.recordSnapshot(running('job-password', `127.0.0.1:${sshPort}`));
    log.recordSnapshot(running('job-agent', `127.0.0.1:${sshPort}`));
    log.recordSnapshot(running('job-nospec', '127.0.0.1:2222'));
    log.recordSnapshot({ ...running('job-done', '127.0.0.1:2223'), state: 'succeeded', progress: 1, endedAt: '2026-11-27T10:00:09.000Z', steps: [] });
    log.close();
    writeFileSync(
      path.join(tmp.path, RESUME_FILE),
      JSON.stringify({
        version: 1,
        jobs: {
          'job-password': { kind: 'pi', targetId: hostA, profile: 'field', username: 'pi', auth: 'password', gatewayCode: null },
          'job-agent': { kind: 'pi', targetId: hostA, profile: 'field', username: 'pi', auth: 'agent', gatewayCode: 'GW-9' },
        },
      }),
    );
    st = await startCoreInProcess(tmp.path);
  }, 60_000);
  afterAll(async () => {
    await st?.close();
    tmp.remove();
  });

  it('is the only core on its data folder: a second one refuses to start, so it never takes these jobs for its own', async () => {
    await expect(startWebStation({ dataDir: tmp.path, version: 'test', bundledServer: false, discovery: 'none', keychain: null, ...NO_DEVICES, rendererDir: ensureRendererBuilt(), env: {}, log: () => undefined })).rejects.toThrow(
      new RegExp(`Another station \\(process ${process.pid}\\) is running on the data folder`),
    );
  }, 60_000);

  it('records them as interrupted in the station log, with the reason and the step, and lists them as failed', async () => {
    expect(st.interruptedJobs.sort()).toEqual(['job-agent', 'job-nospec', 'job-password']);
    const row = await call<{ result: string; errorCode: string; errorMessage: string; steps: Array<{ name: string; status: string; endedAt: string | null }> }>('log.get', { id: 'job-password' });
    expect(row).toMatchObject({ ok: true, value: { result: 'failed', errorCode: 'INTERRUPTED', errorMessage: 'Interrupted: the station stopped while it ran during the step "prepare".' } });
    if (row.ok) {
      expect(row.value.steps.map((s) => s.status)).toEqual(['done', 'failed', 'pending']);
      expect(row.value.steps[1]!.endedAt).not.toBeNull();
    }
    expect(await call('log.get', { id: 'job-done' })).toMatchObject({ ok: true, value: { result: 'succeeded', errorCode: null } });
    const jobs = (await call<JobSnapshot[]>('jobs.list', undefined)) as { ok: true; value: JobSnapshot[] };
    const listed = jobs.value.filter((j) => j.id.startsWith('job-'));
    expect(listed.map((j) => [j.id, j.state, j.error?.code])).toEqual(
      expect.arrayContaining([
        ['job-password', 'failed', 'INTERRUPTED'],
        ['job-agent', 'failed', 'INTERRUPTED'],
        ['job-nospec', 'failed', 'INTERRUPTED'],
      ]),
    );
    // The Pi's entry on the Field screen shows its interrupted job.
    const field = (await call<{ targets: Array<{ id: string; jobId: string | null }> }>('field.state', undefined)) as { ok: true; value: { targets: Array<{ id: string; jobId: string | null }> } };
    expect(field.value.targets.find((t) => t.id === `manual:127.0.0.1:${sshPort}`)?.jobId).toMatch(/^job-(agent|password)$/);
    // The resume specs of the interrupted jobs are used up: the file no longer lists them.
    await expect.poll(() => JSON.parse(readFileSync(path.join(tmp.path, RESUME_FILE), 'utf8')).jobs).toEqual({});
  });

  it('asks for the login again instead of retrying a job whose password was never stored', async () => {
    const r = await call('jobs.retry', { jobId: 'job-password' });
    expect(r).toMatchObject({ ok: false, error: { code: 'CREDENTIALS_NEEDED', message: expect.stringContaining('password for pi@127.0.0.1 is gone') } });
  });

  it('cannot retry a job nothing was kept for, and says what to do', async () => {
    expect(await call('jobs.retry', { jobId: 'job-nospec' })).toMatchObject({ ok: false, error: { code: 'CONFLICT', hint: 'Start a new job for this device.' } });
  });

  it('rebuilds a job that needs no secret from its spec, as a retry of the interrupted one', async () => {
    const r = (await call<{ jobId: string }>('jobs.retry', { jobId: 'job-agent' })) as { ok: true; value: { jobId: string } };
    expect(r, JSON.stringify(r)).toMatchObject({ ok: true });
    const retry = st.hub.get(r.value.jobId);
    expect(retry).toMatchObject({ kind: 'pi', retryOf: 'job-agent', target: `127.0.0.1:${sshPort}` });
    // While it runs, its spec is on disk for the next core (no secret in it).
    const onDisk = JSON.parse(readFileSync(path.join(tmp.path, RESUME_FILE), 'utf8')) as { jobs: Record<string, unknown> };
    if (Object.keys(onDisk.jobs).length) expect(onDisk.jobs[r.value.jobId]).toEqual({ kind: 'pi', targetId: `manual:127.0.0.1:${sshPort}`, profile: 'field', username: 'pi', auth: 'agent', gatewayCode: 'GW-9' });
    await expect.poll(() => st.hub.get(r.value.jobId).state, { timeout: 20_000 }).toBe('failed');
    // It really ran: its first step (the SSH login with the agent, nobody there) is what failed.
    expect(st.hub.get(r.value.jobId).steps[0]).toMatchObject({ name: 'connect', status: 'failed' });
    expect(existsSync(path.join(tmp.path, RESUME_FILE))).toBe(true);
    await expect.poll(() => JSON.parse(readFileSync(path.join(tmp.path, RESUME_FILE), 'utf8')).jobs).toEqual({});
  });
});
