import { localText } from '../../shared/local-text.js';
import { JobFailure } from '../jobs/job-failure.js';
import type { JobContext, StepHandle } from '../jobs/types.js';
import { withConnectRetry, type ConnectRetry } from './connect-retry.js';
import { hostKeyId, type HostKeyStore } from './host-key-store.js';
import { HostKeyRefused, SshSession, type SshTarget } from './ssh-session.js';

/** First contact with a host: ask the operator (UI), pin it (trust on first use), or refuse. */
export type PiHostKeyPolicy = 'ask' | 'accept-new' | 'known';

export interface TrustOptions {
  target: SshTarget;
  hostKeys: HostKeyStore;
  policy: PiHostKeyPolicy;
  /** Accept exactly this host key (`SHA256:...`, compared by the operator) on first contact. */
  expectedHostKey?: string;
  /** How long to keep trying a Pi that does not answer yet (default: a few seconds). */
  retry?: ConnectRetry;
}

/**
 * The connect step: an SSH session to a host whose key is pinned, expected, or — on first contact
 * with the `ask` policy — accepted by the operator after comparing its fingerprint with the Pi's.
 * A Pi that does not answer yet is tried again with growing pauses (connect-retry.ts).
 */
export async function connectTrusted(ctx: JobContext, step: StepHandle, o: TrustOptions): Promise<SshSession> {
  const { target, hostKeys, policy } = o;
  const where = hostKeyId(target.host, target.port);
  const who = { user: target.username, host: target.host, port: target.port };
  step.detail(`${target.username}@${target.host}:${target.port} (${target.auth.method})`, localText('core:pi.detail.connecting', who));
  const retry = o.retry ?? { waitForBoot: false };
  const connect = (p: Parameters<typeof SshSession.connect>[1]['policy']): Promise<SshSession> =>
    withConnectRetry(() => SshSession.connect(target, { hostKeys, policy: p, signal: step.signal }), {
      ...retry,
      host: where,
      signal: step.signal,
      onRetry: ({ attempt, reason, pauseMs, elapsedMs }) => {
        const seconds = Math.round(pauseMs / 100) / 10;
        const elapsed = Math.round(elapsedMs / 1000);
        step.log(`no answer from ${where} (${reason}); attempt ${attempt} failed, trying again in ${seconds} s`, 'warn');
        if (retry.waitForBoot) {
          step.detail(
            `waiting for ${where} to boot (${reason}): attempt ${attempt}, ${elapsed} s so far, next in ${seconds} s`,
            localText('core:pi.detail.waitingForBoot', { host: where, reason, attempt, elapsed, seconds }),
          );
        } else {
          step.detail(`no answer from ${where} (${reason}): attempt ${attempt} failed, trying again in ${seconds} s`, localText('core:pi.detail.retrying', { host: where, reason, attempt, seconds }));
        }
      },
    });
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
      const host = `${target.host}:${target.port}`;
      const choice = await ctx.ask({
        kind: 'host-key',
        message: `First connection to ${host}. Its SSH host key is ${keyType} ${fingerprint}. Compare it with the Pi (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) before accepting.`,
        text: localText('core:pi.question.hostKey', { host, keyType, fingerprint }),
        facts: { host, keyType, fingerprint },
        choices: ['accept', 'reject'],
      });
      if (choice !== 'accept') {
        throw new JobFailure('SSH_HOST_KEY_UNKNOWN', `The operator did not accept the host key of ${host} (${fingerprint}).`, {
          text: localText('core:pi.error.hostKeyRejected', { host, fingerprint }),
        });
      }
      session = await connect({ mode: 'expect', fingerprint });
    }
  }
  if (!pinnedBefore) step.log(`host key ${session.hostKey.keyType} ${session.hostKey.fingerprint} pinned (first use)`);
  ctx.update({ facts: { hostKey: `${session.hostKey.keyType} ${session.hostKey.fingerprint}` } });
  step.detail(`${target.username}@${target.host}:${target.port}, host key ${session.hostKey.fingerprint}`, localText('core:pi.detail.connected', { ...who, fingerprint: session.hostKey.fingerprint }));
  return session;
}
