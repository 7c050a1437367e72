// A recorded stand-in for the `electron` module, NOT Electron: the Electron binary cannot be
// downloaded here, so the built main bundle (out/main/index.js) is loaded under plain Node with
// `electron` resolved to this file (see register.mjs). It records what the glue asks of Electron
// (windows and their options, protocol handlers, permission handlers, IPC handlers) and lets the test
// drive it over the Node IPC channel: fire `ready`, navigate, open windows, ask permissions, fetch
// app:// URLs and invoke the IPC handler as a page would. `utilityProcess.fork` starts a real Node
// child (the station core, out/main/core.js), speaking to it with structured-clone messages as
// Electron's utility processes do.
import { fork } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const env = process.env;
// Electron sets this in a packaged app (the app's resources folder).
if (env.STAND_IN_PACKAGED === '1') process.resourcesPath = env.STAND_IN_RESOURCES ?? '/opt/tds-station/resources';
const record = {
  requestedLock: false,
  setPaths: {},
  schemes: [],
  protocolHandlers: {},
  permissionRequestHandler: null,
  permissionCheckHandler: null,
  ipcHandlers: {},
  windows: [],
  openedExternally: [],
  errorBoxes: [],
  utilityProcesses: [],
  sent: [],
  notifications: [],
};

let resolveReady;
const ready = new Promise((r) => (resolveReady = r));

class StandInApp extends EventEmitter {
  isPackaged = env.STAND_IN_PACKAGED === '1';
  requestSingleInstanceLock() {
    record.requestedLock = true;
    return true;
  }
  quit() {
    this.emitQuit();
  }
  exit(code = 0) {
    report({ t: 'exit', code });
    setTimeout(() => process.exit(code), 50);
  }
  whenReady() {
    return ready;
  }
  setPath(name, p) {
    record.setPaths[name] = p;
  }
  getPath(name) {
    if (record.setPaths[name]) return record.setPaths[name];
    throw new Error(`stand-in: no path ${name} set`);
  }
  getVersion() {
    return '0.0.0-stand-in';
  }
  emitQuit() {
    const event = { defaultPrevented: false, preventDefault() { this.defaultPrevented = true; } };
    this.emit('before-quit', event);
    if (!event.defaultPrevented) this.exit(0);
  }
}
export const app = new StandInApp();

let nextContentsId = 1;
class StandInWebContents extends EventEmitter {
  id = nextContentsId++;
  windowOpenHandler = null;
  /** The page's URL as Electron reports it (a hash route changes it without a navigation). */
  url = '';
  getURL() {
    return this.url;
  }
  setWindowOpenHandler(fn) {
    this.windowOpenHandler = fn;
  }
  send(channel, ...args) {
    record.sent.push({ channel, args });
  }
}

const windows = [];
export class BrowserWindow extends EventEmitter {
  constructor(options) {
    super();
    this.options = options;
    this.webContents = new StandInWebContents();
    this.loadedUrl = null;
    this.destroyed = false;
    windows.push(this);
    record.windows.push({ options, loadedUrl: null });
    app.emit('web-contents-created', {}, this.webContents);
  }
  static getAllWindows() {
    return windows.filter((w) => !w.destroyed);
  }
  async loadURL(url) {
    this.loadedUrl = url;
    this.webContents.url = url;
    record.windows[windows.indexOf(this)].loadedUrl = url;
    setImmediate(() => this.emit('ready-to-show'));
  }
  show() {}
  focus() {}
  restore() {}
  isMinimized() {
    return false;
  }
  isDestroyed() {
    return this.destroyed;
  }
}

export const ipcMain = {
  handle(channel, fn) {
    if (record.ipcHandlers[channel]) throw new Error(`stand-in: a second handler for ${channel}`);
    record.ipcHandlers[channel] = fn;
  },
};

export const safeStorage = {
  isEncryptionAvailable: () => env.STAND_IN_KEYCHAIN === 'available',
  getSelectedStorageBackend: () => env.STAND_IN_KEYCHAIN_BACKEND ?? 'gnome_libsecret',
  // Not encryption: a stand-in that marks the bytes so the test can tell they went through it.
  encryptString: (s) => Buffer.concat([Buffer.from('stand-in:'), Buffer.from(s, 'utf8').reverse()]),
  decryptString: (b) => Buffer.from(b.subarray('stand-in:'.length)).reverse().toString('utf8'),
};

export const session = {
  defaultSession: {
    setPermissionRequestHandler(fn) {
      record.permissionRequestHandler = fn;
    },
    setPermissionCheckHandler(fn) {
      record.permissionCheckHandler = fn;
    },
  },
};

export const shell = {
  async openExternal(url) {
    record.openedExternally.push(url);
  },
};

