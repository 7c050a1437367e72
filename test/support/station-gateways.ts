import path from 'node:path';
import { FileSecretStore } from '../../src/main/settings/secret-store.js';
import { SettingsStore } from '../../src/main/settings/settings-store.js';
import { StationEventBus } from '../../src/main/station/dispatch.js';
import { Gateways } from '../../src/main/station/gateways.js';
import { ServerLink, type ServerEndpoint } from '../../src/main/station/server-link.js';
import { SettingsService } from '../../src/main/station/settings-service.js';

/**
 * The station core's Gateways screen service over a real server: fresh settings in `dir` (bundled
 * mode), with `endpoint` playing the bundled server. Close the returned link when done.
 */
export async function stationGateways(dir: string, endpoint: ServerEndpoint): Promise<{ gateways: Gateways; link: ServerLink }> {
  const store = new SettingsStore(dir);
  await store.load();
  const settings = new SettingsService(store, new FileSecretStore(path.join(dir, 'secrets.json')), new StationEventBus(), () => ({ bundledServer: null, embeddedBroker: null }));
  const link = new ServerLink(settings, () => endpoint);
  return { gateways: new Gateways(link, () => undefined), link };
}
