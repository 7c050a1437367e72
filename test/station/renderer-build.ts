import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { SerialDeviceSource } from '../../src/main/devices/serial-link.js';
import { FileSecretStore } from '../../src/main/settings/secret-store.js';
import { startWebStation, type WebStation } from '../../src/main/web/web-station.js';
import { SimDeviceSource } from '../sim/esp32/sim-device-source.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** The built renderer (dist/renderer); built once if missing (`npm run build` normally makes it). */
export function ensureRendererBuilt(): string {
  const dir = path.join(ROOT, 'dist/renderer');
  if (!existsSync(path.join(dir, 'index.html'))) {
    execFileSync('npx', ['vite', 'build', '--config', 'vite.renderer.config.ts'], { cwd: ROOT, stdio: 'ignore' });
  }
  return dir;
}

/** The real station core + web server in this process (no bundled server), its data in `dataDir`. */
export function startPlainStation(dataDir: string, deviceSource: SerialDeviceSource = new SimDeviceSource()): Promise<WebStation> {
  return startWebStation({
    dataDir,
    shell: 'web',
    version: 'test',
    secrets: new FileSecretStore(path.join(dataDir, 'secrets.json')),
    standalone: null,
    deviceSource,
    rendererDir: ensureRendererBuilt(),
  });
}
