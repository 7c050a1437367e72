import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ELECTRON_EVENT_CHANNEL, ELECTRON_INVOKE_CHANNEL } from '../../src/shared/ipc-channels.js';
import { requestSchemas } from '../../src/shared/ipc.js';
import { isAlive } from '../support/processes.js';
import { tempDir } from '../support/temp.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const MAIN = path.join(ROOT, 'out/main/index.js');
const REGISTER = path.join(import.meta.dirname, 'stand-in/register.mjs');

interface StandInState {
  requestedLock: boolean;
  schemes: Array<{ scheme: string; privileges: Record<string, boolean> }>;
  protocolHandlers: string[];
  permissionRequestHandler: boolean;
  permissionCheckHandler: boolean;
  ipcHandlers: string[];
  webContentsHandlers: string[];
  windowOpenHandler: boolean;
  windows: Array<{ options: { webPreferences: Record<string, unknown>; show: boolean }; loadedUrl: string | null }>;
  utilityProcesses: Array<{ entry: string; pid: number }>;
  errorBoxes: Array<{ title: string; message: string }>;
}

type IpcReply = { ok: true; value: unknown } | { ok: false; error: { code: string; message: string } };

/** The built main bundle under Node with the stand-in `electron`, driven over the Node IPC channel. */
class StandInApp {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly exited: Promise<number | null>;
  exitCode: number | null | undefined;

  constructor(readonly child: ChildProcess) {
    child.on('message', (m: { t: string; id?: number; ok?: boolean; value?: unknown; message?: string }) => {
      if (m.t !== 'reply' || m.id === undefined) return;
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (m.ok) w?.resolve(m.value);
      else w?.reject(new Error(m.message));
    });
    this.exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        this.exitCode = code;
        resolve(code);
      }),
    );
  }

  static start(dataDir: string, env: Record<string, string> = {}): StandInApp {
    const child = fork(MAIN, [], {
      execArgv: ['--import', REGISTER],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', TDS_STATION_DATA: dataDir, ...env },
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new StandInApp(child);
  }

  drive<T>(cmd: Record<string, unknown>): Promise<T> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ ...cmd, id });
    });
  }

  state(): Promise<StandInState> {
    return this.drive('state' as never) as never;
  }

  invoke(channel: string, payload: unknown, frameUrl = 'app://station/index.html', sender: 'window' | 'other' = 'window'): Promise<IpcReply> {
    return this.drive({ cmd: 'invoke', channel: ELECTRON_INVOKE_CHANNEL, request: { channel, payload }, frameUrl, sender });
  }

  /** Fires `ready` and waits until the window has loaded its page (the core is up by then). */
  async ready(): Promise<StandInState> {
    await this.drive({ cmd: 'ready' });
    for (let i = 0; i < 600; i++) {
      const s = await this.drive<StandInState>({ cmd: 'state' });
      if (s.errorBoxes.length) throw new Error(`the app showed an error: ${JSON.stringify(s.errorBoxes)}`);
      if (s.windows[0]?.loadedUrl) return s;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('the window never loaded a page');
  }

  async quit(): Promise<number | null> {
    if (this.exitCode === undefined) await this.drive({ cmd: 'quit' });
    return this.exited;
  }
}

