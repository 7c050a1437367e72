import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { StationService, type StationOptions } from '../station/service.js';
import { startWebServer, type WebServer } from './server.js';

/**
 * The built renderer: dist/renderer next to the compiled core (dist/station/...), or the same
 * folder found from the sources when run through tsx (demo, tests). TDS_RENDERER_DIR overrides.
 */
export function defaultRendererDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TDS_RENDERER_DIR) return path.resolve(env.TDS_RENDERER_DIR);
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'dist', 'renderer');
    if (existsSync(path.join(candidate, 'index.html'))) return candidate;
    dir = path.dirname(dir);
  }
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../renderer');
}

export interface WebStation {
  station: StationService;
  web: WebServer;
  url: string;
  close(): Promise<void>;
}

/** The station core + the web UI on 127.0.0.1 (web mode: `tds-station serve`, the demo, the E2E tests). */
export async function startWebStation(options: StationOptions & { port?: number; token?: string; rendererDir?: string }): Promise<WebStation> {
  const station = await StationService.start(options);
  let web: WebServer;
  try {
    web = await startWebServer({
      handlers: station.handlers,
      bus: station.bus,
      rendererDir: options.rendererDir ?? defaultRendererDir(),
      ...(options.port !== undefined ? { port: options.port } : {}),
      ...(options.token ? { token: options.token } : {}),
    });
  } catch (err) {
    await station.close();
    throw err;
  }
  return {
    station,
    web,
    url: web.url,
    async close() {
      await web.close();
      await station.close();
    },
  };
}
