import type { Command } from 'commander';

/** One `tds-server` command (or command group): adds itself to the program. */
export interface CommandModule {
  register(program: Command): void;
}
