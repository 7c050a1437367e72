import type { DeviceIdentity, IdentityMemory } from '../certs/device-identity.js';
import { isAbortError } from '../jobs/job-failure.js';
import type { JobContext } from '../jobs/types.js';

/**
 * After a failed or cancelled attempt: a pending certificate is cancelled (the board's previous
 * certificate stays in force); a fresh certificate that never reached the board is left for the
 * retry to replace. `onBoard`: the new certificate was already written to the board.
 */
export async function releaseAfterFailure(ctx: JobContext, identity: DeviceIdentity | undefined, err: unknown, onBoard: boolean, memory: IdentityMemory): Promise<void> {
  if (!identity) return;
  if (identity.pending) {
    await identity.release(ctx, isAbortError(err, ctx.signal) ? 'job cancelled' : 'job failed');
    if (onBoard) ctx.log(`the board was already flashed with certificate ${identity.serial}; run the job again to give it a working identity`, 'warn');
  } else if (memory.issuedNotInstalled.has(identity.serial)) {
    ctx.log(`certificate ${identity.serial} was issued but never reached the board; a retry will replace it`, 'warn');
  }
}
