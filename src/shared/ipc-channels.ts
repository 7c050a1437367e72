import type { IpcResult } from './ipc-errors.js';

/**
 * How the contract travels: the Electron transport's fixed names, the preload bridge's shape and the
 * WebSocket frames of web mode. Kept apart from ipc.ts so the sandboxed preload bundles nothing but
 * these few lines (no zod, no schemas).
 */
export const ELECTRON_INVOKE_CHANNEL = 'tds:invoke';
export const ELECTRON_EVENT_CHANNEL = 'tds:event';

export type BridgeResult = { ok: true; value: unknown } | { ok: false; error: { code: string; message: string; hint?: string; issues?: unknown[] } };

/** What the preload exposes on `window.tdsStation` (untyped by channel; the renderer wraps it). */
export interface PreloadBridge {
  invoke(channel: string, request: unknown): Promise<BridgeResult>;
  on(listener: (event: string, payload: unknown) => void): () => void;
}

/** WebSocket frames in web mode. */
export type WsClientFrame = { t: 'req'; id: number; ch: string; p?: unknown };
export type WsServerFrame =
  | { t: 'res'; id: number; r: IpcResult<unknown> }
  | { t: 'evt'; ev: string; p: unknown };