// The Electron binary cannot be downloaded here, so the real launch test (launch.test.ts) skips. This
// one runs the BUILT main bundle (electron-vite build) under plain Node with a recorded STAND-IN for
// the `electron` module: it checks what the glue asks of Electron — the window's security options,
// the CSP, blocked navigation/new windows/webviews, denied permissions, the IPC handler relaying every
// channel of the contract to the station core (a real child process) — not how Electron obeys it.
describe('Electron main bundle under a recorded stand-in for electron (not the real Electron)', () => {
  const tmp = tempDir('tds-stand-in-');
  const apps: StandInApp[] = [];
  const start = (name: string, env: Record<string, string> = {}): StandInApp => {
    const a = StandInApp.start(path.join(tmp.path, name), env);
    apps.push(a);
    return a;
  };

  beforeAll(() => {
    execFileSync('npx', ['electron-vite', 'build'], { cwd: ROOT, stdio: 'ignore' });
    expect(existsSync(MAIN)).toBe(true);
  }, 120_000);
  afterEach(() => {
    for (const a of apps.splice(0)) {
      if (a.exitCode === undefined) a.child.kill('SIGKILL');
    }
  });
  afterAll(() => tmp.remove());

  it('opens a locked-down window, serves the renderer with the CSP, blocks navigation, new windows, webviews and permissions (the camera only for the Claim screen), and relays every IPC channel to the core', async () => {
    const a = start('dev');
    const s = await a.ready();
    expect(s.requestedLock).toBe(true);

    // The window: sandboxed, isolated, no Node, web security on, our preload, shown when drawn.
    expect(s.windows).toHaveLength(1);
    const prefs = s.windows[0]!.options.webPreferences;
    expect(prefs).toMatchObject({ contextIsolation: true, sandbox: true, nodeIntegration: false, nodeIntegrationInWorker: false, webSecurity: true, allowRunningInsecureContent: false });
    expect(prefs.preload).toBe(path.join(ROOT, 'out/preload/index.cjs'));
    expect(existsSync(prefs.preload as string)).toBe(true);
    expect(s.windows[0]!.options.show).toBe(false);
    expect(s.windows[0]!.loadedUrl).toBe('app://station/index.html');

    // app:// is a standard, secure scheme served from out/renderer with the CSP as a response header.
    expect(s.schemes).toEqual([{ scheme: 'app', privileges: expect.objectContaining({ standard: true, secure: true }) }]);
    expect(s.protocolHandlers).toEqual(['app']);
    const page = await a.drive<{ status: number; headers: Record<string, string>; body: string }>({ cmd: 'fetch', scheme: 'app', url: 'app://station/index.html' });
    expect(page.status).toBe(200);
    expect(page.body).toContain('<div id="root">');
    const csp = page.headers['content-security-policy']!;
    for (const d of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'none'", "object-src 'none'", "base-uri 'none'", "form-action 'none'", "frame-src 'none'"]) expect(csp).toContain(d);
    expect(csp).not.toMatch(/unsafe-(inline|eval)/);
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect((await a.drive<{ status: number }>({ cmd: 'fetch', scheme: 'app', url: 'app://station/%2e%2e/%2e%2e/package.json' })).status).toBe(404);
    expect((await a.drive<{ status: number }>({ cmd: 'fetch', scheme: 'app', url: 'app://elsewhere/index.html' })).status).toBe(404);

    // Navigation away, new windows, webviews and permissions are refused.
    expect(s.webContentsHandlers).toEqual(['will-navigate', 'will-attach-webview']);
    expect(await a.drive({ cmd: 'navigate', url: 'https://evil.example/' })).toEqual({ prevented: true });
    expect(await a.drive({ cmd: 'navigate', url: 'file:///etc/passwd' })).toEqual({ prevented: true });
    expect(await a.drive({ cmd: 'navigate', url: 'app://station/index.html#log' })).toEqual({ prevented: false });
    expect(await a.drive({ cmd: 'attachWebview' })).toEqual({ prevented: true });
    expect(s.windowOpenHandler).toBe(true);
    expect(await a.drive({ cmd: 'windowOpen', url: 'https://docs.example/help' })).toEqual({ result: { action: 'deny' }, openedExternally: ['https://docs.example/help'] });
    expect(await a.drive({ cmd: 'windowOpen', url: 'file:///etc/passwd' })).toEqual({ result: { action: 'deny' }, openedExternally: [] });
    expect(await a.drive({ cmd: 'windowOpen', url: 'http://plain.example/' })).toEqual({ result: { action: 'deny' }, openedExternally: [] });
    expect(s.permissionRequestHandler && s.permissionCheckHandler).toBe(true);
    for (const p of ['media', 'geolocation', 'notifications', 'clipboard-read', 'serial']) {
      expect(await a.drive({ cmd: 'permission', permission: p }), p).toEqual({ granted: false, checked: false });
    }
    // The camera, only for the Claim screen: video only, our page's main frame, on that route.
    const camera = (pageUrl: string, details: Record<string, unknown>, checkDetails: Record<string, unknown> = { mediaType: 'video', isMainFrame: true }, permission = 'media', origin = 'app://station') =>
      a.drive({ cmd: 'permission', permission, pageUrl, details, checkDetails, origin });
    const video = { isMainFrame: true, requestingUrl: 'app://station/index.html#claim', mediaTypes: ['video'] };
    expect(await camera('app://station/index.html#claim', video)).toEqual({ granted: true, checked: true });
    expect(await camera('app://station/index.html#bench', { ...video, requestingUrl: 'app://station/index.html#bench' })).toEqual({ granted: false, checked: false });
    expect(await camera('app://station/index.html', { ...video, requestingUrl: 'app://station/index.html' })).toEqual({ granted: false, checked: false });
    expect(await camera('app://station/index.html#claim', { ...video, mediaTypes: ['video', 'audio'] }, { mediaType: 'audio', isMainFrame: true })).toEqual({ granted: false, checked: false });
    expect(await camera('app://station/index.html#claim', { ...video, mediaTypes: [] })).toMatchObject({ granted: false });
    expect(await camera('app://station/index.html#claim', { ...video, isMainFrame: false }, { mediaType: 'video', isMainFrame: false })).toEqual({ granted: false, checked: false });
    expect(await camera('app://station/index.html#claim', { ...video, requestingUrl: 'https://evil.example/#claim' }, { mediaType: 'video', isMainFrame: true }, 'media', 'https://evil.example')).toEqual({ granted: false, checked: false });
    expect(await camera('https://evil.example/#claim', { ...video, requestingUrl: 'https://evil.example/#claim' })).toEqual({ granted: false, checked: false });
    for (const p of ['display-capture', 'geolocation', 'notifications']) expect(await camera('app://station/index.html#claim', video, { mediaType: 'video', isMainFrame: true }, p), p).toEqual({ granted: false, checked: false });

    // One IPC handler; every request channel of the contract reaches the station core (in its own
    // process: the stand-in's utilityProcess.fork) — answered, or refused by the core's validation.
    expect(s.ipcHandlers).toEqual([ELECTRON_INVOKE_CHANNEL]);
    expect(s.utilityProcesses).toHaveLength(1);
    expect(s.utilityProcesses[0]!.entry).toBe(path.join(ROOT, 'out/main/core.js'));
    const corePid = s.utilityProcesses[0]!.pid;
    expect(isAlive(corePid)).toBe(true);
    const channels = Object.keys(requestSchemas);
    expect(channels.length).toBeGreaterThan(30);
    for (const ch of channels) {
      const r = await a.invoke(ch, {});
      if (!r.ok) expect(['UNKNOWN_CHANNEL', 'FORBIDDEN', 'UNAVAILABLE', 'INTERNAL'], `${ch}: ${JSON.stringify(r.error)}`).not.toContain(r.error.code);
    }
    expect(await a.invoke('app.info', undefined)).toMatchObject({ ok: true, value: { shell: 'electron', dataDir: path.join(tmp.path, 'dev'), secretStore: 'file' } });
    expect(await a.invoke('settings.update', { stationId: 'NOT OK' })).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT' } });
    expect(await a.invoke('no.such.channel', {})).toMatchObject({ ok: false, error: { code: 'UNKNOWN_CHANNEL' } });
    // Only the main window's top frame, served from app://station, may ask.
    expect(await a.invoke('app.info', undefined, 'https://evil.example/')).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(await a.invoke('app.info', undefined, 'app://station/index.html', 'other')).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    // A notification (a board passed) is shown by the app itself, after the same validation.
    expect(await a.invoke('app.notify', { title: 'Board 3 passed', body: 'GW-246f28aabb03 is online.' })).toEqual({ ok: true, value: { shown: true } });
    expect(await a.invoke('app.notify', { title: '', body: 'x' })).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT' } });
    expect((await a.drive<{ notifications: unknown[] }>({ cmd: 'state' })).notifications).toEqual([{ title: 'Board 3 passed', body: 'GW-246f28aabb03 is online.' }]);
    // The core's events reach the window on the event channel.
    await a.invoke('settings.update', { operator: 'Stand-in operator' });
    await expect.poll(async () => (await a.drive<Array<{ channel: string; event: string }>>({ cmd: 'sent' })).some((x) => x.channel === ELECTRON_EVENT_CHANNEL && x.event === 'settings.changed')).toBe(true);

    // Quitting stops the core cleanly first, then the app exits.
    expect(await a.quit()).toBe(0);
    expect(isAlive(corePid)).toBe(false);
  }, 120_000);

  it('a packaged build ignores ELECTRON_RENDERER_URL: it loads and trusts only app://station', async () => {
    const dev = 'http://127.0.0.1:5173';
    const packaged = start('packaged', { STAND_IN_PACKAGED: '1', ELECTRON_RENDERER_URL: dev });
    const s = await packaged.ready();
    expect(s.windows[0]!.loadedUrl).toBe('app://station/index.html');
    expect(s.windows[0]!.options.webPreferences.devTools).toBe(false);
    expect(await packaged.invoke('app.info', undefined, `${dev}/`)).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(await packaged.drive({ cmd: 'navigate', url: `${dev}/` })).toEqual({ prevented: true });
    expect(await packaged.invoke('app.info', undefined)).toMatchObject({ ok: true });
    expect(await packaged.quit()).toBe(0);

    // A development build follows the dev server (so the difference is the packaging, not the URL).
    const unpackaged = start('unpackaged', { ELECTRON_RENDERER_URL: dev });
    const u = await unpackaged.ready();
    expect(u.windows[0]!.loadedUrl).toBe(dev);
    expect(u.windows[0]!.options.webPreferences.devTools).toBe(true);
    expect(await unpackaged.invoke('app.info', undefined, `${dev}/`)).toMatchObject({ ok: true });
    expect(await unpackaged.quit()).toBe(0);
  }, 120_000);

  it('encrypts the secret store with safeStorage when the OS keychain has one, and not with Linux\'s built-in fallback key', async () => {
    const a = start('keychain', { STAND_IN_KEYCHAIN: 'available' });
    await a.ready();
    expect(await a.invoke('app.info', undefined)).toMatchObject({ ok: true, value: { secretStore: 'safeStorage' } });
    // A secret saved by the core (in its own process) is encrypted by the app's keychain and read back.
    const token = 'tds_token_through_the_app_keychain';
    expect(await a.invoke('settings.setServer', { mode: 'remote', url: 'https://127.0.0.1:9', token, accountId: 1 })).toMatchObject({ ok: true, value: { server: { hasToken: true } } });
    const file = readFileSync(path.join(tmp.path, 'keychain', 'secrets.safe.json'), 'utf8');
    expect(file).not.toContain(token);
    const stored = (JSON.parse(file) as { secrets: Record<string, string> }).secrets['server.token']!;
    expect(Buffer.from(stored, 'base64').subarray(0, 9).toString()).toBe('stand-in:');
    expect(await a.quit()).toBe(0);
    const b = start('basic-text', { STAND_IN_KEYCHAIN: 'available', STAND_IN_KEYCHAIN_BACKEND: 'basic_text' });
    await b.ready();
    expect(await b.invoke('app.info', undefined)).toMatchObject({ ok: true, value: { secretStore: 'file' } });
    expect(await b.quit()).toBe(0);
  }, 120_000);
});
