import { stat } from 'node:fs/promises';
import type { ValidRequestOf } from '../../shared/ipc.js';
import { StationError } from '../../shared/ipc-errors.js';
import { V, type FieldIssue } from '../../shared/validation.js';
import { SECRET, type SecretStore } from '../settings/secret-store.js';
import { loadBundleFor } from './bench.js';
import { checkBrokerAnswers, type BrokerAnswer } from './broker-check.js';

type SaveRequest = ValidRequestOf<'profiles.save'>;

export interface ProfileCheckDeps {
  secrets: SecretStore;
  /** Replaceable in tests; default: a TLS handshake with the broker (broker-check.ts). */
  brokerAnswers?: (host: string, port: number) => Promise<BrokerAnswer>;
}

/**
 * What the form's schema cannot know and a profile needs to work, checked by the core before it is
 * saved: the firmware bundle is there and loads, the Wi-Fi has a password unless marked open, and
 * the broker answers. Every problem comes back at once, each under its field.
 */
export async function checkProfileWorks(req: SaveRequest, deps: ProfileCheckDeps): Promise<void> {
  const { profile, previousName } = req;
  const issues: FieldIssue[] = [];
  const add = (field: string, key: string, message: string, params?: Record<string, string | number>): void => {
    issues.push({ field: `profile.${field}`, key, message, ...(params ? { params } : {}) });
  };
  const esp = profile.esp32;
  const checks: Promise<void>[] = [];
  if (esp) {
    checks.push(
      (async () => {
        const found = await stat(esp.bundlePath).then(
          () => true,
          () => false,
        );
        if (!found) return add('esp32.bundlePath', V.bundleMissing, `There is no file or folder at ${esp.bundlePath} on the station.`);
        try {
          await loadBundleFor(esp.bundlePath);
        } catch (err) {
          const reason = err instanceof Error ? err.message : String(err);
          add('esp32.bundlePath', V.bundleUnreadable, `This is not a firmware bundle the station can use: ${reason}`, { reason });
        }
      })(),
    );
    if (!esp.wifiOpen) {
      checks.push(
        (async () => {
          if (esp.wifiPassword) return;
          const stored = esp.wifiPassword === undefined ? await deps.secrets.get(SECRET.wifiPassword(previousName ?? profile.name)) : undefined;
          if (!stored) add('esp32.wifiPassword', V.wifiPasswordNeeded, 'Type the Wi-Fi password, or tick “Open network” if it has none.');
        })(),
      );
    }
  }
  checks.push(
    (async () => {
      const answer = await (deps.brokerAnswers ?? checkBrokerAnswers)(profile.brokerHost, profile.brokerPort);
      if (!answer.ok) {
        const params = { host: profile.brokerHost, port: profile.brokerPort, reason: answer.reason };
        add('brokerHost', V.brokerUnreachable, `Nothing answered at ${profile.brokerHost}:${profile.brokerPort} (${answer.reason}). Check the address and port, and that the broker runs.`, params);
      }
    })(),
  );
  await Promise.all(checks);
  if (issues.length === 0) return;
  // Fields in the form's order, so the first one focused is the first one on screen.
  const order = ['profile.codeTemplate', 'profile.brokerHost', 'profile.esp32.bundlePath', 'profile.esp32.wifiPassword'];
  issues.sort((a, b) => order.indexOf(a.field) - order.indexOf(b.field));
  throw new StationError('INVALID_INPUT', issues.map((i) => i.message).join(' '), { issues });
}

/** "Test the broker" on the profile form: the same check, as an answer or a field error. */
export async function testBroker(host: string, port: number, answers: ProfileCheckDeps['brokerAnswers'] = checkBrokerAnswers): Promise<{ ok: true; detail: string }> {
  const answer = await answers(host, port);
  if (answer.ok) return { ok: true, detail: `${host}:${port} answers: ${answer.detail}` };
  const message = `Nothing answered at ${host}:${port} (${answer.reason}). Check the address and port, and that the broker runs.`;
  throw new StationError('INVALID_INPUT', message, { issues: [{ field: 'brokerHost', key: V.brokerUnreachable, message, params: { host, port, reason: answer.reason } }] });
}
