import type { StationLog } from '../log/station-log.js';
import { ImageHistory, lastBundleFromLog } from './image-history.js';
import { PortRates } from './port-rates.js';

/**
 * What the station remembers between ESP32 jobs, in its data folder: the speed each port holds and
 * the image each MAC last received (found through the station log). One instance per station and
 * data folder: the port memory is written whole on each change, so two instances would undo each
 * other's records.
 */
export interface FlashMemory {
  portRates: PortRates;
  imageHistory: ImageHistory;
}

/** Opens the flash memory kept in `dataDir`; `log` is the station log that records the jobs. */
export async function openFlashMemory(
  dataDir: string,
  log: Pick<StationLog, 'query' | 'steps'>,
  options: { onWarning?: (message: string) => void } = {},
): Promise<FlashMemory> {
  return {
    portRates: await PortRates.open(dataDir, options.onWarning ? { onWarning: options.onWarning } : {}),
    imageHistory: ImageHistory.inDataDir(dataDir, lastBundleFromLog(log)),
  };
}
