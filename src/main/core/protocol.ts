// Messages between the station core's process and its host (the Electron main process, or the
// web mode's HTTP server). The UI contract crosses unchanged inside `req`/`res`/`evt`; the rest is
// the supervision the host needs: start, ready, heartbeat, shutdown, and the few services only the
// host can give (the OS keychain through Electron safeStorage or the Secret Service).
import type { IpcResult } from '../../shared/ipc-errors.js';
import type { CoreConfig } from './config.js';

/** What the host's keychain does for the core's secret store (values travel base64-encoded). */
export type HostOp = 'encrypt' | 'decrypt';

export type HostToCore =
  | { t: 'start'; config: CoreConfig }
  | { t: 'req'; id: number; ch: string; p: unknown }
  | { t: 'host-res'; id: number; ok: true; value: string }
  | { t: 'host-res'; id: number; ok: false; message: string }
  | { t: 'shutdown' };

export type CoreToHost =
  /** Started; `interrupted` = jobs the previous core left running, now recorded as interrupted. */
  | { t: 'ready'; pid: number; interrupted: string[] }
  /** Could not start (bad configuration, data folder unusable); the process exits next. */
  | { t: 'fatal'; message: string }
  | { t: 'res'; id: number; r: IpcResult<unknown> }
  | { t: 'evt'; ev: string; p: unknown }
  /** Sent every `heartbeatMs` from the core's event loop: silence means the loop is stuck. */
  | { t: 'hb' }
  | { t: 'host-req'; id: number; op: HostOp; data: string };

export function isCoreToHost(m: unknown): m is CoreToHost {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string';
}

export function isHostToCore(m: unknown): m is HostToCore {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string';
}
