import { z } from 'zod';
import { readFileIfExists, writeFileAtomic } from '@tds/server/util';
import { IdentityMemory } from '../certs/device-identity.js';
import { safeLine } from '../log/safe-text.js';

const Serials = z.array(z.string().min(1).max(128)).max(1000);

/**
 * What the job knew about its certificates (serial numbers only): one that never reached the device
 * is replaced by the retry without asking, as a retry in the same core does.
 */
const IdentitiesSchema = z.object({ issuedNotInstalled: Serials, approvedReplacements: Serials });

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
    identities: IdentitiesSchema.optional(),
  }),
  z.object({
    kind: z.literal('pi'),
    targetId: z.string().min(1),
    profile: z.string().min(1),
    username: z.string().min(1),
    auth: z.enum(['password', 'key', 'keyFile', 'agent']),
    /** The key file's path (its content is read again; a passphrase is never kept). */
    keyFile: z.string().nullable().optional(),
    keyFilePassphrase: z.boolean().optional(),
    waitForBoot: z.boolean().optional(),
    gatewayCode: z.string().nullable(),
    identities: IdentitiesSchema.optional(),
  }),
]);
export type ResumeSpec = z.infer<typeof ResumeSpecSchema>;

/**
 * The identity memory of a job built from `spec`: it starts from what the spec kept and writes every
 * change back into the spec, then calls `changed` (which keeps the spec on disk while the job runs).
 */
export function identityMemoryFor(spec: ResumeSpec, changed: (spec: ResumeSpec) => void): IdentityMemory {
  return new IdentityMemory(spec.identities, (state) => {
    spec.identities = state;
    changed(spec);
  });
}

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
      // A parse error quotes the file's text: escaped before it reaches the terminal.
      this.log(safeLine(`[station] ${this.file} is damaged (${err instanceof Error ? err.message : String(err)}); interrupted jobs found in it cannot be retried, start them again`));
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
