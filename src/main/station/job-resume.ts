import { z } from 'zod';
import { readFileIfExists, writeFileAtomic } from '@tds/server/util';

/**
 * What a retry of a job needs when its definition (in memory) is gone because the station core
 * restarted: which device, which profile, which gateway code — never a secret. A Pi job's SSH
 * password or key is not kept, so its retry asks for them again.
 */
export const ResumeSpecSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('esp32'),
    deviceId: z.string().min(1),
    devicePath: z.string().min(1),
    profile: z.string().min(1),
    /** A scanned code used as the template; null = the profile's template. */
    gatewayCode: z.string().nullable(),
  }),
  z.object({
    kind: z.literal('pi'),
    targetId: z.string().min(1),
    profile: z.string().min(1),
    username: z.string().min(1),
    auth: z.enum(['password', 'key', 'agent']),
    gatewayCode: z.string().nullable(),
  }),
]);
export type ResumeSpec = z.infer<typeof ResumeSpecSchema>;

const FileSchema = z.object({ version: z.literal(1), jobs: z.record(z.string(), ResumeSpecSchema) });

/**
 * The resume specs of the jobs that have not finished, in one 0600 file of the data folder, written
 * atomically after every change (changes made while a write runs are written together next).
 */
export class ResumeFile {
  private readonly jobs = new Map<string, ResumeSpec>();
  private writing: Promise<void> | undefined;
  private dirty = false;

  constructor(
    readonly file: string,
    private readonly log: (line: string) => void = (l) => console.error(l),
  ) {}

  /** Reads what a previous core left; a damaged file is reported and treated as empty. */
  async load(): Promise<Map<string, ResumeSpec>> {
    const text = await readFileIfExists(this.file);
    if (text === undefined) return new Map();
    try {
      const parsed = FileSchema.parse(JSON.parse(text));
      for (const [id, spec] of Object.entries(parsed.jobs)) this.jobs.set(id, spec);
    } catch (err) {
      this.log(`[station] ${this.file} is damaged (${err instanceof Error ? err.message : String(err)}); interrupted jobs found in it cannot be retried, start them again`);
    }
    return new Map(this.jobs);
  }

  put(jobId: string, spec: ResumeSpec): void {
    this.jobs.set(jobId, spec);
    this.schedule();
  }

  remove(jobId: string): void {
    if (this.jobs.delete(jobId)) this.schedule();
  }

  /** Resolves when everything changed so far is on disk. */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private schedule(): void {
    this.dirty = true;
    if (this.writing) return;
    this.writing = (async () => {
      while (this.dirty) {
        this.dirty = false;
        const body = JSON.stringify({ version: 1, jobs: Object.fromEntries(this.jobs) });
        await writeFileAtomic(this.file, body, 0o600).catch((err: unknown) => {
          this.log(`[station] cannot write ${this.file}: ${err instanceof Error ? err.message : String(err)}`);
        });
      }
    })().finally(() => {
      this.writing = undefined;
    });
  }
}
