import type { Command } from 'commander';
import { registerClaimCommand } from './claim.js';
import { registerEsp32Commands } from './esp32.js';
import { registerPiCommands } from './pi.js';
import { registerServeCommand } from './serve.js';

/** Each area registers its own sub-commands: `esp32 ...`, `pi ...`, `serve`, `claim`. */
export function registerCommands(program: Command): void {
  registerEsp32Commands(program);
  registerPiCommands(program);
  registerServeCommand(program);
  registerClaimCommand(program);
}
