import { execFileSync } from 'node:child_process';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { forkLauncher } from '../../src/main/core/fork-launcher.js';
import { CoreSupervisor, type CoreLauncher, type SupervisorOptions } from '../../src/main/core/supervisor.js';
import type { CoreStatus } from '../../src/shared/views.js';
import { controlChars } from '../support/control-chars.js';
import { isAlive } from '../support/processes.js';
import { NO_DEVICES } from '../support/station-core.js';
import { tempDir } from '../support/temp.js';

/** Processes whose parent is this one (the test worker), but the `ps` asking: a stopped supervisor must leave none. */
function children(): number[] {
  const out = execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(process.pid)], { encoding: 'utf8' }).trim();
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter(([pid, comm]) => pid && comm !== 'ps')
    .map(([pid]) => Number(pid));
}

async function until<T>(what: string, fn: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

// The supervisor against the real station core in a real child process (web mode's launcher):
// faults are made the way they happen, from outside — SIGKILL for a crash, SIGSTOP for a core whose
// event loop no longer runs.
describe('core supervisor (real core, real child processes)', () => {
  const tmp = tempDir('tds-supervisor-');
  const started: CoreSupervisor[] = [];
  const spawns: Array<{ at: number; pid: number | undefined }> = [];
  const launch: CoreLauncher = () => {
    const p = forkLauncher()();
    spawns.push({ at: Date.now(), pid: p.pid });
    return p;
  };

  async function start(dir: string, extra: Partial<SupervisorOptions> = {}): Promise<{ s: CoreSupervisor; statuses: Array<CoreStatus & { seenAt: number }> }> {
    const s = await CoreSupervisor.start({
      launch,
      config: { dataDir: dir, shell: 'web', version: 'test', bundledServer: false, discovery: 'none', ...NO_DEVICES },
      keychain: null,
      log: () => undefined,
      heartbeatMs: 200,
      hangAfterMs: 1500,
      backoff: { firstMs: 300, maxMs: 1200, stableMs: 60_000 },
      ...extra,
    });
    started.push(s);
    const statuses: Array<CoreStatus & { seenAt: number }> = [];
    s.subscribe((ev, p) => {
      if (ev === 'core.status') statuses.push({ ...(p as CoreStatus), seenAt: Date.now() });
    });
    return { s, statuses };
  }

  afterEach(async () => {
    await Promise.all(started.splice(0).map((s) => s.close()));
  });
  afterAll(() => tmp.remove());

  it('relays the contract unchanged, and a clean shutdown leaves no process', async () => {
    const { s } = await start(`${tmp.path}/a`);
    const pid = s.pid!;
    expect(isAlive(pid)).toBe(true);
    expect(children()).toContain(pid);
    expect(await s.call('app.info', undefined)).toMatchObject({ ok: true, value: { shell: 'web', dataDir: `${tmp.path}/a` } });
    expect(await s.call('settings.update', { stationId: 'Not Valid!' })).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT', issues: [{ field: 'stationId' }] } });
    expect(await s.call('nope', {})).toMatchObject({ ok: false, error: { code: 'UNKNOWN_CHANNEL' } });
    await s.close();
    expect(isAlive(pid)).toBe(false);
    expect(children()).not.toContain(pid);
    expect(s.status().state).toBe('stopped');
    expect(await s.call('app.info', undefined)).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
  }, 60_000);

  it('restarts a crashed core (SIGKILL); a request made meanwhile waits and is answered by the new core', async () => {
    const { s, statuses } = await start(`${tmp.path}/b`);
    const first = s.pid!;
    process.kill(first, 'SIGKILL');
    await until('the restarting status', () => statuses.find((x) => x.state === 'restarting'));
    expect(statuses[0]).toMatchObject({ state: 'restarting', restarts: 1, lastExit: { reason: 'crash', signal: 'SIGKILL', message: 'the station core was killed by signal SIGKILL' } });
    // Asked while no core runs: answered once the new one is up.
    const answer = await s.call('app.info', undefined);
    expect(answer).toMatchObject({ ok: true, value: { shell: 'web' } });
    const second = s.pid!;
    expect(second).not.toBe(first);
    expect(isAlive(first)).toBe(false);
    expect(statuses.at(-1)).toMatchObject({ state: 'running', restarts: 1, interruptedJobs: 0 });
  }, 60_000);

  it('detects a hang by its missing heartbeat (SIGSTOP), kills the core, fails the request it held, and restarts it', async () => {
    const { s, statuses } = await start(`${tmp.path}/c`);
    const first = s.pid!;
    process.kill(first, 'SIGSTOP');
    const stopped = Date.now();
    // The core cannot answer: the request is in flight when the core is killed.
    const held = await s.call('app.info', undefined);
    expect(held).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE', message: 'the station core stopped while handling this request' } });
    const restarting = await until('the restarting status', () => statuses.find((x) => x.state === 'restarting'));
    // Silent for longer than the limit (1.5 s), not much longer (beats every 200 ms, checked as often).
    expect(restarting.seenAt - stopped).toBeGreaterThanOrEqual(1500);
    expect(restarting.seenAt - stopped).toBeLessThan(6000);
    expect(restarting.lastExit).toMatchObject({ reason: 'hang', message: expect.stringContaining('stopped answering') });
    await until('the new core', () => statuses.find((x) => x.state === 'running'));
    expect(isAlive(first)).toBe(false);
    expect(await s.call('app.info', undefined)).toMatchObject({ ok: true });
  }, 60_000);

  it('backs off between restarts of a core that keeps crashing (0.3 s, 0.6 s, 1.2 s, capped)', async () => {
    const { s, statuses } = await start(`${tmp.path}/d`);
    const delays: number[] = [];
    for (let i = 1; i <= 4; i++) {
      const spawnsBefore = spawns.length;
      const pid = s.pid!;
      process.kill(pid, 'SIGKILL');
      const exitSeen = (await until(`restart ${i}`, () => statuses.filter((x) => x.state === 'restarting')[i - 1])).seenAt;
      await until(`core ${i + 1}`, () => statuses.filter((x) => x.state === 'running')[i - 1]);
      delays.push(spawns[spawnsBefore]!.at - exitSeen);
    }
    // Each delay is at least the back-off, and the back-off doubles up to its cap.
    const expected = [300, 600, 1200, 1200];
    delays.forEach((d, i) => {
      expect(d, `restart ${i + 1}`).toBeGreaterThanOrEqual(expected[i]! - 20);
      expect(d, `restart ${i + 1}`).toBeLessThan(expected[i]! + 1000);
    });
    expect(s.status()).toMatchObject({ state: 'running', restarts: 4 });
  }, 90_000);

  it('reports a core that cannot start with the core\'s own reason (escaped), and leaves no process', async () => {
    const before = children();
    const lines: string[] = [];
    const err = await CoreSupervisor.start({
      launch,
      // A data folder under a file cannot be created: the core says so and exits. Its name carries a
      // terminal escape and a right-to-left override, which the reason quotes.
      config: { dataDir: '/dev/null/station\x1b[2J\u202e', shell: 'web', version: 'test', bundledServer: false, discovery: 'none', ...NO_DEVICES },
      keychain: null,
      log: (l) => lines.push(l),
    }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/ENOTDIR|not a directory/i);
    for (const text of [err!.message, ...lines]) expect(controlChars(text, { allowLf: true })).toEqual([]);
    expect(err!.message).toContain('station\\x1b[2J\\u202e');
    expect(lines).toContainEqual(expect.stringContaining('the core could not start'));
    expect(lines.join('\n')).toContain('station\\x1b[2J\\u202e');
    await until('the failed core to be gone', () => (children().every((p) => before.includes(p)) ? true : undefined), 10_000);
  }, 60_000);
});
