// Electron glue, kept thin: single instance, a locked-down sandboxed window, the renderer served
// from app://station with a strict CSP, and one IPC handler that hands every request to the same
// dispatcher the web mode uses. Everything else is the station core (plain Node).
import { app, BrowserWindow, ipcMain, safeStorage } from 'electron';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ELECTRON_EVENT_CHANNEL, ELECTRON_INVOKE_CHANNEL } from '../../shared/ipc-channels.js';
import { FileSecretStore, type StringCipher } from '../settings/secret-store.js';
import { createStandaloneHost } from '../standalone/host.js';
import { dispatch } from '../station/dispatch.js';
import { mdnsDiscovery } from '../station/field.js';
import { StationService } from '../station/service.js';
import { APP_ORIGIN, createMainWindow, isTrustedUrl, lockDown } from './secure-window.js';
import { registerAppScheme, serveRenderer } from './renderer-protocol.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const devUrl = process.env.ELECTRON_RENDERER_URL;

// A separate data folder (tests, a second bench profile) also makes a separate single-instance lock.
if (process.env.TDS_STATION_DATA) app.setPath('userData', path.resolve(process.env.TDS_STATION_DATA));

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  registerAppScheme();
  void run();
}

/** safeStorage when the OS offers a keychain; otherwise the 0600 file without encryption. */
function secretCipher(): StringCipher | undefined {
  if (!safeStorage.isEncryptionAvailable()) return undefined;
  return { encrypt: (s) => safeStorage.encryptString(s), decrypt: (b) => safeStorage.decryptString(b) };
}

async function run(): Promise<void> {
  await app.whenReady();
  lockDown(devUrl);
  serveRenderer(path.join(here, '../renderer'));

  const dataDir = app.getPath('userData');
  const cipher = secretCipher();
  const secrets = new FileSecretStore(path.join(dataDir, cipher ? 'secrets.safe.json' : 'secrets.json'), cipher);
  const station = await StationService.start({
    dataDir,
    shell: 'electron',
    version: app.getVersion(),
    secrets,
    standalone: createStandaloneHost({ dataDir: path.join(dataDir, 'server'), secrets }),
    discovery: mdnsDiscovery(),
    agentDir: app.isPackaged ? path.join(process.resourcesPath, 'firmware', 'rpi') : undefined,
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
    return dispatch(station.handlers, String(channel), request);
  });
  station.bus.subscribe((ev, payload) => {
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
    void station.close().finally(() => app.exit(0));
  });
  open();
}
