import path from 'node:path';
import type { StationTarget } from '../../src/main/core/supervisor.js';
import type { RequestChannel, RequestOf, ResponseOf } from '../../src/shared/ipc.js';

/** The device-source module a station core loads for simulated boards (it does not know they are). */
export const SIM_SOURCE_MODULE = path.resolve(import.meta.dirname, '../esp32/support/sim-source-module.ts');

/** Core options for a station with no serial devices (no USB scanning in tests that need none). */
export const NO_DEVICES = { deviceSourceModule: SIM_SOURCE_MODULE, deviceSourceOptions: { boards: [] } };

/** One request through the contract to a station core; throws with the error body on failure. */
export async function invoke<C extends RequestChannel>(station: { core: StationTarget }, channel: C, request?: RequestOf<C>): Promise<ResponseOf<C>> {
  const r = await station.core.call(channel, request);
  if (!r.ok) throw new Error(`${channel}: ${JSON.stringify(r.error)}`);
  return r.value as ResponseOf<C>;
}
