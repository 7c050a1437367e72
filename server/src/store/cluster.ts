/**
 * What several server instances on one database need from each other: a lock that only one of them
 * holds at a time (CRL signing), and messages to all of them (a new CRL was stored, a certificate
 * changed, an address was locked out). PostgreSQL provides both (`postgres/cluster.ts`: advisory
 * locks, LISTEN/NOTIFY); the SQLite store runs one instance and has none.
 */

export type ClusterChannel = 'crl' | 'certificate' | 'lockout';

/**
 * The named locks: the signing of each CA's CRL, and each scheduled job (so a job runs in one
 * instance per period).
 */
export type ClusterLock = 'crl' | 'birth-crl' | 'schedule:renewal' | 'schedule:crl';

/** A message as every instance receives it (its sender included). */
export interface ClusterMessage {
  /** Instance id of the sender; messages the store itself sends (a stored CRL) have none. */
  from?: string;
  [field: string]: unknown;
}

export interface Cluster {
  /** This instance's id in messages. */
  readonly instanceId: string;
  /**
   * Runs `fn` while holding the named lock. `wait: false` does not wait: when another instance holds
   * the lock, `fn` is not run and `ran` is false.
   */
  withLock<T>(name: ClusterLock, fn: () => Promise<T>, options: { wait: boolean }): Promise<{ ran: true; value: T } | { ran: false }>;
  /** Sends a message to every instance (best effort: a missed one is caught up through `onResync`). */
  publish(channel: ClusterChannel, message: Record<string, unknown>): Promise<void>;
  /** Returns the unsubscribe function. */
  subscribe(channel: ClusterChannel, listener: (message: ClusterMessage) => void): () => void;
  /** Called whenever the listening connection (re)connects: messages may have been missed meanwhile. */
  onResync(listener: () => void): () => void;
  close(): Promise<void>;
}
