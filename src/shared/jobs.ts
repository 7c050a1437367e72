import type { JobError } from './errors.js';
import type { LocalText } from './local-text.js';

/** Kinds of job the station runs: provisioning an ESP32 or a Pi, and looking at a Pi without changing it. */
export type JobKind = 'esp32' | 'pi' | 'pi-probe';

/** The kinds that give a device an identity (what the day's figures count). */
export const PROVISIONING_KINDS: readonly JobKind[] = ['esp32', 'pi'];

/**
 * `skipped`: the job stopped on purpose without changing the device (the operator answered "stop",
 * e.g. to "this MAC is already provisioned"); not a failure.
 */
export type JobState = 'queued' | 'running' | 'waiting-input' | 'succeeded' | 'failed' | 'cancelled' | 'skipped';

/** The states a job ends in. */
export const FINISHED_STATES = ['succeeded', 'failed', 'cancelled', 'skipped'] as const;
export type FinishedState = (typeof FINISHED_STATES)[number];

export function isFinishedState(state: string): state is FinishedState {
  return (FINISHED_STATES as readonly string[]).includes(state);
}

export type StepStatus = 'pending' | 'running' | 'done' | 'failed' | 'skipped';

export interface StepSnapshot {
  name: string;
  status: StepStatus;
  startedAt?: string;
  endedAt?: string;
  /** Fraction 0..1 of this step, when it reports progress (flashing, uploads). */
  progress?: number;
  detail?: string;
  /** `detail` for the renderer to translate (when the step gave one). */
  detailText?: LocalText;
  /** Time this step spent waiting for the operator's answer (ms): not part of its working time. */
  waitedMs?: number;
}

/** Working time of a step or job: from start to end, less the time it waited for the operator. */
export function workingMs(startedAt: string | null | undefined, endedAt: string | null | undefined, waitedMs?: number | null): number | null {
  if (!startedAt || !endedAt) return null;
  return Math.max(0, Date.parse(endedAt) - Date.parse(startedAt) - (waitedMs ?? 0));
}

/** A question a running job asks the operator (re-provision an active MAC, host key, sudo password). */
export interface JobQuestion {
  id: string;
  kind: 'reprovision' | 'host-key' | 'sudo-password' | 'manual-boot';
  message: string;
  /** `message` for the renderer to translate (when the job gave one). */
  text?: LocalText;
  /** Machine-readable facts for the UI (existing serial, fingerprint, ...). */
  facts?: Record<string, string>;
  choices: string[];
  /**
   * The answer may carry a secret the operator types (a password): the UI shows a masked field and
   * sends it beside the choice; it goes to the asking step only, never into a snapshot, event or log.
   */
  secret?: boolean;
}

export interface JobSnapshot {
  id: string;
  kind: JobKind;
  /** Serial port path or `host:port`. */
  target: string;
  state: JobState;
  /** Overall fraction 0..1. */
  progress: number;
  steps: StepSnapshot[];
  mac?: string;
  gatewayCode?: string;
  gatewayId?: number;
  certificateSerial?: string;
  certificateExpiresAt?: string;
  firmware?: { name: string; version: string; sha256: string };
  question?: JobQuestion;
  error?: JobError;
  /** Who ran it (profile operator or OS user). */
  operator?: string;
  /** The server account (`conta_id` on the wire) the gateway belongs to. */
  accountId?: number;
  /** Issuance server base URL. */
  serverUrl?: string;
  /** Id of the job this one retries. */
  retryOf?: string;
  /** Short facts found on the way (chip, flash size, crystal, ...), shown by the UI. */
  facts?: Record<string, string>;
  createdAt: string;
  startedAt?: string;
  endedAt?: string;
  /** Time the job waited for the operator's answers (ms), in steps or between them. */
  waitedMs?: number;
}
