import type { Command } from 'commander';

/** `tds-station pi` (filled in by its area). */
export function registerPiCommands(_program: Command): void {}
