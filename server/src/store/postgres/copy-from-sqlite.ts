/**
 * `tds-server migrate-store`: copies a SQLite store into an empty PostgreSQL database, in one
 * PostgreSQL transaction, from one consistent SQLite snapshot. Every table of the SQLite schema is
 * copied (ids kept, sequences moved past them), in foreign-key order, so tables added by later
 * migrations come along without changes here; the two dialects must agree on each table's columns
 * (a table or column missing on one side is refused, never dropped). Before COMMIT the copy is
 * checked: row counts of every table, and the certificate serial numbers one by one. Anything
 * wrong rolls the whole copy back: the target is either the complete copy or still empty.
 */
import type Database from 'better-sqlite3';
import type pg from 'pg';
import { createHash } from 'node:crypto';

export interface CopyReport {
  tables: { name: string; rows: number }[];
  serials: number;
  /** SHA-256 over the sorted serial numbers, equal on both sides. */
  serialsSha256: string;
}

const BATCH = 1_000;
/** Created and seeded by the migrations on both sides; the copy replaces the seed. */
const SEEDED = new Set(['crl_state', 'birth_crl_state']);
/** Only in PostgreSQL (shared counters, installation facts): not copied. */
const POSTGRES_ONLY = new Set(['rate_counters', 'installation', 'schema_migrations']);
/**
 * Columns only PostgreSQL has, filled by their default as rows are copied (in SQLite's rowid order):
 * the insertion order that SQLite's rowid gives.
 */
const POSTGRES_ONLY_COLUMNS: Record<string, readonly string[]> = { bootstrap_requests: ['seq'] };

type Row = Record<string, unknown>;

/** Table and column names go into SQL text: only plain identifiers are accepted. */
function identifier(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`the SQLite store has a table or column named '${name}', which is not one of ours`);
  return name;
}

function sqliteTables(db: Database.Database): string[] {
  return (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY name`).all() as { name: string }[]).map((r) =>
    identifier(r.name),
  );
}

/** Parents before children; a table's reference to itself is handled by copying in id order. */
function foreignKeyOrder(db: Database.Database, tables: string[]): string[] {
  const deps = new Map(tables.map((t) => [t, new Set((db.prepare(`PRAGMA foreign_key_list("${t}")`).all() as { table: string }[]).map((f) => f.table).filter((p) => p !== t))]));
  const out: string[] = [];
  const visit = (t: string, path: string[]): void => {
    if (out.includes(t)) return;
    if (path.includes(t)) throw new Error(`foreign keys form a cycle: ${[...path, t].join(' → ')}`);
    for (const p of deps.get(t) ?? []) if (deps.has(p)) visit(p, [...path, t]);
    out.push(t);
  };
  for (const t of tables) visit(t, []);
  return out;
}

async function pgColumns(client: pg.ClientBase, table: string): Promise<string[]> {
  const r = await client.query<{ column_name: string }>(
    `SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`,
    [table],
  );
  return r.rows.map((c) => c.column_name);
}

/** JSON for json_populate_recordset: blobs as bytea hex text, everything else as it is. */
function jsonRow(r: Row): Row {
  const out: Row = {};
  for (const [k, v] of Object.entries(r)) out[k] = Buffer.isBuffer(v) ? `\\x${v.toString('hex')}` : v;
  return out;
}

/** Names of the PostgreSQL tables that hold data (the migrations' seeds of the CRL states do not count). */
export async function nonEmptyTables(client: pg.ClientBase): Promise<string[]> {
  const tables = (await client.query<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`)).rows.map(
    (r) => r.table_name,
  );
  const busy: string[] = [];
  for (const t of tables) {
    if (t === 'schema_migrations' || t === 'rate_counters') continue;
    const sql = SEEDED.has(t) ? `SELECT count(*) AS n FROM "${t}" WHERE last_number <> 0 OR crl_number IS NOT NULL` : `SELECT count(*) AS n FROM "${t}"`;
    if (Number((await client.query<{ n: number }>(sql)).rows[0]!.n) > 0) busy.push(t);
  }
  return busy;
}

