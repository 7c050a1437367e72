import { app, BrowserWindow, session, shell, type WebContents } from 'electron';

/** Origin the packaged renderer is served from (custom protocol, see renderer-protocol.ts). */
export const APP_ORIGIN = 'app://station';

/** The renderer is ours only if it comes from our origin (or the dev server in development). */
export function isTrustedUrl(url: string, devUrl: string | undefined): boolean {
  try {
    const u = new URL(url);
    if (u.origin === APP_ORIGIN || `${u.protocol}//${u.host}` === APP_ORIGIN) return true;
    return devUrl !== undefined && u.origin === new URL(devUrl).origin;
  } catch {
    return false;
  }
}

/** Electron's security checklist for every web contents: no new windows, no navigation away, no permissions, no webviews. */
export function lockDown(devUrl: string | undefined): void {
  session.defaultSession.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  session.defaultSession.setPermissionCheckHandler(() => false);
  app.on('web-contents-created', (_e, contents: WebContents) => {
    contents.on('will-attach-webview', (ev) => ev.preventDefault());
    contents.on('will-navigate', (ev, url) => {
      if (!isTrustedUrl(url, devUrl)) ev.preventDefault();
    });
    contents.setWindowOpenHandler(({ url }) => {
      // Links to documentation open in the user's browser; nothing opens inside the app.
      if (/^https:\/\//.test(url)) void shell.openExternal(url);
      return { action: 'deny' };
    });
  });
}

export function createMainWindow(preload: string): BrowserWindow {
  return new BrowserWindow({
    width: 1320,
    height: 880,
    minWidth: 900,
    minHeight: 600,
    show: false,
    title: 'TDS Provisioning Station',
    autoHideMenuBar: true,
    webPreferences: {
      preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      spellcheck: false,
      devTools: !app.isPackaged,
    },
  });
}
