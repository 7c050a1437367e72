/**
 * Every schema migration, in order. To add one: create `NNN-what.ts` exporting `migration` with
 * the next version number, and append it here. Explicit imports (not a directory scan) keep the
 * list correct when the server is bundled into the desktop app.
 */
import { migration as m001 } from './001-initial.js';
import { migration as m002 } from './002-telemetry.js';
import { migration as m003 } from './003-mac-ownership.js';
import { migration as m004 } from './004-zero-touch.js';
import { migration as m005 } from './005-fleet.js';
import type { Migration } from '../sqlite/migrate.js';

export const migrations: readonly Migration[] = [m001, m002, m003, m004, m005];

export type { Migration };
