import type { StationTarget } from '../../src/main/core/supervisor.js';
import type { RequestChannel, RequestOf, ResponseOf } from '../../src/shared/ipc.js';

/** One request through the contract to a station core; throws with the error body on failure. */
export async function invoke<C extends RequestChannel>(station: { core: StationTarget }, channel: C, request?: RequestOf<C>): Promise<ResponseOf<C>> {
  const r = await station.core.call(channel, request);
  if (!r.ok) throw new Error(`${channel}: ${JSON.stringify(r.error)}`);
  return r.value as ResponseOf<C>;
}
