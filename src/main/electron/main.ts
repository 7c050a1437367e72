// Electron glue, kept thin: single instance, a locked-down sandboxed window, the renderer served
// from app://station with a strict CSP, and one IPC handler that relays every request to the
// station core, which runs in its own utility process under a supervisor (restarted if it crashes
// or hangs). This process never touches serial ports, SSH or SQLite.
import { app, BrowserWindow, dialog, ipcMain, safeStorage } from 'electron';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ELECTRON_EVENT_CHANNEL, ELECTRON_INVOKE_CHANNEL } from '../../shared/ipc-channels.js';
import { CoreSupervisor } from '../core/supervisor.js';
import { readGivenCaPassphrase, withoutCaPassphrase } from '../settings/ca-passphrase.js';
import type { StringCipher } from '../settings/secret-store.js';
import { showNotification } from './notify.js';
import { APP_ORIGIN, createMainWindow, isTrustedUrl, lockDown } from './secure-window.js';
import { registerAppScheme, serveRenderer } from './renderer-protocol.js';
import { utilityLauncher } from './utility-launcher.js';

const here = path.dirname(fileURLToPath(import.meta.url));
// Only a development build follows the dev server: a packaged app never loads (or trusts) a page
// named by its environment.
const devUrl = app.isPackaged ? undefined : process.env.ELECTRON_RENDERER_URL;

// A separate data folder (tests, a second bench profile) also makes a separate single-instance lock.
if (process.env.TDS_STATION_DATA) app.setPath('userData', path.resolve(process.env.TDS_STATION_DATA));

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  registerAppScheme();
  run().catch((err: unknown) => {
    dialog.showErrorBox('TDS Provisioning Station could not start', err instanceof Error ? err.message : String(err));
    app.exit(1);
  });
}

/**
 * safeStorage when the OS offers a keychain. On Linux without one Electron falls back to a key
 * built into Electron ('basic_text'), which protects nothing: that counts as no keychain.
 */
function keychain(): StringCipher | null {
  if (!safeStorage.isEncryptionAvailable()) return null;
  if (process.platform === 'linux' && safeStorage.getSelectedStorageBackend() === 'basic_text') return null;
  return {
    kind: 'safeStorage',
    encrypt: async (s) => safeStorage.encryptString(s),
    decrypt: async (b) => safeStorage.decryptString(b),
  };
}

async function run(): Promise<void> {
  await app.whenReady();
  lockDown(devUrl);
  serveRenderer(path.join(here, '../renderer'));

  const dataDir = app.getPath('userData');
  const caPassphrase = await readGivenCaPassphrase(process.env, dataDir);
  const core = await CoreSupervisor.start({
    // The passphrase reaches the core in its start message; its environment does not carry it on.
    launch: utilityLauncher(path.join(here, 'core.js'), withoutCaPassphrase(process.env)),
    config: {
      dataDir,
      shell: 'electron',
      version: app.getVersion(),
      bundledServer: true,
      discovery: 'mdns',
      ...(app.isPackaged ? { agentDir: path.join(process.resourcesPath, 'firmware', 'rpi') } : {}),
      ...(caPassphrase ? { caPassphrase } : {}),
    },
    keychain: keychain(),
  });

  let win: BrowserWindow | null = null;
  const open = (): void => {
    win = createMainWindow(path.join(here, '../preload/index.cjs'));
    win.once('ready-to-show', () => win?.show());
    win.on('closed', () => {
      win = null;
    });
    void win.loadURL(devUrl ?? `${APP_ORIGIN}/index.html`);
  };

  ipcMain.handle(ELECTRON_INVOKE_CHANNEL, (event, channel: unknown, request: unknown) => {
    // Only our own page may talk to the station (not a frame or a page navigated elsewhere).
    const frameUrl = event.senderFrame?.url ?? '';
    if (!win || event.sender !== win.webContents || !isTrustedUrl(frameUrl, devUrl)) {
      return { ok: false, error: { code: 'FORBIDDEN', message: 'request from an untrusted frame' } };
    }
    // The one request this process answers itself: notifications are shown by the app, not the core.
    if (channel === 'app.notify') return showNotification(request);
    return core.call(String(channel), request);
  });
  core.subscribe((ev, payload) => {
    if (win && !win.isDestroyed()) win.webContents.send(ELECTRON_EVENT_CHANNEL, ev, payload);
  });

  app.on('second-instance', () => {
    if (win) {
      if (win.isMinimized()) win.restore();
      win.focus();
    }
  });
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) open();
  });
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
  let closing = false;
  app.on('before-quit', (e) => {
    if (closing) return;
    closing = true;
    e.preventDefault();
    void core.close().finally(() => app.exit(0));
  });
  open();
}
