import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CoreConfig } from '../core/config.js';
import { forkLauncher } from '../core/fork-launcher.js';
import { CoreSupervisor, type CoreLauncher, type SupervisorOptions } from '../core/supervisor.js';
import { readGivenCaPassphrase, withoutCaPassphrase } from '../settings/ca-passphrase.js';
import { KeyringCipher } from '../settings/keyring-cipher.js';
import { SECRET_FILES, type StringCipher } from '../settings/secret-store.js';
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

type CoreOptions = Omit<CoreConfig, 'shell' | 'keychain' | 'caPassphrase' | 'heartbeatMs' | 'restartReason'>;

export interface WebStationOptions extends CoreOptions {
  /** The CA passphrase of the bundled server; default: what the operator gives in the environment. */
  caPassphrase?: string;
  /** 'auto' (default): the desktop keyring when one answers; null: no keychain (plain 0600 file). */
  keychain?: StringCipher | null | 'auto';
  /** How the core process is started (default: a Node child process). */
  launcher?: CoreLauncher;
  /** Supervision timings (heartbeat, hang limit, back-off), for tests. */
  supervision?: Pick<SupervisorOptions, 'heartbeatMs' | 'hangAfterMs' | 'startTimeoutMs' | 'backoff' | 'stopTimeoutMs' | 'requestWaitMs'>;
  port?: number;
  token?: string;
  rendererDir?: string;
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
}

export interface WebStation {
  /** The station core's supervisor (its process, restarts, and the contract relayed to it). */
  core: CoreSupervisor;
  web: WebServer;
  url: string;
  close(): Promise<void>;
}

/** The desktop keyring's cipher for this data folder, or null (said why) when there is none. */
export async function webKeychain(dataDir: string, log: (line: string) => void): Promise<StringCipher | null> {
  try {
    return await KeyringCipher.open(dataDir, { mustExist: existsSync(path.join(dataDir, SECRET_FILES.keyring)) });
  } catch (err) {
    log(`[station] no desktop keyring (${err instanceof Error ? err.message : String(err)}); secrets stay in a 0600 file and the bundled server's CA passphrase must be given at start`);
    return null;
  }
}

/**
 * Web mode (`tds-station serve`, the demo, the UI tests): the station core in a child process under
 * a supervisor, and the web UI on 127.0.0.1 relaying the contract to it over a WebSocket.
 */
export async function startWebStation(options: WebStationOptions): Promise<WebStation> {
  const log = options.log ?? ((l: string) => console.error(l));
  const { caPassphrase, keychain, launcher, supervision, port, token, rendererDir, env, log: _log, ...core } = options;
  const given = caPassphrase ?? (await readGivenCaPassphrase(env ?? process.env, core.dataDir));
  const cipher = keychain === undefined || keychain === 'auto' ? await webKeychain(core.dataDir, log) : keychain;
  const supervisor = await CoreSupervisor.start({
    // The passphrase reaches the core in its start message; its environment does not carry it on.
    launch: launcher ?? forkLauncher({ env: withoutCaPassphrase(process.env) }),
    config: { ...core, shell: 'web', ...(given ? { caPassphrase: given } : {}) },
    keychain: cipher,
    log,
    ...supervision,
  });
  let web: WebServer;
  try {
    web = await startWebServer({
      station: supervisor,
      rendererDir: rendererDir ?? defaultRendererDir(),
      ...(port !== undefined ? { port } : {}),
      ...(token ? { token } : {}),
    });
  } catch (err) {
    await supervisor.close();
    throw err;
  }
  return {
    core: supervisor,
    web,
    url: web.url,
    async close() {
      await web.close();
      await supervisor.close();
    },
  };
}
