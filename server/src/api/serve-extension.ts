/**
 * The contract of a `tds-server serve` extension: a feature that runs next to the REST API in the
 * same process (the broker side: embedded broker, presence, renewal over MQTT). It lives beside
 * `startServer` because it extends its options and its running server; the serve command only
 * lists the extensions (`cli/serve-extensions.ts`), and an extension imports nothing from the CLI's
 * registry, so the two never import each other.
 */
import type { Command } from 'commander';
import type { Logger } from '../util/logger.js';
import type { RunningServer, StartServerOptions } from './start.js';

export interface ServeExtensionContext {
  server: RunningServer;
  /** All parsed options of `serve`, including the ones the extension added. */
  options: Record<string, unknown>;
  dataDir: string;
  logger: Logger;
}

export interface StartedExtension {
  stop(): Promise<void>;
  /** Merged into the "listening" line that `serve --json` prints (e.g. { broker_url }). */
  info?: Record<string, unknown>;
}

export interface ServeExtension {
  name: string;
  /** Adds this extension's options to the serve command (e.g. `--broker embedded|mosquitto`). */
  addOptions(serve: Command): void;
  /** Options this extension passes to startServer (read from its parsed serve options). */
  serverOptions?(options: Record<string, unknown>): Partial<StartServerOptions>;
  /** Starts after the API listens; return undefined when the options leave it disabled. */
  start(ctx: ServeExtensionContext): Promise<StartedExtension | undefined>;
}
