/**
 * Extension point of `tds-server serve`: features that run next to the REST API in the same
 * process (the MQTT broker kit / embedded broker, presence, renewal over MQTT) register here
 * instead of editing the serve command. To add one: write a module exporting a ServeExtension
 * and append it to `serveExtensions` below.
 */
import type { Command } from 'commander';
import type { RunningServer, StartServerOptions } from '../api/start.js';
import { brokerServeExtension } from '../broker/serve-extension.js';
import type { Logger } from '../util/logger.js';

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

export const serveExtensions: ServeExtension[] = [brokerServeExtension];
