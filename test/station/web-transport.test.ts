import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { WebStation } from '../../src/main/web/web-station.js';
import type { WsServerFrame } from '../../src/shared/ipc-channels.js';
import { tempDir } from '../support/temp.js';
import { startPlainStation } from './renderer-build.js';

function get(port: number, urlPath: string, host = `127.0.0.1:${port}`): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, headers: { host } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Opens the socket; resolves with the socket, or with the HTTP status the upgrade was refused with. */
function connect(port: number, token: string, origin: string, host = `127.0.0.1:${port}`): Promise<WebSocket | number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${encodeURIComponent(token)}`, { headers: { origin, host } });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('error', () => resolve(-1));
  });
}

function request(ws: WebSocket, id: number, ch: string, p?: unknown): Promise<Extract<WsServerFrame, { t: 'res' }>['r']> {
  return new Promise((resolve) => {
    const onMsg = (data: WebSocket.RawData): void => {
      const f = JSON.parse(data.toString()) as WsServerFrame;
      if (f.t === 'res' && f.id === id) {
        ws.off('message', onMsg);
        resolve(f.r);
      }
    };
    ws.on('message', onMsg);
    ws.send(JSON.stringify({ t: 'req', id, ch, p }));
  });
}

describe('web mode transport (127.0.0.1, token, Origin/Host checks, validated contract)', () => {
  const tmp = tempDir('tds-web-');
  let st: WebStation;
  let port: number;
  let token: string;
  let origin: string;

  beforeAll(async () => {
    st = await startPlainStation(tmp.path);
    port = st.web.port;
    token = st.web.token;
    origin = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    await st?.close();
    tmp.remove();
  });

  it('prints a URL on 127.0.0.1 with a 256-bit token in the fragment', () => {
    expect(st.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${port}/#token=[A-Za-z0-9_-]{43}$`));
  });

  it('serves the UI with a strict CSP, and refuses foreign Host headers and path tricks', async () => {
    const ok = await get(port, '/');
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('<div id="root">');
    expect(ok.headers['content-security-policy']).toContain("script-src 'self'");
    expect(ok.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(ok.headers['x-content-type-options']).toBe('nosniff');
    expect((await get(port, '/', `evil.example:${port}`)).status).toBe(421);
    expect((await get(port, '/../../../../etc/passwd')).status).toBe(404);
    expect((await get(port, '/%2e%2e/%2e%2e/package.json')).status).toBe(404);
  });

  it('opens the socket only with the token, our Origin and our Host', async () => {
    expect(await connect(port, 'wrong', origin)).toBe(401);
    expect(await connect(port, token, 'http://evil.example')).toBe(403);
    expect(await connect(port, token, origin, `rebound.example:${port}`)).toBe(421);
    const ws = await connect(port, token, `http://localhost:${port}`);
    expect(ws).toBeInstanceOf(WebSocket);
    (ws as WebSocket).close();
  });

  it('dispatches typed requests and answers bad input with field issues', async () => {
    const ws = (await connect(port, token, origin)) as WebSocket;
    const info = await request(ws, 1, 'app.info');
    expect(info).toMatchObject({ ok: true, value: { shell: 'web', firstRunNeeded: true, secretStore: 'file' } });
    const unknown = await request(ws, 2, 'fs.readFile', { path: '/etc/passwd' });
    expect(unknown).toMatchObject({ ok: false, error: { code: 'UNKNOWN_CHANNEL' } });
    const bad = await request(ws, 3, 'field.addHost', { host: 'not a host!', port: 70000 });
    expect(bad.ok).toBe(false);
    const issues = bad.ok ? [] : (bad.error.issues ?? []);
    expect(issues.map((i) => `${i.field}:${i.key}`).sort()).toEqual(['host:host', 'port:port']);
    const good = await request(ws, 4, 'field.addHost', { host: '192.168.7.20', name: 'pump house' });
    expect(good).toMatchObject({ ok: true, value: { host: '192.168.7.20', port: 22, source: 'manual', name: 'pump house' } });
    ws.close();
  });

  it('pushes events to connected clients', async () => {
    const ws = (await connect(port, token, origin)) as WebSocket;
    const seen = new Promise<WsServerFrame>((resolve) => ws.on('message', (d) => {
      const f = JSON.parse(d.toString()) as WsServerFrame;
      if (f.t === 'evt' && f.ev === 'settings.changed') resolve(f);
    }));
    expect(await request(ws, 1, 'settings.update', { operator: 'João' })).toMatchObject({ ok: true });
    expect(await seen).toMatchObject({ t: 'evt', ev: 'settings.changed', p: { operator: 'João' } });
    ws.close();
  });
});