export const protocol = {
  registerSchemesAsPrivileged(list) {
    record.schemes.push(...list);
  },
  handle(scheme, fn) {
    record.protocolHandlers[scheme] = fn;
  },
};

export const net = {
  async fetch(url) {
    return new Response(readFileSync(fileURLToPath(url)));
  },
};

export const dialog = {
  showErrorBox(title, message) {
    record.errorBoxes.push({ title, message });
    report({ t: 'errorBox', title, message });
  },
};

export class Notification {
  static isSupported() {
    return true;
  }
  constructor(options) {
    this.options = options;
  }
  show() {
    record.notifications.push(this.options);
  }
}

export const utilityProcess = {
  fork(entry, args, options) {
    const child = fork(entry, args ?? [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: options?.env ?? process.env });
    const up = new EventEmitter();
    record.utilityProcesses.push({ entry, options, pid: child.pid });
    Object.defineProperty(up, 'pid', { get: () => child.pid });
    up.postMessage = (m) => child.connected && child.send(m);
    up.kill = () => child.kill();
    child.on('spawn', () => up.emit('spawn'));
    child.on('message', (m) => up.emit('message', m));
    child.on('exit', (code) => up.emit('exit', code ?? 1));
    return up;
  },
};

export default { app, BrowserWindow, ipcMain, safeStorage, session, shell, protocol, net, dialog, utilityProcess, Notification };

// ----- the test's side of the stand-in -------------------------------------------------------------

function report(m) {
  if (process.connected) process.send(m);
}

const mainWindow = () => windows.find((w) => !w.destroyed);

async function drive(cmd) {
  switch (cmd.cmd) {
    case 'ready':
      resolveReady();
      return true;
    case 'state':
      return {
        ...record,
        permissionRequestHandler: !!record.permissionRequestHandler,
        permissionCheckHandler: !!record.permissionCheckHandler,
        protocolHandlers: Object.keys(record.protocolHandlers),
        ipcHandlers: Object.keys(record.ipcHandlers),
        webContentsHandlers: mainWindow() ? ['will-navigate', 'will-attach-webview'].filter((e) => mainWindow().webContents.listenerCount(e) > 0) : [],
        windowOpenHandler: !!mainWindow()?.webContents.windowOpenHandler,
      };
    case 'navigate': {
      const ev = { prevented: false, preventDefault() { this.prevented = true; } };
      mainWindow().webContents.emit('will-navigate', ev, cmd.url);
      return { prevented: ev.prevented };
    }
    case 'attachWebview': {
      const ev = { prevented: false, preventDefault() { this.prevented = true; } };
      mainWindow().webContents.emit('will-attach-webview', ev, {}, {});
      return { prevented: ev.prevented };
    }
    case 'windowOpen': {
      const before = record.openedExternally.length;
      const result = mainWindow().webContents.windowOpenHandler({ url: cmd.url });
      await new Promise((r) => setImmediate(r));
      return { result, openedExternally: record.openedExternally.slice(before) };
    }
    case 'permission': {
      // `pageUrl`: where the page is (its route); `details`/`checkDetails`: what Electron passes the handlers.
      const wc = mainWindow().webContents;
      if (cmd.pageUrl) wc.url = cmd.pageUrl;
      const granted = await new Promise((resolve) => record.permissionRequestHandler(wc, cmd.permission, resolve, cmd.details ?? {}));
      const checked = record.permissionCheckHandler(wc, cmd.permission, cmd.origin ?? 'app://station', cmd.checkDetails ?? {});
      return { granted, checked };
    }
    case 'fetch': {
      const res = await record.protocolHandlers[cmd.scheme](new Request(cmd.url));
      const body = await res.text();
      return { status: res.status, headers: Object.fromEntries(res.headers), body: body.slice(0, 4000) };
    }
    case 'invoke': {
      const win = mainWindow();
      const sender = cmd.sender === 'other' ? new StandInWebContents() : win.webContents;
      const event = { sender, senderFrame: { url: cmd.frameUrl } };
      return record.ipcHandlers[cmd.channel](event, cmd.request.channel, cmd.request.payload);
    }
    case 'sent':
      return record.sent.map((s) => ({ channel: s.channel, event: s.args[0] }));
    case 'quit':
      app.emitQuit();
      return true;
    default:
      throw new Error(`stand-in: unknown command ${cmd.cmd}`);
  }
}

process.on('message', (cmd) => {
  if (!cmd || typeof cmd.id !== 'number') return;
  drive(cmd).then(
    (value) => report({ t: 'reply', id: cmd.id, ok: true, value }),
    (err) => report({ t: 'reply', id: cmd.id, ok: false, message: err instanceof Error ? err.message : String(err) }),
  );
});
