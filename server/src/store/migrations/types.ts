/** A schema migration: applied once, in order, each in its own transaction. */
export interface Migration {
  /** Strictly increasing, never reused. */
  version: number;
  name: string;
  /** SQLite DDL/DML. */
  sql: string;
}