/** Inside an open PostgreSQL transaction on `client`: copies and checks; throws on any difference. */
export async function copySqliteToPostgres(db: Database.Database, client: pg.ClientBase, onTable?: (name: string, rows: number) => void): Promise<CopyReport> {
  const tables = sqliteTables(db);
  const pgTables = new Set((await client.query<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)).rows.map((r) => r.table_name));
  const missing = tables.filter((t) => !pgTables.has(t));
  if (missing.length > 0) throw new Error(`PostgreSQL has no table ${missing.join(', ')}: its migrations do not match SQLite's`);
  for (const t of pgTables) if (!tables.includes(t) && !POSTGRES_ONLY.has(t)) throw new Error(`PostgreSQL has a table ${t} that SQLite lacks: the two migrations disagree`);

  const report: CopyReport = { tables: [], serials: 0, serialsSha256: '' };
  for (const table of foreignKeyOrder(db, tables)) {
    const sqliteCols = (db.prepare(`PRAGMA table_info("${table}")`).all() as { name: string }[]).map((c) => identifier(c.name));
    const pgOnly = POSTGRES_ONLY_COLUMNS[table] ?? [];
    const pgCols = (await pgColumns(client, table)).filter((c) => !pgOnly.includes(c));
    const diff = [...sqliteCols.filter((c) => !pgCols.includes(c)).map((c) => `${c} only in SQLite`), ...pgCols.filter((c) => !sqliteCols.includes(c)).map((c) => `${c} only in PostgreSQL`)];
    if (diff.length > 0) throw new Error(`table ${table}: ${diff.join(', ')}; the two migrations disagree`);
    if (SEEDED.has(table)) await client.query(`DELETE FROM "${table}"`);
    const cols = sqliteCols.map((c) => `"${c}"`).join(', ');
    const order = pgOnly.length > 0 ? 'ORDER BY rowid' : sqliteCols.includes('id') ? 'ORDER BY id' : '';
    let rows = 0;
    let batch: Row[] = [];
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      await client.query(`INSERT INTO "${table}" (${cols}) SELECT ${cols} FROM json_populate_recordset(NULL::"${table}", $1::json)`, [JSON.stringify(batch.map(jsonRow))]);
      rows += batch.length;
      batch = [];
    };
    for (const r of db.prepare(`SELECT ${cols} FROM "${table}" ${order}`).iterate() as IterableIterator<Row>) {
      batch.push(r);
      if (batch.length >= BATCH) await flush();
    }
    await flush();
    const sequence = sqliteCols.includes('id') ? (await client.query<{ s: string | null }>(`SELECT pg_get_serial_sequence($1, 'id') AS s`, [table])).rows[0]?.s : null;
    if (sequence) {
      // Identity columns continue after the copied ids (a text id, as a bootstrap request's, has none).
      await client.query(`SELECT setval($1, GREATEST((SELECT max(id) FROM "${table}"), 1), (SELECT count(*) > 0 FROM "${table}"))`, [sequence]);
    }
    report.tables.push({ name: table, rows });
    onTable?.(table, rows);
  }

  // The check: the same number of rows everywhere, the same serial numbers.
  for (const { name, rows } of report.tables) {
    const there = Number((await client.query<{ n: number }>(`SELECT count(*) AS n FROM "${name}"`)).rows[0]!.n);
    const here = (db.prepare(`SELECT count(*) AS n FROM "${name}"`).get() as { n: number }).n;
    if (there !== here || there !== rows) throw new Error(`table ${name}: ${here} rows in SQLite, ${there} in PostgreSQL after the copy`);
  }
  if (tables.includes('certificates')) {
    const here = (db.prepare('SELECT serial_number FROM certificates ORDER BY serial_number').all() as { serial_number: string }[]).map((r) => r.serial_number);
    const there = (await client.query<{ serial_number: string }>('SELECT serial_number FROM certificates ORDER BY serial_number')).rows.map((r) => r.serial_number);
    const sha = (list: string[]): string => createHash('sha256').update(list.join('\n')).digest('hex');
    if (here.length !== there.length || sha(here) !== sha(there)) throw new Error('the certificate serial numbers differ between SQLite and PostgreSQL after the copy');
    report.serials = here.length;
    report.serialsSha256 = sha(here);
  }
  return report;
}
