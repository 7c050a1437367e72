import { describe, expect, it } from 'vitest';
import type { JobSnapshot } from '../../src/shared/jobs.js';
import { delay, JobFailure, JobQueue, JobSkipped, type JobDefinition, type JobLogLine } from '../../src/main/jobs/index.js';
import { controlChars } from '../support/control-chars.js';

function def(target: string, run: JobDefinition['run'], steps = ['a', 'b', 'c']): JobDefinition {
  return { kind: 'esp32', target, steps: steps.map((name) => ({ name })), run };
}

describe('JobQueue', () => {
  it('runs declared steps in order with timing, progress and facts', async () => {
    const q = new JobQueue();
    const updates: JobSnapshot[] = [];
    q.onUpdate((s) => updates.push(s));
    const id = q.submit(
      def('/dev/x', async (ctx) => {
        await ctx.step('a', async (s) => {
          s.progress(0.5, 'half');
          await delay(5);
        });
        ctx.update({ mac: 'aa:bb:cc:dd:ee:01', facts: { chip: 'ESP32' } });
        await ctx.step('b', async () => 42);
        ctx.skip('c', 'not needed');
      }),
    );
    const final = await q.wait(id);
    expect(final.state).toBe('succeeded');
    expect(final.progress).toBe(1);
    expect(final.mac).toBe('aa:bb:cc:dd:ee:01');
    expect(final.facts).toEqual({ chip: 'ESP32' });
    expect(final.steps.map((s) => s.status)).toEqual(['done', 'done', 'skipped']);
    expect(Date.parse(final.steps[0]!.endedAt!)).toBeGreaterThanOrEqual(Date.parse(final.steps[0]!.startedAt!));
    expect(updates.map((u) => u.state)).toContain('running');
    expect(updates.some((u) => u.steps[0]!.status === 'running')).toBe(true);
  });

  it('stops a step that runs past its time limit (STEP_TIMEOUT), aborting its signal, even if it ignores the signal', async () => {
    const q = new JobQueue();
    let sawAbort = false;
    const id = q.submit({
      kind: 'esp32',
      target: '/dev/hang',
      steps: [{ name: 'a' }, { name: 'stuck', timeoutMs: 300 }, { name: 'c' }],
      run: async (ctx) => {
        await ctx.step('a', async () => undefined);
        await ctx.step('stuck', (step) => {
          step.signal.addEventListener('abort', () => (sawAbort = true));
          return new Promise<void>(() => undefined); // never settles, ignores the signal
        });
        await ctx.step('c', async () => undefined);
      },
    });
    const t0 = Date.now();
    const final = await q.wait(id);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(final.state).toBe('failed');
    expect(final.error).toMatchObject({ code: 'STEP_TIMEOUT', message: expect.stringMatching(/"stuck" did not finish within/) });
    expect(final.error?.where).toMatch(/^stuck/);
    expect(final.steps.map((s) => s.status)).toEqual(['done', 'failed', 'pending']);
    expect(sawAbort).toBe(true);
  });

  it("does not count the operator's thinking time against a step's limit", async () => {
    const q = new JobQueue();
    q.onUpdate((s) => {
      if (s.state === 'waiting-input' && s.question) setTimeout(() => q.answer(s.id, s.question!.id, 'yes'), 600);
    });
    const id = q.submit({
      kind: 'esp32',
      target: '/dev/ask',
      steps: [{ name: 'a', timeoutMs: 400 }],
      run: async (ctx) => {
        await ctx.step('a', async () => {
          await delay(100);
          await ctx.ask({ kind: 'reprovision', message: 'replace?', choices: ['yes', 'no'] });
          await delay(100);
        });
      },
    });
    const final = await q.wait(id);
    expect(final.state).toBe('succeeded');
  });

  it('fails with the step name as where, leaving later steps pending', async () => {
    const q = new JobQueue();
    const id = q.submit(
      def('/dev/x', async (ctx) => {
        await ctx.step('a', async () => undefined);
        await ctx.step('b', async () => {
          throw new JobFailure('FLASH_VERIFY_FAILED', 'md5 differs', { where: 'app at 0x10000' });
        });
        await ctx.step('c', async () => undefined);
      }),
    );
    const final = await q.wait(id);
    expect(final.state).toBe('failed');
    expect(final.error).toMatchObject({ code: 'FLASH_VERIFY_FAILED', message: 'md5 differs', where: 'b: app at 0x10000' });
    expect(final.error?.hint).toMatch(/Retry/);
    expect(final.steps.map((s) => s.status)).toEqual(['done', 'failed', 'pending']);
    expect(final.steps[1]!.detail).toContain('md5 differs');
  });

  it('turns unknown errors into INTERNAL', async () => {
    const q = new JobQueue();
    const id = q.submit(def('/dev/x', async (ctx) => ctx.step('a', async () => Promise.reject(new TypeError('boom')))));
    expect((await q.wait(id)).error).toMatchObject({ code: 'INTERNAL', message: 'boom', where: 'a' });
  });

  it('respects the concurrency limit and never runs two jobs on one target', async () => {
    const q = new JobQueue({ concurrency: 2 });
    let running = 0;
    let maxRunning = 0;
    const perTarget = new Map<string, number>();
    let overlap = false;
    const job = (target: string): JobDefinition =>
      def(target, async (ctx) => {
        running++;
        perTarget.set(target, (perTarget.get(target) ?? 0) + 1);
        if (perTarget.get(target)! > 1) overlap = true;
        maxRunning = Math.max(maxRunning, running);
        await ctx.step('a', () => delay(20));
        perTarget.set(target, perTarget.get(target)! - 1);
        running--;
      });
    for (const t of ['/dev/1', '/dev/2', '/dev/1', '/dev/3', '/dev/1']) q.submit(job(t));
    const all = await q.idle();
    expect(all.every((s) => s.state === 'succeeded')).toBe(true);
    expect(maxRunning).toBe(2);
    expect(overlap).toBe(false);
  });

  it('cancels a running job through its AbortSignal, and a queued one before it starts', async () => {
    const q = new JobQueue({ concurrency: 1 });
    let sawAbort = false;
    const a = q.submit(
      def('/dev/a', async (ctx) => {
        await ctx.step('a', async (s) => {
          s.signal.addEventListener('abort', () => (sawAbort = true));
          await delay(10_000, s.signal);
        });
      }),
    );
    const b = q.submit(def('/dev/b', async () => undefined));
    await new Promise((r) => setTimeout(r, 30));
    q.cancel(b);
    q.cancel(a);
    const [fa, fb] = await Promise.all([q.wait(a), q.wait(b)]);
    expect(sawAbort).toBe(true);
    expect(fa.state).toBe('cancelled');
    expect(fa.error).toMatchObject({ code: 'CANCELLED', where: 'a' });
    expect(fb.state).toBe('cancelled');
    expect(fb.startedAt).toBeUndefined();
  });

  it('asks the operator and waits for a valid answer', async () => {
    const q = new JobQueue();
    let answer = '';
    const id = q.submit(
      def('/dev/q', async (ctx) => {
        await ctx.step('a', async () => {
          answer = await ctx.ask({ kind: 'reprovision', message: 'revoke?', choices: ['revoke', 'stop'] });
        });
      }),
    );
    const asked = await new Promise<JobSnapshot>((resolve) => {
      const off = q.onUpdate((s) => {
        if (s.state === 'waiting-input') {
          off();
          resolve(s);
        }
      });
    });
    expect(asked.question).toMatchObject({ kind: 'reprovision', choices: ['revoke', 'stop'] });
    expect(() => q.answer(id, asked.question!.id, 'maybe')).toThrow(/not one of the choices/);
    q.answer(id, asked.question!.id, 'revoke');
    const final = await q.wait(id);
    expect(final.state).toBe('succeeded');
    expect(final.question).toBeUndefined();
    expect(answer).toBe('revoke');
  });

  it('a stop on purpose ends the job skipped, not failed: the step that stopped and the ones it never reached are skipped', async () => {
    const q = new JobQueue();
    const id = q.submit(
      def('/dev/s', async (ctx) => {
        await ctx.step('a', async () => undefined);
        await ctx.step('b', async () => {
          throw new JobSkipped('MAC_ALREADY_PROVISIONED', 'already provisioned; stopped without changing anything');
        });
        await ctx.step('c', async () => undefined);
      }),
    );
    const final = await q.wait(id);
    expect(final.state).toBe('skipped');
    expect(final.error).toMatchObject({ code: 'MAC_ALREADY_PROVISIONED', message: expect.stringMatching(/without changing anything/) });
    expect(final.steps.map((s) => s.status)).toEqual(['done', 'skipped', 'skipped']);
  });

  it('cancelling while a question is open ends the job as cancelled', async () => {
    const q = new JobQueue();
    const id = q.submit(def('/dev/q', async (ctx) => void (await ctx.ask({ kind: 'manual-boot', message: 'hold BOOT', choices: ['ready'] }))));
    await new Promise<void>((resolve) => {
      const off = q.onUpdate((s) => {
        if (s.state === 'waiting-input') {
          off();
          resolve();
        }
      });
    });
    q.cancel(id);
    expect((await q.wait(id)).state).toBe('cancelled');
  });

  it('retries a finished job as a new job that runs the definition again', async () => {
    const q = new JobQueue();
    let runs = 0;
    const id = q.submit(
      def('/dev/r', async (ctx) => {
        runs++;
        await ctx.step('a', async () => {
          if (runs === 1) throw new JobFailure('PORT_GONE');
        });
      }),
    );
    expect((await q.wait(id)).state).toBe('failed');
    const again = q.retry(id);
    expect(again).not.toBe(id);
    const final = await q.wait(again);
    expect(final).toMatchObject({ state: 'succeeded', retryOf: id });
    expect(runs).toBe(2);
    expect(() => q.retry('nope')).toThrow(/no job/);
  });

  it('removes private keys from log lines and step details', async () => {
    const q = new JobQueue();
    const lines: JobLogLine[] = [];
    q.onLog((l) => lines.push(l));
    const pem = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----';
    const id = q.submit(
      def('/dev/k', async (ctx) => {
        await ctx.step('a', async (s) => {
          s.log(`device said ${pem}`);
          s.detail(pem);
        });
      }),
    );
    const final = await q.wait(id);
    const all = lines.map((l) => l.text).join('\n') + JSON.stringify(final);
    expect(all).not.toContain('MIGHAgEAMBMG');
    expect(all).toContain('[private key removed]');
    expect(lines.find((l) => l.text.startsWith('device said'))?.step).toBe('a');
  });

  it('escapes control characters in everything a job shows: log lines (one per line break), details, facts, questions, the error', async () => {
    const q = new JobQueue();
    const lines: JobLogLine[] = [];
    q.onLog((l) => lines.push(l));
    const hostile = 'ok\x1b[2J\x1b]0;pwned\x07\rDONE\u202egnp.exe\u009b1A';
    const escaped = 'ok\\x1b[2J\\x1b]0;pwned\\x07\\rDONE\\u202egnp.exe\\x9b1A';
    const id = q.submit(
      def('/dev/e', async (ctx) => {
        await ctx.step('a', async (s) => {
          s.log(`[device] ${hostile}\r\n[online] forged line`);
          s.progress(0.5, hostile);
          s.detail(hostile);
          ctx.update({ mac: hostile, facts: { firmware: hostile } });
          await ctx.ask({ kind: 'manual-boot', message: hostile, facts: { port: hostile }, choices: ['ready'] });
        });
        await ctx.step('b', async () => {
          throw new JobFailure('REMOTE_COMMAND_FAILED', `install.sh said: ${hostile}\nsecond line`, { where: hostile, attachment: { label: hostile, text: `${hostile}\r\nnext` } });
        });
      }),
    );
    const asked = await new Promise<JobSnapshot>((resolve) => {
      const off = q.onUpdate((s) => {
        if (s.id === id && s.question) {
          off();
          resolve(s);
        }
      });
    });
    expect(asked.question).toMatchObject({ message: escaped, facts: { port: escaped } });
    expect(asked.steps[0]!.detail).toBe(escaped);
    q.answer(id, asked.question!.id, 'ready');
    const final = await q.wait(id);
    const texts = lines.map((l) => l.text);
    const at = texts.indexOf(`[device] ${escaped}`);
    expect(at).toBeGreaterThan(-1);
    expect(lines[at + 1]).toMatchObject({ text: '[online] forged line', step: 'a' });
    expect(final.mac).toBe(escaped);
    expect(final.facts).toEqual({ firmware: escaped });
    expect(final.error).toMatchObject({
      code: 'REMOTE_COMMAND_FAILED',
      message: `install.sh said: ${escaped}\nsecond line`,
      where: `b: ${escaped}`,
      attachment: { label: escaped, text: `${escaped}\nnext` },
    });
    for (const l of lines) expect(controlChars(l.text)).toEqual([]);
    expect(controlChars(JSON.stringify(final))).toEqual([]);
  });
});
