/**
 * A device-source module for the station CLI's hidden `--device-source` option (loaded with
 * `node --import tsx`): the simulated boards named in TDS_SIM_BOARDS (JSON list of
 * {hostPath, controlPath, mac}) as a SerialDeviceSource. The CLI does not know they are simulators.
 */
import type { SerialDeviceSource } from '../../../src/main/devices/serial-link.js';
import { SimDeviceSource, type SimBoardHandle } from '../../sim/esp32/sim-device-source.js';

export async function createDeviceSource(): Promise<SerialDeviceSource> {
  const boards = JSON.parse(process.env.TDS_SIM_BOARDS ?? '[]') as SimBoardHandle[];
  const source = new SimDeviceSource();
  for (const b of boards) await source.add(b);
  return source;
}
