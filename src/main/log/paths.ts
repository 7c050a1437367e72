import os from 'node:os';
import path from 'node:path';

/** The station's data folder (headless default; the Electron app passes its own userData path). */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TDS_STATION_DATA) return path.resolve(env.TDS_STATION_DATA);
  if (process.platform === 'win32') return path.join(env.APPDATA ?? path.join(os.homedir(), 'AppData', 'Roaming'), 'tds-station');
  if (process.platform === 'darwin') return path.join(os.homedir(), 'Library', 'Application Support', 'tds-station');
  return path.join(env.XDG_DATA_HOME ?? path.join(os.homedir(), '.local', 'share'), 'tds-station');
}

export function defaultStationLogFile(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(defaultDataDir(env), 'station-log.sqlite');
}
