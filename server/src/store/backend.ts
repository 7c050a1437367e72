/**
 * A store backend as the server uses it: the issuance `Repository`, the MQTT side's
 * `MqttRepository`, the `RateCounters`, and (PostgreSQL) the `Cluster` the instances coordinate
 * through. SQLite is the embedded default (one file in the data folder, one server process);
 * PostgreSQL lets several `tds-server serve` processes share one store. `open.ts` opens one.
 */
import { createHash } from 'node:crypto';
import type { Cluster } from './cluster.js';
import type { RateCounters } from './counters.js';
import type { MqttRepository } from './mqtt-repository.js';
import type { Repository } from './repository.js';
import type { Migration } from './sqlite/migrate.js';

export type DatabaseConfig =
  | { kind: 'sqlite'; file: string; durability?: 'normal' | 'full' }
  | { kind: 'postgres'; url: string; poolSize?: number; connectTimeoutMs?: number };

export interface StoreBackend {
  readonly kind: 'sqlite' | 'postgres';
  /** Where the store is, for messages and logs (never a password). */
  readonly description: string;
  readonly repo: Repository;
  readonly mqtt: MqttRepository;
  readonly counters: RateCounters;
  /** Coordination between instances (PostgreSQL only). */
  readonly cluster: Cluster | undefined;
  /** Resolves when the database answers (readiness probe); rejects otherwise. */
  ping(): Promise<void>;
  /**
   * One CA per store: PostgreSQL records the CA certificate on first use and refuses a server with
   * another CA (a second instance started from the wrong data folder); the same for the birth CA of
   * zero-touch onboarding (`role` birth), so two instances never make birth identities under two
   * different birth CAs. SQLite lives in the CA's own data folder and has nothing to check.
   */
  bindCa(caPem: string, role?: 'device' | 'birth'): Promise<void>;
  close(): Promise<void>;
}

export interface OpenStoreOptions {
  /** PostgreSQL: open the LISTEN connection (a serving instance); CLI commands do not need it. */
  listen?: boolean;
  migrations?: readonly Migration[];
  log?: (line: string) => void;
}

/** `PostgreSQL postgres://user@host:port/db`, without any password. */
export function describePostgresUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    return `PostgreSQL ${u.toString()}`;
  } catch {
    return 'PostgreSQL (unparsable URL)';
  }
}

/**
 * What a PostgreSQL store records of the CA it belongs to (`installation.ca_sha256`): the SHA-256 of
 * the CA certificate's PEM, surrounding white space left out.
 */
export function caFingerprint(caPem: string): string {
  return createHash('sha256').update(caPem.trim()).digest('hex');
}
