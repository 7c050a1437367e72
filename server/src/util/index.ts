/** Helpers the server shares with the station (`@tds/server/util`). */
export { readFileIfExists, writeFileAtomic, type AtomicWriteOptions } from './atomic-file.js';
export { escapeControlChars, escapeJsonControlChars } from './escape.js';
export { spreadsheetSafe } from './csv-cell.js';
