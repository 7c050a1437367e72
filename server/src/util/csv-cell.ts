/**
 * A text cell a spreadsheet will not run: one that starts with = + - @, a tab or a carriage return
 * would be read as a formula (or one after a stripped control), so it gets a leading apostrophe, which
 * spreadsheets show as text and do not display. Every CSV the station writes passes its text cells
 * through this, and so does the server's audit export.
 */
export function spreadsheetSafe(cell: string): string {
  return /^[=+\-@\t\r]/.test(cell) ? `'${cell}` : cell;
}
