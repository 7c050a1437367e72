import { promises as fs } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import type { WsClientFrame, WsServerFrame } from '../../shared/ipc-channels.js';
import type { StationTarget } from '../core/supervisor.js';
import { allowedHosts, allowedOrigins, contentSecurityPolicy, newAccessToken, tokenMatches } from './security.js';
import { resolveStatic } from './static-files.js';

export interface WebServerOptions {
  /** The station behind the socket: its core's supervisor (requests relayed, events pushed). */
  station: StationTarget;
  /** Folder of the built renderer (index.html + assets). */
  rendererDir: string;
  /** 0 = any free port. */
  port?: number;
  /** Defaults to a fresh random token. */
  token?: string;
}

export interface WebServer {
  readonly port: number;
  readonly token: string;
  /** URL to open: the token travels in the fragment, so it never reaches logs or Referer headers. */
  readonly url: string;
  close(): Promise<void>;
}

/** Largest request frame (CSV import, PEM pastes); anything larger is refused by `ws`. */
const MAX_FRAME = 4 * 1024 * 1024;
/** A client that cannot keep up (hidden tab) is dropped rather than buffering without bound. */
const MAX_BUFFERED = 16 * 1024 * 1024;

/**
 * Web mode: the built renderer over HTTP and the station contract over a WebSocket, on 127.0.0.1
 * only. The socket needs the access token, an Origin we served, and a Host we serve under.
 */
export async function startWebServer(options: WebServerOptions): Promise<WebServer> {
  const token = options.token ?? newAccessToken();
  const rendererDir = path.resolve(options.rendererDir);
  await fs.access(path.join(rendererDir, 'index.html')).catch(() => {
    throw new Error(`the renderer is not built (${rendererDir}/index.html missing): run "npm run build"`);
  });
  let port = 0;
  const server = http.createServer((req, res) => {
    void serveHttp(req, res);
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME, perMessageDeflate: false });

  async function serveHttp(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (!allowedHosts(port).has(req.headers.host ?? '')) {
      res.writeHead(421, { 'content-type': 'text/plain' }).end('wrong Host; open the URL the station printed');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    const found = await resolveStatic(rendererDir, url.pathname);
    if (!found) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const body = await fs.readFile(found.file);
    res.writeHead(200, {
      'content-type': found.type,
      'content-length': body.length,
      'content-security-policy': contentSecurityPolicy(port),
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      'cross-origin-opener-policy': 'same-origin',
      'cache-control': found.file.endsWith('index.html') ? 'no-store' : 'public, max-age=31536000, immutable',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  server.on('upgrade', (req, socket, head) => {
    const refuse = (status: number, text: string): void => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    if (url.pathname !== '/ws') return refuse(404, 'Not Found');
    if (!allowedHosts(port).has(req.headers.host ?? '')) return refuse(421, 'Misdirected Request');
    if (!allowedOrigins(port).has(req.headers.origin ?? '')) return refuse(403, 'Forbidden');
    if (!tokenMatches(token, url.searchParams.get('token'))) return refuse(401, 'Unauthorized');
    wss.handleUpgrade(req, socket, head, (ws) => onSession(ws));
  });

  function onSession(ws: WebSocket): void {
    const send = (frame: WsServerFrame): void => {
      if (ws.readyState !== ws.OPEN) return;
      if (ws.bufferedAmount > MAX_BUFFERED) {
        ws.close(1013, 'client too slow');
        return;
      }
      ws.send(JSON.stringify(frame));
    };
    const unsubscribe = options.station.subscribe((ev, p) => send({ t: 'evt', ev, p }));
    ws.on('close', unsubscribe);
    ws.on('error', () => ws.terminate());
    ws.on('message', (data, isBinary) => {
      if (isBinary) return ws.close(1003, 'text frames only');
      let frame: WsClientFrame;
      try {
        frame = JSON.parse(data.toString()) as WsClientFrame;
      } catch {
        return ws.close(1007, 'invalid JSON');
      }
      if (frame?.t !== 'req' || typeof frame.id !== 'number' || typeof frame.ch !== 'string') return ws.close(1002, 'invalid frame');
      void options.station.call(frame.ch, frame.p).then((r) => send({ t: 'res', id: frame.id, r }));
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  port = typeof addr === 'object' && addr ? addr.port : 0;

  return {
    port,
    token,
    url: `http://127.0.0.1:${port}/#token=${token}`,
    async close() {
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
