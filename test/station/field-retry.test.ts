import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispatch } from '../../src/main/station/dispatch.js';
import type { StationService } from '../../src/main/station/service.js';
import type { IpcResult } from '../../src/shared/ipc-errors.js';
import { freePort } from '../support/ports.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { tempDir } from '../support/temp.js';
import { startCoreInProcess } from './renderer-build.js';

/**
 * A retried Field job is a new job: the Pi's entry must follow it (its state on the screen, and the
 * "already running" check), and the finished retry must stay in the Field state, not vanish while
 * the first attempt stays.
 */
describe('Field: a retry replaces the attempt it retries', () => {
  const tmp = tempDir('tds-field-retry-');
  let server: TestServer;
  let st: StationService;

  beforeAll(async () => {
    server = await startTestServer();
    st = await startCoreInProcess(tmp.path);
  }, 60_000);
  afterAll(async () => {
    await st?.close();
    await server?.stop();
    tmp.remove();
  });

  const call = async <T>(ch: string, p: unknown): Promise<T> => {
    const r = (await dispatch(st.handlers, ch, p, () => undefined)) as IpcResult<T>;
    if (!r.ok) throw new Error(`${ch}: ${JSON.stringify(r.error)}`);
    return r.value;
  };
  const settle = async (jobId: string) => {
    for (let i = 0; i < 300; i++) {
      const j = st.hub.get(jobId);
      if (j.state === 'failed' || j.state === 'succeeded' || j.state === 'cancelled') return j;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`job ${jobId} never finished`);
  };

  it('follows the retry of a failed Pi job', async () => {
    await call('settings.setServer', { mode: 'remote', url: server.url, token: server.tokens.operator, caPem: server.caPem, accountId: server.contaId });
    // The job never gets as far as the broker (its SSH connect fails); saving the profile only needs
    // a broker address where TLS answers, which the issuance server's HTTPS port does.
    const tlsPort = Number(new URL(server.url).port);
    await call('profiles.save', { profile: { name: 'field', accountId: server.contaId, brokerHost: '127.0.0.1', brokerPort: tlsPort, pi: { installPrefix: path.join(tmp.path, 'pi'), serviceManager: 'none' } } });
    // Nothing listens on this port: the SSH connect is refused, tried again a few times, then fails.
    const port = await freePort();
    const target = await call<{ id: string }>('field.addHost', { host: '127.0.0.1', port, name: 'no sshd' });
    const { jobId: firstId } = await call<{ jobId: string }>('field.provision', { targetId: target.id, profile: 'field', username: 'pi', auth: { method: 'password', password: 'not-used-1234' } });
    const first = await settle(firstId);
    expect(first.state).toBe('failed');
    expect(first.error?.where).toMatch(/^connect/);

    const { jobId: retryId } = await call<{ jobId: string }>('jobs.retry', { jobId: firstId });
    expect(retryId).not.toBe(firstId);
    const targetJob = () => st.field.targets().find((t) => t.id === target.id)?.jobId;
    await expect.poll(targetJob, { timeout: 5_000 }).toBe(retryId);
    const retry = await settle(retryId);
    expect(retry).toMatchObject({ state: 'failed', retryOf: firstId });
    // Finished, the retry is still the Pi's job in the Field state.
    expect(targetJob()).toBe(retryId);
    expect((await st.field.state()).jobs.map((j) => j.id)).toContain(retryId);
  }, 60_000);
});
