/**
 * Health endpoints, outside the versioned API so load balancers and monitors need no token:
 * `GET /healthz` — the process is up, its version, and its scheduled jobs (renewal sweep, CRL
 * re-sign): last run, its result, next run. `status` is "degraded" while a job's last run failed
 * (the answer is still 200: the server itself serves). Nothing secret: times and results only.
 * Not rate-limited (a load balancer polls it) and answered while the database is away (the
 * scheduler's last known runs): readiness to take traffic is `/readyz` (api/readiness.ts).
 */
import type { FastifyInstance } from 'fastify';
import type { HealthzResponse } from '../contract/api.js';
import type { JobStatus } from '../service/scheduler.js';
import type { ScheduledJob } from '../store/repository.js';

export interface HealthDeps {
  version: string;
  /** The scheduled jobs' state (serve's scheduler; jobs run by a systemd timer show their last run, no next run). */
  schedule(): Promise<Record<ScheduledJob, JobStatus>>;
}

export type HealthResponse = HealthzResponse;

export function registerHealthRoutes(app: FastifyInstance, deps: HealthDeps): void {
  app.get('/healthz', async (): Promise<HealthResponse> => {
    const jobs = await deps.schedule();
    const schedule = Object.fromEntries(
      Object.entries(jobs).map(([job, j]) => [job, { enabled: j.enabled, lastRun: j.lastRun, lastResult: j.lastResult, nextRun: j.nextRun }]),
    ) as HealthResponse['schedule'];
    const degraded = Object.values(jobs).some((j) => j.lastResult === 'error');
    return { status: degraded ? 'degraded' : 'ok', version: deps.version, schedule };
  });
}
