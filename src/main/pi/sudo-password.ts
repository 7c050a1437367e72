import { localText } from '../../shared/local-text.js';
import { JobFailure } from '../jobs/job-failure.js';
import type { JobContext, StepHandle } from '../jobs/types.js';
import { checkSudoPassword, type RemoteShell } from './remote-shell.js';
import type { SshTarget } from './ssh-session.js';

export interface SudoPasswordOptions {
  target: SshTarget;
  /** The password known up front (tried first). */
  given?: string;
  /** Whether the operator may be asked (a secret question); headless runs without anyone to answer say no. */
  mayAsk: boolean;
}

/**
 * For a user whose sudo needs a password: try the one given, else ask the operator (up to three
 * tries), check it with sudo itself, and hand it to the shell for privileged commands. The password
 * reaches only the shell (never a log, snapshot or event).
 */
export async function establishSudoPassword(ctx: JobContext, step: StepHandle, shell: RemoteShell, o: SudoPasswordOptions): Promise<void> {
  const { target } = o;
  const who = { host: target.host, user: target.username };
  let password = o.given;
  for (let attempt = 0; attempt < 3; attempt++) {
    if (password === undefined) {
      if (!o.mayAsk) {
        if (attempt > 0) break;
        throw new JobFailure('SUDO_PASSWORD_REQUIRED', `sudo on ${target.host} needs the password of ${target.username} and none was given.`, {
          hint: 'Give it with --sudo-password-env VAR, or log in as a user whose sudo needs no password.',
          text: localText('core:pi.error.sudoNeeded', who),
        });
      }
      const answer = await ctx.askSecret({
        kind: 'sudo-password',
        message: `sudo on ${target.host} needs the password of ${target.username}.`,
        text: localText('core:pi.question.sudo', who),
        facts: { host: target.host, user: target.username },
        choices: ['submit', 'cancel'],
      });
      const none = { text: localText('core:pi.error.sudoNeeded', who) };
      if (answer.choice !== 'submit') throw new JobFailure('SUDO_PASSWORD_REQUIRED', `sudo on ${target.host} needs a password and none was given.`, none);
      if (!answer.secret) throw new JobFailure('SUDO_PASSWORD_REQUIRED', 'The sudo password question was answered without a password.', none);
      password = answer.secret.reveal();
    }
    const verdict = await checkSudoPassword(shell.session, password, step.signal);
    if (verdict === 'ok') {
      shell.setPrivilege({ kind: 'sudo-password', password });
      step.log('sudo password accepted');
      return;
    }
    if (verdict === 'not-allowed') {
      throw new JobFailure('REMOTE_COMMAND_FAILED', `${target.username} may not use sudo on ${target.host}.`, {
        hint: 'Log in as a user with sudo rights, or as root.',
        text: localText('core:pi.error.sudoNotAllowed', who),
        hintText: localText('core:pi.error.needsRootHint'),
      });
    }
    step.log('the sudo password was refused', 'warn');
    password = undefined;
  }
  throw new JobFailure('SUDO_PASSWORD_REQUIRED', `sudo on ${target.host} refused the password of ${target.username}.`, {
    hint: 'Check the password of this user on the Pi and retry.',
    text: localText('core:pi.error.sudoRefused', who),
    hintText: localText('core:pi.error.sudoRefusedHint'),
  });
}
