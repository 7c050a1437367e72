/**
 * A device-source module for the station CLI's hidden `--device-source` option and for a station
 * core's `deviceSourceModule` (loaded under tsx): the simulated boards given in `options.boards`, or
 * else named in TDS_SIM_BOARDS (JSON list of {hostPath, controlPath, mac}), as a SerialDeviceSource.
 * Neither the CLI nor the core knows they are simulators.
 */
import type { SerialDeviceSource } from '../../../src/main/devices/serial-link.js';
import { SimDeviceSource, type SimBoardHandle } from '../../sim/esp32/sim-device-source.js';

export async function createDeviceSource(options?: { boards?: SimBoardHandle[] }): Promise<SerialDeviceSource> {
  const boards = options?.boards ?? (JSON.parse(process.env.TDS_SIM_BOARDS ?? '[]') as SimBoardHandle[]);
  const source = new SimDeviceSource();
  for (const b of boards) await source.add(b);
  return source;
}
