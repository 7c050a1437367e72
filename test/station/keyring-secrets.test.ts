import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startProcess, type StartedProcess } from '../support/processes.js';
import { tempDir } from '../support/temp.js';
import { requireTool } from '../support/tools.js';
import { ensureRendererBuilt } from './renderer-build.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const SCENARIO = path.join(import.meta.dirname, 'support/keyring-scenario.ts');

// Web mode keeps the station's secrets — the bundled server's CA passphrase among them — encrypted
// with a key held by the desktop keyring. Tested against a real Secret Service: Debian's GNOME
// Keyring in a private D-Bus session (its own HOME, unlocked by the test), and checked from outside
// with secret-tool. The scenario runs inside that session; this test reads what it found.
describe('web mode secrets in the desktop keyring (GNOME Keyring, Secret Service)', () => {
  const tmp = tempDir('tds-keyring-');
  let proc: StartedProcess | undefined;
  afterAll(async () => {
    await proc?.stop();
    tmp.remove();
  });

  it('moves an older plain secrets.json into the keyring store, keeps the CA passphrase only there, opens the CA with it on the next start, and never replaces a lost key', async () => {
    requireTool('dbus-run-session', 'dbus-bin');
    requireTool('gnome-keyring-daemon', 'gnome-keyring');
    requireTool('secret-tool', 'libsecret-tools');
    const home = path.join(tmp.path, 'home');
    const data = path.join(tmp.path, 'station');
    const script = [
      'set -e',
      'mkdir -p "$HOME" "$DATA" && mkdir -m 700 -p "$XDG_RUNTIME_DIR"',
      // The keyring daemon in the foreground (its PID known), its login keyring made and unlocked with this password.
      'printf %s keyring-test-password | gnome-keyring-daemon --foreground --components=secrets --unlock >/dev/null 2>&1 & K=$!',
      'trap \'kill $K 2>/dev/null; wait $K 2>/dev/null || true\' EXIT',
      'until dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q true; do sleep 0.1; done',
      `node --import tsx "${SCENARIO}" "$DATA" "${ensureRendererBuilt()}"`,
      'echo "KEYRING-ITEMS"; secret-tool search --all service tds-station 2>&1 | grep -E "^(attribute|label)" || true',
      // The keyring loses the station's key (another keyring, a reset): the next start must not replace it.
      'secret-tool clear service tds-station username "secrets-key:$DATA"',
      `node --import tsx "${SCENARIO}" "$DATA" "${ensureRendererBuilt()}" lost-key`,
    ].join('\n');
    proc = startProcess('dbus-run-session', 'dbus-run-session', ['--', 'sh', '-c', script], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, DATA: data, XDG_DATA_HOME: path.join(home, '.local/share'), XDG_RUNTIME_DIR: path.join(tmp.path, 'run') },
    });
    expect(await proc.exited(), proc.output()).toBe(0);
    const [line, lostKey] = [...proc.output().matchAll(/RESULT (\{.*\})/g)].map((m) => m[1]);
    expect(line, proc.output()).toBeTruthy();
    const r = JSON.parse(line!) as Record<string, unknown>;
    expect(r).toEqual({
      secretStore: 'keyring',
      plainFileAfterStart: false,
      keyringFile: true,
      tokenInFiles: [],
      hasMigratedToken: true,
      bundledRunningAfterFirstRun: true,
      passphraseLength: 43,
      passphraseInFiles: [],
      caKeyFile: true,
      bundledRunningAfterRestart: true,
    });
    // From outside: the keyring holds one station key, for this data folder.
    const items = proc.output().split('KEYRING-ITEMS')[1] ?? '';
    expect(items).toContain('attribute.service = tds-station');
    expect(items).toContain(`attribute.username = secrets-key:${data}`);
    // Without its key, the next start runs without a keychain and leaves the encrypted secrets as they were.
    expect(JSON.parse(lostKey!)).toEqual({ secretStore: 'file', keyringFileUntouched: true });
    // The plain file an older station left is gone for good.
    expect(readdirSync(data)).not.toContain('secrets.json');
  }, 180_000);
});
