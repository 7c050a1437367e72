import { Notification } from 'electron';
import { requestSchemas } from '../../shared/ipc.js';
import type { IpcResult } from '../../shared/ipc-errors.js';
import { toFieldIssues } from '../../shared/validation.js';

/**
 * `app.notify` in the app: an OS notification shown by this process (the renderer's Notification API
 * needs a permission the window never grants, and the core has no screen). Validated as the core
 * validates every request.
 */
export function showNotification(request: unknown): IpcResult<{ shown: boolean }> {
  const parsed = requestSchemas['app.notify'].safeParse(request);
  if (!parsed.success) {
    const issues = toFieldIssues(parsed.error);
    return { ok: false, error: { code: 'INVALID_INPUT', message: issues.map((i) => `${i.field}: ${i.message}`).join('; '), issues } };
  }
  if (!Notification.isSupported()) return { ok: true, value: { shown: false } };
  new Notification({ title: parsed.data.title, body: parsed.data.body }).show();
  return { ok: true, value: { shown: true } };
}
