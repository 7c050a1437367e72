/**
 * The extensions of `tds-server serve`: features that run next to the REST API in the same process
 * register here instead of editing the serve command. To add one: write a module exporting a
 * `ServeExtension` (contract in `api/serve-extension.ts`) and append it to the list below.
 */
import type { ServeExtension } from '../api/serve-extension.js';
import { brokerServeExtension } from '../broker/serve-extension.js';

export const serveExtensions: readonly ServeExtension[] = [brokerServeExtension];
