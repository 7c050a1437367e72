import { net, protocol } from 'electron';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { resolveStatic } from '../web/static-files.js';

/** The packaged renderer's CSP: our own code only; the contract goes over IPC, so no network at all. */
export const ELECTRON_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "connect-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "object-src 'none'",
  "frame-src 'none'",
].join('; ');

/** Must run before `app.ready`: app:// behaves like https (secure context, standard URL parsing). */
export function registerAppScheme(): void {
  protocol.registerSchemesAsPrivileged([{ scheme: 'app', privileges: { standard: true, secure: true, supportFetchAPI: true } }]);
}

/** Serves the built renderer from `rendererDir` under app://station/, with the CSP as a real header. */
export function serveRenderer(rendererDir: string): void {
  const root = path.resolve(rendererDir);
  protocol.handle('app', async (request) => {
    const url = new URL(request.url);
    if (url.host !== 'station') return new Response('not found', { status: 404 });
    const found = await resolveStatic(root, url.pathname);
    if (!found) return new Response('not found', { status: 404 });
    const res = await net.fetch(pathToFileURL(found.file).toString());
    return new Response(res.body, {
      status: 200,
      headers: { 'content-type': found.type, 'content-security-policy': ELECTRON_CSP, 'x-content-type-options': 'nosniff' },
    });
  });
}
