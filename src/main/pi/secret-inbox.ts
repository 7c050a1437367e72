/**
 * Secrets an operator types while a job waits (the sudo password). The job framework's answers are
 * logged choices, so the secret itself travels beside them: the UI puts it here, then answers the
 * question with the choice `submit`; the job takes it exactly once. Nothing here is persisted.
 */
export type SecretKind = 'sudo-password';

export class SecretInbox {
  private readonly slots = new Map<string, string>();

  private static key(jobId: string, kind: SecretKind): string {
    return `${jobId}\0${kind}`;
  }

  put(jobId: string, kind: SecretKind, value: string): void {
    this.slots.set(SecretInbox.key(jobId, kind), value);
  }

  /** The secret, removed from the inbox; undefined when none was given. */
  take(jobId: string, kind: SecretKind): string | undefined {
    const k = SecretInbox.key(jobId, kind);
    const v = this.slots.get(k);
    this.slots.delete(k);
    return v;
  }

  /** Drops whatever a finished job left behind. */
  clear(jobId: string): void {
    for (const k of [...this.slots.keys()]) if (k.startsWith(`${jobId}\0`)) this.slots.delete(k);
  }
}
