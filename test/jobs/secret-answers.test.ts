import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobSnapshot } from '../../src/shared/jobs.js';
import { JobFailure, JobQueue, type JobDefinition, type JobLogLine, type SecretAnswer } from '../../src/main/jobs/index.js';
import { StationLog } from '../../src/main/log/index.js';
import { tempDir } from '../support/temp.js';

const dirs: Array<{ remove(): void }> = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.remove();
});

function waitForQuestion(q: JobQueue, id: string, after?: string): Promise<JobSnapshot> {
  return new Promise((resolve) => {
    const check = (s: JobSnapshot): void => {
      if (s.id === id && s.state === 'waiting-input' && s.question && s.question.id !== after) {
        off();
        resolve(s);
      }
    };
    const off = q.onUpdate(check);
    const now = q.get(id);
    if (now) check(now);
  });
}

describe('secret answers', () => {
  it('hand the typed secret to the asking step only: never to the log, snapshots, events or the station log', async () => {
    const dir = tempDir('tds-secret-');
    dirs.push(dir);
    const dbFile = path.join(dir.path, 'station-log.sqlite');
    const log = StationLog.open(dbFile, { stationId: 'bench-1' });
    const q = new JobQueue();
    log.attach(q);
    const events: unknown[] = [];
    q.onUpdate((s) => events.push(s));
    q.onLog((l) => events.push(l));

    const secret = 'Tr0ub4dor&3-horse-staple';
    const received: SecretAnswer[] = [];
    const def: JobDefinition = {
      kind: 'pi',
      target: '10.0.0.9:22',
      steps: [{ name: 'prepare' }, { name: 'install' }],
      async run(ctx) {
        await ctx.step('prepare', async (step) => {
          // First a refused password, then the right one (each answer is a new question).
          for (;;) {
            const answer = await ctx.askSecret({ kind: 'sudo-password', message: 'sudo needs a password', choices: ['submit', 'cancel'] });
            received.push(answer);
            // Careless code must not leak it either: the answer prints as [secret] ...
            step.log(`got ${JSON.stringify(answer)} / ${inspect(answer)} / ${String(answer.secret)}`);
            if (answer.secret?.reveal() === secret) break;
          }
          // ... and a remote command that echoes it is masked while the job runs.
          step.log(`sudo: [sudo] password for pi: ${answer(received).reveal()}`);
          step.detail(`privileges: sudo (${answer(received).reveal()})`);
          ctx.update({ facts: { echoed: answer(received).reveal() } });
        });
        await ctx.step('install', async () => {
          throw new JobFailure('REMOTE_COMMAND_FAILED', `install.sh: unexpected output "${answer(received).reveal()}"`, {
            attachment: { label: 'output', text: `line 1\n${answer(received).reveal()}\n` },
          });
        });
      },
    };
    const id = q.submit(def);

    const first = await waitForQuestion(q, id);
    expect(first.question).toMatchObject({ kind: 'sudo-password', secret: true, choices: ['submit', 'cancel'] });
    expect(() => q.answer(id, first.question!.id, 'maybe', { secret })).toThrow(/not one of the choices/);
    q.answer(id, first.question!.id, 'submit', { secret: 'wrong-password-1' });
    const second = await waitForQuestion(q, id, first.question!.id);
    q.answer(id, second.question!.id, 'submit', { secret });
    const final = await q.wait(id);
    log.close();

    // The step got both values, and only the step.
    expect(received.map((a) => a.secret?.reveal())).toEqual(['wrong-password-1', secret]);
    expect(received.every((a) => a.choice === 'submit')).toBe(true);
    expect(final.state).toBe('failed');
    expect(final.error?.message).toContain('[secret]');
    expect(final.steps[0]!.detail).toBe('privileges: sudo ([secret])');
    expect(final.facts?.echoed).toBe('[secret]');

    const stream = JSON.stringify(events);
    expect(stream).toContain('(with a secret, not shown)');
    expect(stream).toContain('[secret]');
    for (const s of [secret, 'wrong-password-1']) {
      expect(stream).not.toContain(s);
      const bytes = Buffer.concat(
        readdirSync(dir.path)
          .filter((f) => f.startsWith('station-log.sqlite'))
          .map((f) => readFileSync(path.join(dir.path, f))),
      );
      expect(bytes.length).toBeGreaterThan(0);
      expect(bytes.includes(Buffer.from(s))).toBe(false);
    }
    // The station log has the job, its lines and the attachment, all masked.
    const again = StationLog.open(dbFile, { stationId: 'bench-1' });
    try {
      expect(again.lines(id).some((l) => l.text.includes('password for pi: [secret]'))).toBe(true);
      expect(again.attachment(id)?.text).toBe('line 1\n[secret]\n');
    } finally {
      again.close();
    }
  });

  it('refuses a secret for a question that does not ask for one', async () => {
    const q = new JobQueue();
    const id = q.submit({
      kind: 'esp32',
      target: '/dev/x',
      steps: [{ name: 'a' }],
      run: async (ctx) => void (await ctx.ask({ kind: 'reprovision', message: 'replace?', choices: ['replace', 'stop'] })),
    });
    const asked = await waitForQuestion(q, id);
    expect(asked.question?.secret).toBeUndefined();
    expect(() => q.answer(id, asked.question!.id, 'replace', { secret: 'hunter22' })).toThrow(/does not take a secret/);
    const lines: JobLogLine[] = [];
    q.onLog((l) => lines.push(l));
    q.answer(id, asked.question!.id, 'stop');
    expect((await q.wait(id)).state).toBe('succeeded');
    expect(lines.some((l) => l.text === "operator answered 'stop' to reprovision")).toBe(true);
  });
});

describe('finished jobs in memory', () => {
  it('keeps only the last N finished jobs; running ones are never dropped', async () => {
    const q = new JobQueue({ concurrency: 4, keepFinished: 2 });
    const dropped: string[] = [];
    q.onDrop((id) => dropped.push(id));
    let release!: () => void;
    const long = q.submit({ kind: 'esp32', target: '/dev/long', steps: [{ name: 'a' }], run: () => new Promise<void>((r) => (release = r)) });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(q.submit({ kind: 'esp32', target: `/dev/${i}`, steps: [{ name: 'a' }], run: async (ctx) => ctx.step('a', async () => undefined) }));
      await q.wait(ids[i]!);
    }
    expect(dropped).toEqual(ids.slice(0, 3));
    expect(q.list().map((j) => j.id)).toEqual([long, ...ids.slice(3)]);
    expect(q.get(ids[0]!)).toBeUndefined();
    expect(() => q.retry(ids[0]!)).toThrow(/no job/);
    await expect(q.wait(ids[0]!)).rejects.toThrow(/no job/);
    expect(q.get(long)?.state).toBe('running');

    release();
    await q.wait(long);
    // The long job finished last, so it is kept; the oldest of the rest goes.
    expect(dropped).toEqual(ids.slice(0, 4));
    expect(q.list().map((j) => j.id)).toEqual([long, ids[4]]);
    const retried = q.retry(ids[4]!);
    expect((await q.wait(retried)).retryOf).toBe(ids[4]);
  });
});

function answer(received: SecretAnswer[]): NonNullable<SecretAnswer['secret']> {
  return received[received.length - 1]!.secret!;
}
