#!/usr/bin/env node
import { Command } from 'commander';
import { registerCommands } from './commands.js';

// Headless entry of the station: `tds-station esp32 ...`, `tds-station pi ...`, `tds-station serve`.
const program = new Command('tds-station')
  .description('TDS provisioning station (headless): provision ESP32 and Raspberry Pi gateways')
  .showHelpAfterError();
registerCommands(program);
await program.parseAsync(process.argv);
