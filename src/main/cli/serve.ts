import type { Command } from 'commander';

/** `tds-station serve` (filled in by its area). */
export function registerServeCommand(_program: Command): void {}
