/**
 * Group commit for better-sqlite3: writes that arrive in the same event-loop turn share one
 * IMMEDIATE transaction, each inside its own SAVEPOINT, so every write is still atomic on its own (a
 * failing one rolls back alone) while the commit cost (WAL append, fsync with durability "full") is
 * paid once per batch. Callers are answered only after COMMIT, so an acknowledged write is durable.
 * Knows nothing of the schema: a write is any synchronous function of the open database.
 */
import type Database from 'better-sqlite3';

interface Job {
  fn: () => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export class GroupCommit {
  private readonly queue: Job[] = [];
  private flushScheduled = false;
  private readonly s: { begin: Database.Statement; commit: Database.Statement; savepoint: Database.Statement; release: Database.Statement; rollbackTo: Database.Statement };

  constructor(
    private readonly db: Database.Database,
    private readonly maxBatch = 256,
  ) {
    this.s = {
      begin: db.prepare('BEGIN IMMEDIATE'),
      commit: db.prepare('COMMIT'),
      savepoint: db.prepare('SAVEPOINT w'),
      release: db.prepare('RELEASE w'),
      rollbackTo: db.prepare('ROLLBACK TO w'),
    };
  }

  /** Runs `fn` inside the next batch's transaction; resolves with its result after COMMIT. */
  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits what is queued now (before closing the database). */
  drain(): void {
    while (this.queue.length > 0 && this.db.open) this.flush();
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.queue.splice(0, this.maxBatch);
    if (this.queue.length > 0) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    if (batch.length === 0) return;
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    try {
      this.s.begin.run();
      for (const job of batch) {
        this.s.savepoint.run();
        try {
          const value = job.fn();
          this.s.release.run();
          outcomes.push({ ok: true, value });
        } catch (error) {
          this.s.rollbackTo.run();
          this.s.release.run();
          outcomes.push({ ok: false, error });
        }
      }
      this.s.commit.run();
    } catch (error) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      for (const job of batch) job.reject(error);
      return;
    }
    batch.forEach((job, i) => {
      const o = outcomes[i]!;
      if (o.ok) job.resolve(o.value);
      else job.reject(o.error);
    });
  }
}
