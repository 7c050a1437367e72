import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { SqliteRepository, createApiToken, hashToken, migrations, type NewAuditEvent } from '@tds/server';
import { tempDir } from '../../test/support/temp.js';

const audit = (action: string): NewAuditEvent => ({ at: '2026-01-01T00:00:00Z', accountId: null, actor: 'test', action, object: null, sourceIp: null, result: 'ok', detail: null });

// What is the same on both backends is in store-contract.test.ts; this file keeps what only SQLite has.
describe('SQLite store', () => {
  let dir: ReturnType<typeof tempDir>;
  let file: string;
  let repo: SqliteRepository;

  beforeEach(() => {
    dir = tempDir('tds-store-');
    file = path.join(dir.path, 'db.sqlite');
    repo = new SqliteRepository(file);
  });
  afterEach(async () => {
    await repo.close();
    dir.remove();
  });

  it('opens with WAL, foreign keys and secure_delete, and records applied migrations', () => {
    expect(repo.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(repo.db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(repo.db.pragma('secure_delete', { simple: true })).toBe(1);
    const rows = repo.db.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as { version: number }[];
    expect(rows.map((r) => r.version)).toEqual(migrations.map((m) => m.version));
    expect(() => repo.db.prepare("INSERT INTO gateways (account_id, codigo, mac, nome, created_at, updated_at) VALUES (999, 'x', 'y', 'z', 't', 't')").run()).toThrow(/FOREIGN KEY/);
  });

  it('stores tokens only as hashes', async () => {
    const a = await repo.createAccount('A', audit('account.create'));
    const { token, record } = await createApiToken(repo, { accountId: a.id, role: 'operator' }, 'test');
    expect((await repo.findTokenByHash(hashToken(token)))?.id).toBe(record.id);
    await repo.close();
    const raw = readFileSync(file).toString('latin1') + (() => {
      try {
        return readFileSync(`${file}-wal`).toString('latin1');
      } catch {
        return '';
      }
    })();
    expect(raw).not.toContain(token);
    const db = new Database(file, { readonly: true });
    expect(db.prepare('SELECT token_hash FROM api_tokens').pluck().get()).toBe(hashToken(token));
    db.close();
    repo = new SqliteRepository(file);
  });
});
