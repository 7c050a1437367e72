import type { Command } from 'commander';

/** `tds-station esp32` (filled in by its area). */
export function registerEsp32Commands(_program: Command): void {}
