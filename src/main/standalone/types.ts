import type { ValidRequestOf } from '../../shared/ipc.js';
import type { BundledBackupContents, BundledBackupView, BundledRestoreView, FirstRunProgress } from '../../shared/views.js';
import type { ServerEndpoint } from '../station/server-link.js';

/** The embedded broker: its port (0 = any free one) and the address devices use to reach it. */
export interface EmbeddedBrokerOptions {
  port: number;
  deviceHost: string;
}

/** What first run produced for the station to keep (secrets go to the secret store). */
export interface FirstRunResult {
  accountId: number;
  token: string;
  caPem: string;
  monitor: { certPem: string; keyPem: string };
  broker: { host: string; port: number } | null;
}

/**
 * The bundled server (standalone mode): the issuance server in this process on 127.0.0.1 with its
 * data in the station's data folder, and optionally the embedded MQTT broker.
 */
export interface StandaloneHost {
  /** Whether first run has created the server's data. */
  initialised(): Promise<boolean>;
  /** Starts the server (and the embedded broker when asked) from existing data. */
  start(options: { broker: EmbeddedBrokerOptions | null }): Promise<void>;
  firstRun(input: ValidRequestOf<'firstRun.run'>, stationId: string, progress: (p: FirstRunProgress) => void): Promise<FirstRunResult>;
  endpoint(): ServerEndpoint | null;
  status(): { server: { running: boolean; url: string | null; dataDir: string }; broker: { running: boolean; port: number | null } };
  /** An encrypted backup of the bundled server into a new file (or a dated one in a folder); the server keeps running. */
  backup(out: string, passphrase: string): Promise<BundledBackupView>;
  /** Reads and verifies a backup file: what it holds, and whether its CA is this server's. Changes nothing. */
  check(from: string, passphrase: string): Promise<BundledBackupContents>;
  /**
   * Verifies the backup, stops the server, keeps its data folder aside, restores the backup into
   * the data folder and starts the server again (with `broker`); on any failure the previous data
   * folder is put back and restarted.
   */
  restore(from: string, passphrase: string, options: { broker: EmbeddedBrokerOptions | null; caPassphrase?: string }): Promise<BundledRestoreView>;
  close(): Promise<void>;
}
