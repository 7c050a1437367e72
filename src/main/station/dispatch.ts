import { type EventChannel, isRequestChannel, type RequestChannel, requestSchemas, type ResponseOf, type StationEvents, type ValidRequestOf } from '../../shared/ipc.js';
import { type IpcResult, StationError } from '../../shared/ipc-errors.js';
import { toFieldIssues } from '../../shared/validation.js';
import { safeLines } from '../log/safe-text.js';

/** The core's side of the contract: one async handler per request channel. */
export type StationHandlers = { [C in RequestChannel]: (request: ValidRequestOf<C>) => Promise<ResponseOf<C>> };

/**
 * The boundary every transport goes through: unknown channel → error, payload validated with the
 * channel's zod schema (field issues come back as INVALID_INPUT), handler errors turned into a body
 * the renderer can show. Unexpected errors are logged here and reach the UI without stack traces.
 */
export async function dispatch(handlers: StationHandlers, channel: string, payload: unknown, log: (msg: string) => void = console.error): Promise<IpcResult<unknown>> {
  if (!isRequestChannel(channel)) {
    return { ok: false, error: { code: 'UNKNOWN_CHANNEL', message: `unknown request '${String(channel).slice(0, 60)}'` } };
  }
  const parsed = requestSchemas[channel].safeParse(payload);
  if (!parsed.success) {
    const issues = toFieldIssues(parsed.error);
    return { ok: false, error: { code: 'INVALID_INPUT', message: issues.map((i) => `${i.field || 'request'}: ${i.message}`).join('; '), issues } };
  }
  try {
    const handler = handlers[channel] as (r: unknown) => Promise<unknown>;
    return { ok: true, value: await handler(parsed.data) };
  } catch (err) {
    if (err instanceof StationError) return { ok: false, error: err.toBody() };
    // The message may quote a device or a peer: escaped before it reaches the station's terminal.
    log(safeLines(`[station] ${channel} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`));
    return { ok: false, error: { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) } };
  }
}

type Listener = (event: EventChannel, payload: unknown) => void;

/** Typed fan-out of core events to every connected client (Electron window, WebSocket sessions). */
export class StationEventBus {
  private readonly listeners = new Set<Listener>();

  emit<E extends EventChannel>(event: E, payload: StationEvents[E]): void {
    for (const l of this.listeners) {
      try {
        l(event, payload);
      } catch (err) {
        console.error(`[station] event listener failed for ${event}:`, err);
      }
    }
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
