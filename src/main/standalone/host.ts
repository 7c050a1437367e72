import { existsSync } from 'node:fs';
import {
  createApiToken,
  dataPath,
  initServerData,
  readCaCertificate,
  startServer,
  type Logger,
  type RunningServer,
} from '@tds/server';
import type { ValidRequestOf } from '../../shared/ipc.js';
import type { FirstRunProgress } from '../../shared/views.js';
import { StationError } from '../../shared/ipc-errors.js';
import type { CaPassphrase } from '../settings/ca-passphrase.js';
import { SECRET, type SecretStore } from '../settings/secret-store.js';
import type { EmbeddedBrokerOptions, FirstRunResult, StandaloneHost } from './types.js';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

/**
 * Devices on the LAN must reach the broker: it listens on every interface, with the devices' address
 * in its certificate, unless devices are simulated on this machine (loopback only). The broker
 * only admits clients with a certificate from this CA.
 */
function embeddedOptions(b: EmbeddedBrokerOptions): { port: number; host: string; altNames: string[] } {
  return LOOPBACK.has(b.deviceHost) ? { port: b.port, host: '127.0.0.1', altNames: [] } : { port: b.port, host: '0.0.0.0', altNames: [b.deviceHost] };
}

export interface StandaloneOptions {
  /** The bundled server's own data folder (inside the station's data folder). */
  dataDir: string;
  secrets: SecretStore;
  /** The CA key's passphrase: keychain-protected, or given by the operator; never plain next to the key. */
  caPassphrase: CaPassphrase;
  log?: (line: string) => void;
}

const isoNow = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * Standalone mode: the issuance server in this process on 127.0.0.1 (HTTPS with its own CA, which
 * the station pins), its data in the station's data folder, its CA passphrase from `caPassphrase`
 * (see ca-passphrase.ts). The station talks to it with the same ApiClient as to a remote server.
 */
export function createStandaloneHost(options: StandaloneOptions): StandaloneHost {
  const log = options.log ?? ((l: string) => console.error(l));
  // The bundled server's warnings and errors go to the station's log; its info lines are noise here.
  const serverLogger: Logger = {
    info() {},
    warn: (m, f) => log(`[bundled server] ${m}${f ? ` ${JSON.stringify(f)}` : ''}`),
    error: (m, f) => log(`[bundled server] ${m}${f ? ` ${JSON.stringify(f)}` : ''}`),
  };
  let running: RunningServer | undefined;
  let token: string | undefined;

  async function startFromData(pass: string, broker: EmbeddedBrokerOptions | null): Promise<RunningServer> {
    running = await startServer({
      dataDir: options.dataDir,
      passphrase: pass,
      // The API stays on loopback: only this station talks to it.
      host: '127.0.0.1',
      port: 0,
      tls: 'auto',
      logger: serverLogger,
      ...(broker ? { broker: { embedded: embeddedOptions(broker) } } : {}),
    });
    token = await options.secrets.get(SECRET.bundledToken);
    return running;
  }

  return {
    async initialised() {
      try {
        await readCaCertificate(options.dataDir);
        return existsSync(dataPath(options.dataDir, 'database'));
      } catch {
        return false;
      }
    },

    async start(o) {
      if (running) return;
      await startFromData(await options.caPassphrase.get(), o.broker);
    },

    async firstRun(input: ValidRequestOf<'firstRun.run'>, stationId: string, progress: (p: FirstRunProgress) => void): Promise<FirstRunResult> {
      const step = async <T>(name: FirstRunProgress['step'], fn: () => Promise<T>): Promise<T> => {
        progress({ step: name, state: 'running', message: null });
        try {
          const r = await fn();
          progress({ step: name, state: 'done', message: null });
          return r;
        } catch (err) {
          progress({ step: name, state: 'failed', message: err instanceof Error ? err.message : String(err) });
          throw err;
        }
      };
      if (await this.initialised()) {
        throw new StationError('CONFLICT', `${options.dataDir} already holds a bundled server.`, { hint: 'Move that folder away to start over, or keep using it.' });
      }
      await step('ca', async () => {
        const pass = await options.caPassphrase.forNewCa();
        await initServerData({
          dataDir: options.dataDir,
          passphrase: pass,
          settings: (s) => {
            s.mqtt.broker = input.deviceBrokerHost;
            s.mqtt.port = input.brokerPort;
          },
        });
      });
      const broker = input.startBroker ? { port: input.brokerPort, deviceHost: input.deviceBrokerHost } : null;
      const server = await step('server', async () => startFromData(await options.caPassphrase.get(), broker));
      const embedded = broker
        ? await step('broker', async () => {
            const e = server.broker.embedded;
            if (!e) throw new Error('the embedded broker did not start');
            return { host: '127.0.0.1', port: e.port };
          })
        : null;
      const account = await step('account', () =>
        server.repo.createAccount(input.accountName, { at: isoNow(), accountId: null, actor: 'station', action: 'account.create', object: null, sourceIp: null, result: 'ok', detail: `first run of station ${stationId}` }),
      );
      const made = await step('token', () => createApiToken(server.repo, { accountId: account.id, role: 'operator', label: `station ${stationId}` }, 'station'));
      await options.secrets.set(SECRET.bundledToken, made.token);
      token = made.token;
      const monitor = await step('monitor', () => server.service.identities.issueServiceIdentity({ kind: 'station', name: stationId }, 'station'));
      if (!monitor.privateKeyPem) throw new StationError('INTERNAL', 'the server made no key for the monitor identity');
      return {
        accountId: account.id,
        token: made.token,
        caPem: server.caPem,
        monitor: { certPem: monitor.pem, keyPem: monitor.privateKeyPem },
        broker: embedded,
      };
    },

    endpoint() {
      if (!running || !token) return null;
      return { url: running.url, token, caPem: running.caPem };
    },

    status() {
      const e = running?.broker.embedded;
      return { server: { running: !!running, url: running?.url ?? null, dataDir: options.dataDir }, broker: { running: !!e, port: e?.port ?? null } };
    },

    async close() {
      const r = running;
      running = undefined;
      await r?.close();
    },
  };
}
