export { StationLog, type JobRecord, type StepRecord, type JobFilter, type DayFigures, type StationLogOptions } from './station-log.js';
export { redactSecrets } from './redact.js';
export { MIGRATIONS } from './migrations.js';
export { defaultDataDir, defaultStationLogFile } from './paths.js';
