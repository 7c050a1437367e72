/**
 * `npm run demo`: the whole station on one machine with no hardware. A bundled issuance server and
 * its embedded MQTT broker (first run done for you), three simulated ESP32 boards on pseudo-terminals,
 * and a simulated Raspberry Pi: Debian's OpenSSH server on 127.0.0.1 running as you, with key login
 * and an install prefix instead of the real root file system. Open the printed URL, press Enter on
 * the Bench, watch the boards go online; then provision the Pi from the Field screen.
 *
 * The simulators are test doubles (test/sim, test/support); the station core (in its own process,
 * as in web mode) loads the simulator's device source through its ordinary `deviceSourceModule`
 * option and does not know. The bundled server's CA passphrase is a random one given at start (no
 * keychain needed, nothing to type).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startWebStation, type WebStation } from '../src/main/web/web-station.js';
import { stopAgent } from '../test/pi/helpers.js';
import { startEsp32Sim, type Esp32Sim } from '../test/sim/esp32/launch.js';
import { invoke, SIM_SOURCE_MODULE } from '../test/support/station-core.js';
import { freePort } from '../test/support/ports.js';
import { makeSshKeyPair, startSshd, type RunningSshd } from '../test/support/sshd.js';
import { tempDir } from '../test/support/temp.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const BUNDLE = path.join(ROOT, 'test/fixtures/bundle-arduino');

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    boards: { type: 'string', default: '3' },
    'no-pi': { type: 'boolean', default: false },
    fast: { type: 'boolean', default: false },
  },
});

const say = (s: string): void => console.log(s);
const data = tempDir('tds-demo-');
const sims: Esp32Sim[] = [];
let sshd: RunningSshd | undefined;
let station: WebStation | undefined;
const piPrefix = path.join(data.path, 'simulated-pi-root');

async function shutdown(code: number): Promise<never> {
  say('\nstopping the demo…');
  await station?.close().catch(() => undefined);
  await Promise.all(sims.map((s) => s.stop().catch(() => undefined)));
  await stopAgent(piPrefix).catch(() => undefined);
  await sshd?.stop().catch(() => undefined);
  data.remove();
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

try {
  const boards = Math.max(1, Math.min(16, Number(opts.boards) || 3));
  say(`starting ${boards} simulated ESP32 boards…`);
  for (let i = 1; i <= boards; i++) {
    // Bytes at the real wire rate of the baud, as on a bench; --fast delivers them as fast as the pty can.
    const sim = await startEsp32Sim({ mac: `24:6f:28:de:00:${String(i).padStart(2, '0')}`, throttle: !opts.fast, telemetryIntervalMs: 5000 });
    sims.push(sim);
  }

  let piKey: { privateKeyFile: string; publicKey: string } | undefined;
  if (!opts['no-pi']) {
    say('starting the simulated Raspberry Pi (OpenSSH on 127.0.0.1)…');
    sshd = await startSshd();
    piKey = makeSshKeyPair(data.path, 'demo-pi-login');
    sshd.authorize(os.userInfo().username, piKey.publicKey);
    mkdirSync(piPrefix, { recursive: true });
  }

  station = await startWebStation({
    dataDir: path.join(data.path, 'station'),
    version: 'demo',
    bundledServer: true,
    caPassphrase: randomBytes(24).toString('base64url'),
    keychain: null,
    deviceSourceModule: SIM_SOURCE_MODULE,
    deviceSourceOptions: { boards: sims.map((s) => ({ hostPath: s.hostPath, controlPath: s.controlPath, mac: s.mac })) },
    port: Number(opts.port),
    monitorFreshnessMs: 20_000,
    discovery: 'mdns',
  });
  const st = station;

  say('first run: CA, account, token, monitor identity, embedded broker…');
  await invoke(st, 'firstRun.run', { accountName: 'Demo factory', operator: 'Demo technician', startBroker: true, brokerPort: await freePort(), deviceBrokerHost: '127.0.0.1' });
  const settings = await invoke(st, 'settings.get');
  await invoke(st, 'profiles.save', {
    profile: {
      name: 'demo',
      accountId: settings.server.accountId ?? 1,
      codeTemplate: 'GW-{mac12}',
      nameTemplate: 'Gateway {MAC12}',
      brokerHost: '127.0.0.1',
      brokerPort: settings.broker.port,
      keyType: 'ec',
      keyMode: 'station',
      esp32: { bundlePath: BUNDLE, wifiSsid: 'demo-wifi', wifiPassword: 'demo-pass-123', resetMode: 'auto', onlineTimeoutSec: 60 },
      pi: { installPrefix: piPrefix, serviceManager: 'none', onlineTimeoutSec: 60 },
    },
  });
  await invoke(st, 'settings.update', { activeProfile: 'demo' });
  if (sshd) await invoke(st, 'field.addHost', { host: '127.0.0.1', port: sshd.port, name: 'Simulated Pi (OpenSSH on loopback)' });

  say('');
  say('  TDS Provisioning Station demo is running.');
  say('');
  say(`  Open: ${station.url}`);
  say('');
  say(`  Bench:    ${boards} simulated ESP32 boards are plugged in. Press Enter (or "Provision all").`);
  say('            Each gets firmware, its own certificate and config, boots and comes online.');
  if (sshd && piKey) {
    say('  Field:    "Simulated Pi" → Provision… → sign in with a private key:');
    say(`            user ${os.userInfo().username}, key file ${piKey.privateKeyFile} ("Load key file…").`);
    say('            Accept the host key; the Pi makes its own key, installs the agent and comes online.');
  }
  say('  Gateways: live online/offline, certificates, revoke, ZIP.   Log: every job, CSV export.');
  say('');
  say('  Ctrl+C stops everything and deletes the demo data.');
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  await shutdown(1);
}
