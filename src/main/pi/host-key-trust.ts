import { JobFailure } from '../jobs/job-failure.js';
import type { JobContext, StepHandle } from '../jobs/types.js';
import type { HostKeyStore } from './host-key-store.js';
import { HostKeyRefused, SshSession, type SshTarget } from './ssh-session.js';

/** First contact with a host: ask the operator (UI), pin it (trust on first use), or refuse. */
export type PiHostKeyPolicy = 'ask' | 'accept-new' | 'known';

export interface TrustOptions {
  target: SshTarget;
  hostKeys: HostKeyStore;
  policy: PiHostKeyPolicy;
  /** Accept exactly this host key (`SHA256:...`, compared by the operator) on first contact. */
  expectedHostKey?: string;
}

/**
 * The connect step: an SSH session to a host whose key is pinned, expected, or — on first contact
 * with the `ask` policy — accepted by the operator after comparing its fingerprint with the Pi's.
 */
export async function connectTrusted(ctx: JobContext, step: StepHandle, o: TrustOptions): Promise<SshSession> {
  const { target, hostKeys, policy } = o;
  step.detail(`${target.username}@${target.host}:${target.port} (${target.auth.method})`);
  const connect = (p: Parameters<typeof SshSession.connect>[1]['policy']): Promise<SshSession> =>
    SshSession.connect(target, { hostKeys, policy: p, signal: step.signal });
  let session: SshSession;
  const pinnedBefore = await hostKeys.get(target.host, target.port);
  if (o.expectedHostKey) {
    session = await connect({ mode: 'expect', fingerprint: o.expectedHostKey });
  } else if (policy !== 'ask') {
    session = await connect({ mode: policy });
  } else {
    try {
      session = await connect({ mode: 'known' });
    } catch (err) {
      if (!(err instanceof HostKeyRefused) || err.refusal.status !== 'unknown') throw err;
      const { keyType, fingerprint } = err.refusal;
      const choice = await ctx.ask({
        kind: 'host-key',
        message: `First connection to ${target.host}:${target.port}. Its SSH host key is ${keyType} ${fingerprint}. Compare it with the Pi (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) before accepting.`,
        facts: { host: `${target.host}:${target.port}`, keyType, fingerprint },
        choices: ['accept', 'reject'],
      });
      if (choice !== 'accept') {
        throw new JobFailure('SSH_HOST_KEY_UNKNOWN', `The operator did not accept the host key of ${target.host}:${target.port} (${fingerprint}).`);
      }
      session = await connect({ mode: 'expect', fingerprint });
    }
  }
  if (!pinnedBefore) step.log(`host key ${session.hostKey.keyType} ${session.hostKey.fingerprint} pinned (first use)`);
  ctx.update({ facts: { hostKey: `${session.hostKey.keyType} ${session.hostKey.fingerprint}` } });
  step.detail(`${target.username}@${target.host}:${target.port}, host key ${session.hostKey.fingerprint}`);
  return session;
}
