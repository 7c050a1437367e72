/**
 * The whole back end for end-to-end tests: a real issuance server (startTestServer, compiled CLI),
 * a real MQTT broker with the server's rules, the server's MQTT client (presence, telemetry,
 * renewal), and a station monitor identity.
 *
 * - `broker: 'mosquitto'` (default): `tds-server broker-kit` builds the kit, Debian's Mosquitto runs
 *   it on a free loopback port, the server keeps its CRL/ACL current and reloads it by pid file;
 *   the server connects with `--mqtt-url` (its identity `tds-server-main` is made on first start).
 * - `broker: 'embedded'`: `tds-server serve --broker` (aedes inside the server process).
 *
 * Devices provisioned through the API connect to `broker.host:broker.port` with their certificate
 * (client id = MAC) and CA `broker.caPem`. Everything is stopped by PID in `stop()`.
 * Needs `npm run build -w server` first.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startMosquitto, type RunningMosquitto } from './mosquitto.js';
import { freePort } from './ports.js';
import { startTestServer, type TestServer, type TestServerOptions } from './server.js';
import { tempDir } from './temp.js';

export interface MqttIdentityFiles {
  certPem: string;
  keyPem: string;
  caPem: string;
  /** = certificate CN; the broker forces it anyway. */
  clientId: string;
}

export interface BackendOptions {
  broker?: 'mosquitto' | 'embedded';
  /** Gateways are offline after this many seconds without a message (default 180, the product default). */
  presenceTimeoutSec?: number;
  /** Name of the station monitor identity (CN station-monitor-<name>); default "e2e". */
  monitorName?: string;
  /** Also issue a second server identity (CN tds-server-e2e) that tests may use to send commands. */
  serverIdentity?: boolean;
  /** Passed through to startTestServer (its extraServeArgs are appended to the broker ones). */
  server?: TestServerOptions;
}

export interface Backend {
  server: TestServer;
  broker: { host: string; port: number; caPem: string; kind: 'mosquitto' | 'embedded'; servername: string };
  monitor: MqttIdentityFiles;
  serverIdentity?: MqttIdentityFiles;
  /** Mosquitto only: the running broker (log, reload, pid) and the kit folder. */
  mosquitto?: RunningMosquitto;
  kitDir?: string;
  /** Stops Mosquitto (if any) and the server, deletes temp folders. */
  stop(): Promise<void>;
  /** Mosquitto only: stop and start the broker on the same port (same kit). */
  restartBroker(): Promise<void>;
}

function readIdentity(dir: string, cn: string): MqttIdentityFiles {
  return {
    certPem: readFileSync(path.join(dir, 'client.crt'), 'utf8'),
    keyPem: readFileSync(path.join(dir, 'client.key'), 'utf8'),
    caPem: readFileSync(path.join(dir, 'ca.crt'), 'utf8'),
    clientId: cn,
  };
}

export async function startBackend(options: BackendOptions = {}): Promise<Backend> {
  const kind = options.broker ?? 'mosquitto';
  const port = await freePort();
  const dir = tempDir('tds-backend-');
  const kitDir = path.join(dir.path, 'kit');
  const pidFile = path.join(dir.path, 'mosquitto.pid');
  const presence = options.presenceTimeoutSec ? ['--presence-timeout', String(options.presenceTimeoutSec)] : [];
  const brokerArgs =
    kind === 'embedded'
      ? ['--broker', '--broker-port', String(port)]
      : ['--mqtt-url', `mqtts://127.0.0.1:${port}`];
  let server: TestServer | undefined;
  let mosquitto: RunningMosquitto | undefined;
  try {
    server = await startTestServer({
      mqttBroker: '127.0.0.1',
      mqttPort: port,
      ...options.server,
      extraServeArgs: [...brokerArgs, ...presence, ...(options.server?.extraServeArgs ?? [])],
    });
    if (kind === 'mosquitto') {
      await server.cli([
        'broker-kit', '--out', kitDir, '--host', 'localhost', '--alt-name', '127.0.0.1', '--port', String(port),
        '--install-dir', kitDir, '--publish-dir', kitDir, '--reload', `pidfile:${pidFile}`,
      ]);
      mosquitto = await startMosquitto(kitDir, { port, pidFile });
    }
    const monitorName = options.monitorName ?? 'e2e';
    const monitorCn = `station-monitor-${monitorName}`;
    const monitorDir = path.join(dir.path, monitorCn);
    await server.cli(['identity', 'create', 'station', '--name', monitorName, '--out', monitorDir]);
    let serverIdentity: MqttIdentityFiles | undefined;
    if (options.serverIdentity) {
      const sdir = path.join(dir.path, 'tds-server-e2e');
      await server.cli(['identity', 'create', 'server', '--name', 'e2e', '--out', sdir]);
      serverIdentity = readIdentity(sdir, 'tds-server-e2e');
    }
    // The server's MQTT client retries with backoff; wait until it is in, so presence works at once.
    await server.process.waitForOutput(/\[mqtt\] connected to /, 20_000);
    const s = server;
    const backend: Backend = {
      server: s,
      broker: { host: '127.0.0.1', port, caPem: s.caPem, kind, servername: 'localhost' },
      monitor: readIdentity(monitorDir, monitorCn),
      ...(serverIdentity ? { serverIdentity } : {}),
      ...(mosquitto ? { mosquitto, kitDir } : {}),
      async restartBroker() {
        if (!backend.mosquitto) throw new Error('restartBroker() is for the Mosquitto back end');
        await backend.mosquitto.stop();
        backend.mosquitto = await startMosquitto(kitDir, { port, pidFile });
      },
      async stop() {
        await backend.mosquitto?.stop();
        await s.stop();
        dir.remove();
      },
    };
    return backend;
  } catch (err) {
    await mosquitto?.stop();
    await server?.stop();
    dir.remove();
    throw err;
  }
}
