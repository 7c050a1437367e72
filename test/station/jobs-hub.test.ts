import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { JobQueue, type JobDefinition } from '../../src/main/jobs/index.js';
import { StationLog } from '../../src/main/log/index.js';
import { StationEventBus } from '../../src/main/station/dispatch.js';
import { JobsHub } from '../../src/main/station/jobs-hub.js';
import { LogView } from '../../src/main/station/log-view.js';
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
});
