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

/** The one screen that may use the camera (it reads the QR on a device's label or screen). */
export const CAMERA_ROUTE = '#claim';

/** The page is ours and on the Claim screen (its route is the URL's fragment). */
function onCameraRoute(pageUrl: string | undefined, devUrl: string | undefined): boolean {
  if (!pageUrl || !isTrustedUrl(pageUrl, devUrl)) return false;
  try {
    return new URL(pageUrl).hash === CAMERA_ROUTE;
  } catch {
    return false;
  }
}

/** Details Electron gives a permission request for media (only what is read here). */
interface MediaRequestDetails {
  isMainFrame?: boolean;
  requestingUrl?: string;
  mediaTypes?: string[];
}

/**
 * Every permission is denied except the camera for the Claim screen: a `media` request for video
 * only, from the main frame of our own page while it shows that screen. Microphone, screen capture,
 * other frames, other origins and other screens are refused.
 */
export function cameraRequestAllowed(permission: string, pageUrl: string | undefined, details: MediaRequestDetails, devUrl: string | undefined): boolean {
  if (permission !== 'media' || details.isMainFrame !== true) return false;
  const types = details.mediaTypes ?? [];
  if (types.length === 0 || types.some((t) => t !== 'video')) return false;
  return !!details.requestingUrl && isTrustedUrl(details.requestingUrl, devUrl) && onCameraRoute(pageUrl, devUrl);
}

/** The synchronous check Chromium makes (device lists, `permissions.query`): the same rule for one media type. */
export function cameraCheckAllowed(permission: string, pageUrl: string | undefined, requestingOrigin: string, details: { mediaType?: string; isMainFrame?: boolean }, devUrl: string | undefined): boolean {
  if (permission !== 'media' || details.mediaType !== 'video' || details.isMainFrame === false) return false;
  return isTrustedUrl(requestingOrigin, devUrl) && onCameraRoute(pageUrl, devUrl);
}

/** Electron's security checklist for every web contents: no new windows, no navigation away, no permissions but the Claim screen's camera, no webviews. */
export function lockDown(devUrl: string | undefined): void {
  session.defaultSession.setPermissionRequestHandler((wc, permission, callback, details) =>
    callback(cameraRequestAllowed(permission, wc?.getURL(), details as MediaRequestDetails, devUrl)),
  );
  session.defaultSession.setPermissionCheckHandler((wc, permission, requestingOrigin, details) =>
    cameraCheckAllowed(permission, wc?.getURL(), requestingOrigin, details as { mediaType?: string; isMainFrame?: boolean }, devUrl),
  );
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
