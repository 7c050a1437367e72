import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispatch } from '../../src/main/station/dispatch.js';
import type { StationService } from '../../src/main/station/service.js';
import type { IpcResult } from '../../src/shared/ipc-errors.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { tempDir } from '../support/temp.js';
import { startCoreInProcess } from './renderer-build.js';

/**
 * "Test connection" used to send the stored API token to any URL the UI named, plain http:// too.
 * The stored token now goes only to the saved server's own origin (scheme, host and port); any other
 * URL needs its token typed, and nothing is sent to it without one.
 */
describe('server.test sends the stored API token only to the saved server', () => {
  const tmp = tempDir('tds-server-test-token-');
  let server: TestServer;
  let st: StationService;
  let trap: http.Server;
  let trapUrl: string;
  const seen: Array<{ url: string; authorization: string | undefined }> = [];

  beforeAll(async () => {
    server = await startTestServer();
    st = await startCoreInProcess(tmp.path);
    // What an attacker's URL would receive: every request, with its Authorization header.
    trap = http.createServer((req, res) => {
      seen.push({ url: req.url ?? '', authorization: req.headers.authorization });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok","count":0,"results":[]}');
    });
    await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', resolve));
    trapUrl = `http://127.0.0.1:${(trap.address() as AddressInfo).port}`;
  }, 60_000);
  afterAll(async () => {
    await st?.close();
    await new Promise((r) => trap?.close(r));
    await server?.stop();
    tmp.remove();
  });

  const call = async (ch: string, p: unknown): Promise<IpcResult<{ ok: true; detail: string }>> => (await dispatch(st.handlers, ch, p, () => undefined)) as IpcResult<{ ok: true; detail: string }>;

  it('uses the stored token for the saved origin, refuses to send it anywhere else, and sends a typed token where asked', async () => {
    const saved = await call('settings.setServer', { mode: 'remote', url: server.url, token: server.tokens.operator, caPem: server.caPem, accountId: server.contaId });
    expect(saved.ok).toBe(true);

    // The saved server, same origin (the API path may differ): the stored token is used and accepted.
    const same = await call('server.test', { url: `${server.url}/api/v1`, caPem: server.caPem });
    expect(same).toMatchObject({ ok: true, value: { detail: expect.stringContaining('token accepted') } });

    // Another origin: plain http, or the saved host on another port or scheme. Refused at the token
    // field before any request is made.
    const port = new URL(server.url).port;
    for (const url of [trapUrl, `http://127.0.0.1:${port}`, `https://localhost:${port}`]) {
      const r = await call('server.test', { url });
      expect(r, url).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT', issues: [{ field: 'token', key: 'tokenForUrl' }] } });
      if (!r.ok) expect(r.error.message).toContain(new URL(server.url).origin);
    }
    expect(seen).toEqual([]);

    // A token typed for that URL goes there, and only that one.
    const typed = 'tds_typed_for_this_url_only_0001';
    const r = await call('server.test', { url: trapUrl, token: typed });
    expect(r.ok).toBe(true);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((s) => s.authorization === undefined || s.authorization === `Token ${typed}`)).toBe(true);
    expect(seen.some((s) => s.authorization === `Token ${typed}`)).toBe(true);
    expect(JSON.stringify(seen)).not.toContain(server.tokens.operator);
  }, 60_000);

  it('with no server saved, every test needs its token typed', async () => {
    const fresh = tempDir('tds-server-test-fresh-');
    const other = await startCoreInProcess(fresh.path);
    try {
      const r = await dispatch(other.handlers, 'server.test', { url: server.url, caPem: server.caPem }, () => undefined);
      expect(r).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT', issues: [{ field: 'token', key: 'tokenForUrl' }] } });
    } finally {
      await other.close();
      fresh.remove();
    }
  });
});
