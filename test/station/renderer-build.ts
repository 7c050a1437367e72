import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { SerialDeviceSource } from '../../src/main/devices/serial-link.js';
import { FileSecretStore } from '../../src/main/settings/secret-store.js';
import { StationService } from '../../src/main/station/service.js';
import { startWebStation, type WebStation } from '../../src/main/web/web-station.js';
import { SimDeviceSource } from '../sim/esp32/sim-device-source.js';
import { NO_DEVICES } from '../support/station-core.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** The built renderer (dist/renderer); built once if missing (`npm run build` normally makes it). */
export function ensureRendererBuilt(): string {
  const dir = path.join(ROOT, 'dist/renderer');
  if (!existsSync(path.join(dir, 'index.html'))) {
    execFileSync('npx', ['vite', 'build', '--config', 'vite.renderer.config.ts'], { cwd: ROOT, stdio: 'ignore' });
  }
  return dir;
}

/** Web mode as shipped: the core in its own process, no bundled server, no devices, its data in `dataDir`. */
export function startPlainStation(dataDir: string): Promise<WebStation> {
  return startWebStation({ dataDir, version: 'test', bundledServer: false, discovery: 'none', keychain: null, ...NO_DEVICES, rendererDir: ensureRendererBuilt(), env: {} });
}

/** The station core itself in this process (no transport), for tests of what it does behind the contract. */
export function startCoreInProcess(dataDir: string, deviceSource: SerialDeviceSource = new SimDeviceSource()): Promise<StationService> {
  return StationService.start({
    dataDir,
    shell: 'web',
    version: 'test',
    secrets: new FileSecretStore(path.join(dataDir, 'secrets.json')),
    standalone: null,
    deviceSource,
    log: () => undefined,
  });
}
