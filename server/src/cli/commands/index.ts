/**
 * Every `tds-server` command, in help order. To add a command: write a module exporting a
 * CommandModule in this folder and append it here.
 */
import { accountCommand } from './account.js';
import { backupCommand } from './backup.js';
import { birthCaCommand } from './birth-ca.js';
import { crlCommand } from './crl.js';
import { initCommand } from './init.js';
import { migrateStoreCommand } from './migrate-store.js';
import { renewExpiringCommand } from './renew-expiring.js';
import { serveCommand } from './serve.js';
import { tokenCommand } from './token.js';
import { zeroTouchCommand } from './zero-touch.js';
import type { CommandModule } from './types.js';
import { brokerKitCommand } from '../../broker/commands/broker-kit.js';
import { identityCommand } from '../../broker/commands/identity.js';
import { renewDeviceCommand } from '../../broker/commands/renew-device.js';

export const commands: CommandModule[] = [
  initCommand,
  serveCommand,
  accountCommand,
  tokenCommand,
  renewExpiringCommand,
  crlCommand,
  backupCommand,
  migrateStoreCommand,
  // zero-touch onboarding
  birthCaCommand,
  zeroTouchCommand,
  // broker side
  brokerKitCommand,
  identityCommand,
  renewDeviceCommand,
];

export type { CommandModule };
