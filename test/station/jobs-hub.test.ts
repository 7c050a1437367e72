import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { JobQueue, type JobDefinition } from '../../src/main/jobs/index.js';
import { StationLog } from '../../src/main/log/index.js';
import { StationEventBus } from '../../src/main/station/dispatch.js';
import { identityMemoryFor, ResumeFile, type ResumeSpec } from '../../src/main/station/job-resume.js';
import { JobsHub } from '../../src/main/station/jobs-hub.js';
import { LogView } from '../../src/main/station/log-view.js';
import { controlChars } from '../support/control-chars.js';
import { tempDir } from '../support/temp.js';

const dirs: Array<{ remove(): void }> = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.remove();
});

const quick = (target: string): JobDefinition => ({ kind: 'esp32', target, steps: [{ name: 'a' }], run: async (ctx) => ctx.step('a', async () => undefined) });

describe('JobsHub', () => {
  it('drops old finished jobs from the live screens (job.removed) while the station log and the Log screen keep them', async () => {
    const dir = tempDir('tds-hub-');
    dirs.push(dir);
    const log = StationLog.open(path.join(dir.path, 'station-log.sqlite'), { stationId: 'hub-test' });
    const bus = new StationEventBus();
    const events: Array<{ event: string; payload: unknown }> = [];
    bus.subscribe((event, payload) => events.push({ event, payload }));
    const queue = new JobQueue({ keepFinished: 2 });
    const hub = new JobsHub(queue, log, bus);
    try {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        ids.push(hub.submit(quick(`/dev/${i}`)));
        await queue.wait(ids[i]!);
      }
      // A job hidden with "clear finished" before it is dropped is not announced twice.
      hub.clearFinished();
      const hidden = events.filter((e) => e.event === 'job.removed').map((e) => (e.payload as { jobId: string }).jobId);
      expect(hidden.slice(0, 3)).toEqual(ids.slice(0, 3));
      expect(hidden.slice(3).sort()).toEqual(ids.slice(3).sort());
      expect(hub.list()).toEqual([]);
      ids.push(hub.submit(quick('/dev/5')));
      await queue.wait(ids[5]!);
      expect(events.filter((e) => e.event === 'job.removed')).toHaveLength(5);
      expect(hub.list().map((j) => j.id)).toEqual([ids[5]]);
      expect(() => hub.get(ids[0]!)).toThrow(/no job/);
      // History stays in the station log; the Log screen counts it without reading every row.
      const view = new LogView(log);
      expect(log.get(ids[0]!)?.result).toBe('succeeded');
      const page = view.query({ limit: 2, offset: 0 });
      expect(page.rows).toHaveLength(2);
      expect(page.total).toBe(6);
      expect(view.query({ limit: 2, offset: 4, result: 'succeeded' }).total).toBe(6);
    } finally {
      hub.close();
      await queue.shutdown();
      log.close();
    }
  });

  it('keeps what a running job learns about its certificates in its resume spec on disk, for a retry by a later core; a retry in this core goes on from it', async () => {
    const dir = tempDir('tds-hub-');
    dirs.push(dir);
    const log = StationLog.open(path.join(dir.path, 'station-log.sqlite'), { stationId: 'hub-test' });
    const queue = new JobQueue();
    const file = new ResumeFile(path.join(dir.path, 'jobs-in-flight.json'));
    const hub = new JobsHub(queue, log, new StationEventBus(), file);
    const onDisk = async (): Promise<Record<string, ResumeSpec>> => {
      await file.flush();
      return (JSON.parse(readFileSync(file.file, 'utf8')) as { jobs: Record<string, ResumeSpec> }).jobs;
    };
    // A job like the real ones: each attempt gets a certificate; the first never reaches the device.
    const spec: ResumeSpec = { kind: 'esp32', deviceId: 'sim-1', devicePath: '/dev/ttyUSB0', profile: 'line', gatewayCode: null };
    const memory = identityMemoryFor(spec, (s) => hub.specChanged(s));
    let attempt = 0;
    let release: () => void = () => undefined;
    const definition: JobDefinition = {
      kind: 'esp32',
      target: '/dev/ttyUSB0',
      steps: [{ name: 'certificate' }],
      run: (ctx) =>
        ctx.step('certificate', async () => {
          attempt++;
          memory.issued(`0${attempt}`);
          await new Promise<void>((resolve) => (release = resolve));
          if (attempt === 1) throw new Error('the flash failed');
          memory.installed(`0${attempt}`);
        }),
    };
    try {
      const first = hub.submit(definition, spec);
      await expect.poll(() => attempt).toBe(1);
      expect(await onDisk()).toEqual({ [first]: { ...spec, identities: { issuedNotInstalled: ['01'], approvedReplacements: [] } } });
      release();
      expect((await queue.wait(first)).state).toBe('failed');
      expect(await onDisk()).toEqual({});

      const retry = await hub.retry(first);
      await expect.poll(() => attempt).toBe(2);
      // The retry's spec holds the first attempt's certificate too: a core restarted now still replaces it without asking.
      expect(await onDisk()).toEqual({ [retry]: { ...spec, identities: { issuedNotInstalled: ['01', '02'], approvedReplacements: [] } } });
      release();
      expect((await queue.wait(retry)).state).toBe('succeeded');
      expect(await onDisk()).toEqual({});
      expect(spec.identities).toEqual({ issuedNotInstalled: ['01'], approvedReplacements: [] });
    } finally {
      release();
      hub.close();
      await queue.shutdown();
      await file.flush();
      log.close();
    }
  });
});

describe('ResumeFile', () => {
  it('reports a damaged file with its quoted text escaped, and treats it as empty', async () => {
    const dir = tempDir('tds-resume-');
    dirs.push(dir);
    const file = path.join(dir.path, 'jobs-in-flight.json');
    writeFileSync(file, '\x1b[2J\u202e{', { mode: 0o600 });
    const lines: string[] = [];
    expect(await new ResumeFile(file, (l) => lines.push(l)).load()).toEqual(new Map());
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('is damaged');
    expect(controlChars(lines[0]!)).toEqual([]);
    expect(lines[0]).toContain('\\x1b[2J');
  });
});
