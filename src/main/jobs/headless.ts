import type { JobQuestion, JobSnapshot } from '../../shared/jobs.js';
import type { StationLog } from '../log/station-log.js';
import { JobQueue } from './queue.js';
import type { JobDefinition, JobLogLine } from './types.js';

export interface HeadlessRunOptions {
  jobs: JobDefinition[];
  /** Jobs at once (default: all of them). */
  concurrency?: number;
  /** Records every job (the CLI's station log). */
  log?: StationLog;
  /** Answers a question a job asks (terminal prompt). Without it a question cancels the job rather than hang. */
  answer?: (job: JobSnapshot, question: JobQuestion) => Promise<string>;
  onUpdate?: (s: JobSnapshot) => void;
  onLog?: (l: JobLogLine) => void;
  /** Aborting cancels every job (Ctrl+C). */
  signal?: AbortSignal;
}

/**
 * The one headless runner (`tds-station esp32 provision`, `tds-station pi provision`): the jobs on
 * their own queue, recorded in the station log, questions sent to `answer`, cancelled together on
 * `signal`. Resolves with the final snapshots in submission order.
 */
export async function runHeadless(options: HeadlessRunOptions): Promise<JobSnapshot[]> {
  const queue = new JobQueue({ concurrency: options.concurrency ?? Math.max(1, options.jobs.length) });
  const offLog = options.log?.attach(queue);
  // A waiting job's snapshot repeats while it waits: ask each question once.
  const asked = new Set<string>();
  const offUpdate = queue.onUpdate((s) => {
    options.onUpdate?.(s);
    const q = s.question;
    if (s.state !== 'waiting-input' || !q || asked.has(q.id)) return;
    asked.add(q.id);
    void (options.answer ? options.answer(s, q) : Promise.reject(new Error('nobody to answer')))
      .then((choice) => queue.answer(s.id, q.id, choice))
      .catch(() => {
        if (queue.get(s.id)) queue.cancel(s.id);
      });
  });
  const offLines = options.onLog ? queue.onLog(options.onLog) : undefined;
  const cancelAll = (): void => {
    for (const j of queue.list()) queue.cancel(j.id);
  };
  options.signal?.addEventListener('abort', cancelAll, { once: true });
  try {
    const ids = options.jobs.map((job) => queue.submit(job));
    return await Promise.all(ids.map((id) => queue.wait(id)));
  } finally {
    options.signal?.removeEventListener('abort', cancelAll);
    offUpdate();
    offLines?.();
    offLog?.();
  }
}
