import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { SerialDeviceSource } from '../devices/serial-link.js';
import { caPassphrase } from '../settings/ca-passphrase.js';
import { FileSecretStore, SECRET_FILES, type StringCipher } from '../settings/secret-store.js';
import { migratePlainSecrets } from '../settings/secrets-migration.js';
import { createStandaloneHost } from '../standalone/host.js';
import { mdnsDiscovery } from '../station/field.js';
import { StationService } from '../station/service.js';
import type { CoreConfig } from './config.js';

/** Loads a device-source module (its `createDeviceSource(options)` export). */
async function loadDeviceSource(module: string, options: unknown): Promise<SerialDeviceSource> {
  const mod = (await import(pathToFileURL(path.resolve(module)).href)) as { createDeviceSource?: (o?: unknown) => Promise<SerialDeviceSource> | SerialDeviceSource };
  if (typeof mod.createDeviceSource !== 'function') throw new Error(`${module} does not export createDeviceSource()`);
  return mod.createDeviceSource(options);
}

/**
 * The station service as a core process runs it, composed from its configuration: the secret store
 * (encrypted by the host's keychain when there is one; secrets an older station kept in plain text
 * moved into it), the bundled server with its CA passphrase, device source and discovery.
 */
export async function startCoreStation(config: CoreConfig, cipher: StringCipher | undefined, log: (line: string) => void): Promise<StationService> {
  const secrets = new FileSecretStore(path.join(config.dataDir, SECRET_FILES[cipher?.kind ?? 'file']), cipher);
  const moved = await migratePlainSecrets(config.dataDir, secrets);
  if (moved.length) log(`[station] moved ${moved.length} secrets from ${SECRET_FILES.file} into the ${secrets.kind} store and deleted the plain file`);
  const deviceSource = config.deviceSourceModule ? await loadDeviceSource(config.deviceSourceModule, config.deviceSourceOptions) : undefined;
  return StationService.start({
    dataDir: config.dataDir,
    shell: config.shell,
    version: config.version,
    secrets,
    standalone: config.bundledServer
      ? createStandaloneHost({
          dataDir: path.join(config.dataDir, 'server'),
          secrets,
          caPassphrase: caPassphrase({ ...(config.caPassphrase ? { given: config.caPassphrase } : {}), store: secrets, dataDir: config.dataDir }),
          log,
        })
      : null,
    ...(deviceSource ? { deviceSource } : {}),
    ...(config.discovery === 'mdns' ? { discovery: mdnsDiscovery() } : {}),
    ...(config.agentDir ? { agentDir: config.agentDir } : {}),
    ...(config.concurrency ? { concurrency: config.concurrency } : {}),
    ...(config.keepFinishedJobs !== undefined ? { keepFinishedJobs: config.keepFinishedJobs } : {}),
    ...(config.jobOverrides ? { jobOverrides: config.jobOverrides } : {}),
    ...(config.monitorFreshnessMs ? { monitorFreshnessMs: config.monitorFreshnessMs } : {}),
    ...(config.restartReason ? { restartReason: config.restartReason } : {}),
    log,
  });
}
