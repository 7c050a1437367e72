import path from 'node:path';
import type { Page } from 'playwright-core';
import { startWebStation, type WebStation, type WebStationOptions } from '../../../src/main/web/web-station.js';
import type { SimBoardHandle } from '../../sim/esp32/sim-device-source.js';
import type { Backend } from '../../support/backend.js';
import { SIM_SOURCE_MODULE } from '../../support/station-core.js';
import { ensureRendererBuilt } from '../../station/renderer-build.js';
import { fill, saveAndWait, settingsTab } from './ui.js';

export const BUNDLE_DIR = path.resolve(import.meta.dirname, '../../fixtures/bundle-arduino');

export interface TestStationOptions {
  dataDir: string;
  /** Simulated boards plugged in (the core's device source follows their plug/unplug events); `location`: their hub position. */
  boards?: Array<SimBoardHandle & { location?: string }>;
  /** Run the bundled server (standalone mode); its CA passphrase is `caPassphrase`. */
  bundledServer?: boolean;
  caPassphrase?: string;
  port?: number;
  token?: string;
  supervision?: WebStationOptions['supervision'];
}

/**
 * The station as web mode runs it: the real core in its own process (simulated boards through a
 * device-source module), the web UI in this one. No keychain: secrets in the 0600 file.
 */
export function startTestStation(options: TestStationOptions): Promise<WebStation> {
  return startWebStation({
    dataDir: options.dataDir,
    version: 'e2e',
    bundledServer: options.bundledServer ?? false,
    discovery: 'none',
    keychain: null,
    deviceSourceModule: SIM_SOURCE_MODULE,
    deviceSourceOptions: {
      boards: (options.boards ?? []).map((b) => ({ hostPath: b.hostPath, controlPath: b.controlPath, mac: b.mac, ...(b.resetCircuit ? { resetCircuit: b.resetCircuit } : {}), ...(b.location ? { location: b.location } : {}) })),
    },
    rendererDir: ensureRendererBuilt(),
    jobOverrides: { bootLogMs: 800 },
    // Simulated boards send telemetry every 2 s; a silent board is offline after 8 s.
    monitorFreshnessMs: 8_000,
    ...(options.caPassphrase ? { caPassphrase: options.caPassphrase } : {}),
    ...(options.port !== undefined ? { port: options.port } : {}),
    ...(options.token ? { token: options.token } : {}),
    ...(options.supervision ? { supervision: options.supervision } : {}),
    env: {},
  });
}

export { invoke } from '../../support/station-core.js';

/** Configures the station against a remote back end through the Settings screen, as an admin would. */
export async function configureRemote(page: Page, backend: Backend, operator = 'Ana Souza'): Promise<void> {
  await page.locator('.wizard, .shell').first().waitFor();
  const wizardRemote = page.getByRole('button', { name: /Connect to a remote server|Conectar a um servidor remoto/ });
  if (await wizardRemote.isVisible()) await wizardRemote.click();
  await settingsTab(page, 'server');
  await page.check('input[name=server-mode][value=remote]');
  await fill(page, '#server-form', { url: backend.server.url, token: backend.server.tokens.operator, accountId: String(backend.server.contaId), caPem: backend.server.caPem });
  await saveAndWait(page, 'server-form');

  await settingsTab(page, 'broker');
  await fill(page, '#broker-form', {
    host: backend.broker.host,
    port: String(backend.broker.port),
    deviceHost: backend.broker.host,
    caPem: backend.broker.caPem,
    'monitor.certPem': backend.monitor.certPem,
    'monitor.keyPem': backend.monitor.keyPem,
  });
  await saveAndWait(page, 'broker-form');

  await settingsTab(page, 'general');
  await fill(page, '#general-form', { operator });
  await saveAndWait(page, 'general-form');
}

/** Creates a profile in Settings → Profiles. */
export async function createProfile(page: Page, backend: Backend, values: { name: string; esp32?: boolean; pi?: { installPrefix: string; serviceManager: 'none' | 'systemd' } }): Promise<void> {
  await settingsTab(page, 'profiles');
  if (!(await page.locator('#profile-form').isVisible())) await page.getByRole('button', { name: /New profile|Novo perfil/ }).click();
  await fill(page, '#profile-form', { name: values.name, accountId: String(backend.server.contaId), brokerHost: backend.broker.host, brokerPort: String(backend.broker.port) });
  const esp = page.locator('#profile-form [data-field="esp32"]');
  if (values.esp32) {
    await esp.check();
    await fill(page, '#profile-form', { 'esp32.bundlePath': BUNDLE_DIR, 'esp32.wifiSsid': 'bench-wifi', 'esp32.wifiPassword': 'bench-pass-123', 'esp32.onlineTimeoutSec': '40' });
  } else await esp.uncheck();
  const pi = page.locator('#profile-form [data-field="pi"]');
  if (values.pi) {
    await pi.check();
    await fill(page, '#profile-form', { 'pi.installPrefix': values.pi.installPrefix, 'pi.onlineTimeoutSec': '40' });
    await page.selectOption('#profile-form [data-field="pi.serviceManager"]', values.pi.serviceManager);
  } else await pi.uncheck();
  await page.click('#profile-form button[type=submit]');
  await page.locator('[data-testid=profile-item]', { hasText: values.name }).waitFor({ timeout: 15_000 });
}
