/**
 * Run by keyring-secrets.test.ts inside a D-Bus session with an unlocked GNOME Keyring (the real
 * Secret Service): web mode as `tds-station serve` starts it (keychain found on its own), over a data
 * folder an older station left with a plain secrets.json. Prints one JSON line of findings.
 * `lost-key` as the third argument: a later start after the keyring lost the station's key.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { KeyringCipher } from '../../../src/main/settings/keyring-cipher.js';
import { FileSecretStore, SECRET, SECRET_FILES } from '../../../src/main/settings/secret-store.js';
import { startWebStation } from '../../../src/main/web/web-station.js';
import { invoke, NO_DEVICES } from '../../support/station-core.js';
import { freePort } from '../../support/ports.js';
import { filesContaining } from '../../support/temp.js';

const dataDir = process.argv[2]!;
const rendererDir = process.argv[3]!;
const oldToken = 'tds_plain_token_left_by_an_older_station';
const start = () => startWebStation({ dataDir, version: 'kr', bundledServer: true, discovery: 'none', ...NO_DEVICES, rendererDir, env: {}, log: () => undefined });

if (process.argv[4] === 'lost-key') {
  // The keyring no longer has the key the secrets were encrypted with: the station must not make a
  // new one (that would leave the encrypted secrets unreadable for good); it runs without a keychain.
  const before = readFileSync(path.join(dataDir, SECRET_FILES.keyring));
  const ws = await start();
  try {
    const info = await invoke(ws, 'app.info');
    console.log(`RESULT ${JSON.stringify({ secretStore: info.secretStore, keyringFileUntouched: before.equals(readFileSync(path.join(dataDir, SECRET_FILES.keyring))) })}`);
  } finally {
    await ws.close();
  }
  process.exit(0);
}

// What an older station left: a remote server configured, its token in plain text.
writeFileSync(path.join(dataDir, 'settings.json'), JSON.stringify({ version: 1, stationId: 'kr-1', configured: true, server: { mode: 'remote', url: 'https://127.0.0.1:9', caPem: null, accountId: 1 } }));
writeFileSync(path.join(dataDir, SECRET_FILES.file), JSON.stringify({ version: 1, secrets: { [SECRET.serverToken]: oldToken } }), { mode: 0o600 });

const out: Record<string, unknown> = {};

let ws = await start();
try {
  const info = await invoke(ws, 'app.info');
  out.secretStore = info.secretStore;
  out.plainFileAfterStart = existsSync(path.join(dataDir, SECRET_FILES.file));
  out.keyringFile = existsSync(path.join(dataDir, SECRET_FILES.keyring));
  out.tokenInFiles = filesContaining(dataDir, oldToken);
  out.hasMigratedToken = (await invoke(ws, 'settings.get')).server.hasToken;
  await invoke(ws, 'firstRun.run', { accountName: 'Keyring factory', operator: 'kr', startBroker: false, brokerPort: await freePort(), deviceBrokerHost: '127.0.0.1' });
  out.bundledRunningAfterFirstRun = (await invoke(ws, 'settings.get')).server.bundled?.running;
} finally {
  await ws.close();
}

// The passphrase, read the way the station reads it: the keyring's key opens the secrets file.
const store = new FileSecretStore(path.join(dataDir, SECRET_FILES.keyring), await KeyringCipher.open(dataDir));
const passphrase = await store.get(SECRET.bundledCaPassphrase);
out.passphraseLength = passphrase?.length ?? 0;
out.passphraseInFiles = passphrase ? filesContaining(dataDir, passphrase) : ['(no passphrase)'];
out.caKeyFile = existsSync(path.join(dataDir, 'server'));

// A second start opens the CA with the passphrase from the keyring (nothing typed, nothing in the environment).
ws = await start();
try {
  out.bundledRunningAfterRestart = (await invoke(ws, 'settings.get')).server.bundled?.running;
} finally {
  await ws.close();
}
console.log(`RESULT ${JSON.stringify(out)}`);
