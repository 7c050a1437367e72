import type { JobKind, JobSnapshot, StepStatus } from './jobs.js';
import type { LocalText } from './local-text.js';

/**
 * What the station core shows the renderer: the views its requests resolve to and its events carry
 * (the channel maps in ipc.ts say which goes where). Plain data, no behaviour.
 */

export const LANGUAGES = ['en', 'pt-BR'] as const;
export type Language = (typeof LANGUAGES)[number];
export type LanguagePref = 'auto' | Language;

/** A file produced by the core for the user to save (CSV, label, ZIP). Bytes as base64. */
export interface FileData {
  fileName: string;
  mime: string;
  base64: string;
}

export interface AppInfo {
  version: string;
  shell: 'electron' | 'web';
  platform: string;
  dataDir: string;
  /** How secrets are kept: Electron safeStorage, the desktop keyring (web mode), or a 0600 file (no keychain). */
  secretStore: 'safeStorage' | 'keyring' | 'file';
  stationId: string;
  /** True until the first-run wizard (or a remote server setting) has configured the station. */
  firstRunNeeded: boolean;
  /** Which core features this build has (modules present). */
  features: { bench: boolean; field: boolean; bundledServer: boolean; embeddedBroker: boolean };
}

export interface ServerSettingsView {
  mode: 'bundled' | 'remote';
  /** Remote URL, or the bundled server's URL once it runs. */
  url: string | null;
  hasToken: boolean;
  /** Pinned CA of the server's HTTPS certificate (remote mode). */
  caPem: string | null;
  /** Seed `conta_id` used for new gateways. */
  accountId: number | null;
  bundled: { running: boolean; dataDir: string } | null;
}

export interface MonitorIdentityView {
  /** Certificate CN, e.g. station-monitor-bench-1. */
  name: string;
  serialNumber: string | null;
  expiresAt: string | null;
}

export interface BrokerSettingsView {
  mode: 'embedded' | 'external';
  /** Where this station reaches the broker (monitor). */
  host: string;
  port: number;
  /** Address devices use (written into profiles by default). */
  deviceHost: string;
  caPem: string | null;
  monitor: MonitorIdentityView | null;
  embedded: { running: boolean; port: number | null } | null;
}

export interface StationSettingsView {
  operator: string;
  language: LanguagePref;
  stationId: string;
  activeProfile: string | null;
  server: ServerSettingsView;
  broker: BrokerSettingsView;
}

export interface MonitorStatus {
  state: 'unconfigured' | 'connecting' | 'connected' | 'error';
  broker: string | null;
  identity: string | null;
  error: string | null;
  /** MACs currently seen online. */
  online: string[];
}

export interface BenchDevice {
  id: string;
  path: string;
  bridge: string | null;
  vendorId: number | null;
  productId: number | null;
  likelyEsp32: boolean;
  resetMode: 'auto' | 'usb-jtag' | 'manual';
  /** From the last probe of this port, if any. */
  chip: string | null;
  mac: string | null;
  /** Gateway code assigned by scanner/keyboard for the next job on this board. */
  gatewayCode: string | null;
  /** Latest job on this port. */
  jobId: string | null;
  consoleOpen: boolean;
}

/** One line of a job's log (step notes, esptool output, the device's boot log, SSH commands). */
export interface JobLogLineView {
  jobId: string;
  at: string;
  step: string | null;
  level: 'info' | 'warn' | 'error' | 'debug';
  text: string;
}

export interface BenchState {
  devices: BenchDevice[];
  jobs: JobSnapshot[];
}

export interface PiTarget {
  id: string;
  host: string;
  port: number;
  name: string | null;
  source: 'mdns' | 'manual';
  addresses: string[];
  /** When the discovery source knows it (mDNS TXT, OUI). */
  model: string | null;
  /** Discovered, or read by a job on this Pi: the renderer shows its live online state by it. */
  mac: string | null;
  jobId: string | null;
  /** The SSH host key this station pinned for this Pi, if any. */
  hostKey: { keyType: string; fingerprint: string; firstSeen: string } | null;
}

/** What the Field screen remembers between runs (never a password, key or passphrase). */
export interface FieldMemoryView {
  username: string | null;
  authMethod: 'password' | 'key' | 'keyFile' | 'agent' | null;
  /** Path of the key file last used, on this station. */
  keyFile: string | null;
  waitForBoot: boolean;
  /** Pis worked on lately, newest first, with the user each was logged in as. */
  recentHosts: { host: string; port: number; username: string; at: string }[];
}

export interface FieldState {
  targets: PiTarget[];
  jobs: JobSnapshot[];
  discovery: 'running' | 'unavailable';
  remembered: FieldMemoryView;
  /** Private key files of this station's user (~/.ssh/id_*), offered for "key file". */
  keyFiles: string[];
}

export interface CertificateView {
  id: number;
  serialNumber: string;
  issuedAt: string;
  expiresAt: string;
  revoked: boolean;
  revokedAt: string | null;
  revokeReason: string | null;
  keyOrigin: 'device' | 'station' | 'server';
}

export interface GatewayView {
  id: number;
  accountId: number;
  code: string;
  name: string;
  mac: string;
  /** Live presence from this station's monitor when it knows; else the server's view. */
  online: boolean;
  lastSeen: string | null;
  firmwareVersion: string | null;
  createdAt: string;
  activeCertificate: CertificateView | null;
}

export interface GatewayDetailView extends GatewayView {
  certificates: CertificateView[];
}

/** The readings of one register (one Modbus slave's register, in one unit), oldest first. */
export interface TelemetrySeriesView {
  slaveId: number | null;
  register: number | null;
  unit: string;
  points: { at: string; value: number }[];
}

/** A gateway's latest readings, from the server. */
export interface GatewayTelemetryView {
  /** Readings received since then (ISO 8601). */
  since: string;
  series: TelemetrySeriesView[];
}

export interface GatewayPage {
  count: number;
  page: number;
  pageSize: number;
  results: GatewayView[];
}

export interface ImportResult {
  created: number;
  failed: number;
  rows: { line: number; mac: string; status: 'created' | 'error' | 'not_imported'; gatewayId: number | null; error: string | null }[];
}

export const LOG_RESULTS = ['succeeded', 'failed', 'cancelled', 'skipped'] as const;
export type LogResult = (typeof LOG_RESULTS)[number];

/** What the log holds: jobs of a kind, and what the station did outside jobs (revocations, forgotten host keys). */
export const LOG_KINDS = ['esp32', 'pi', 'pi-probe', 'revocation', 'host-key'] as const;
export type LogKind = (typeof LOG_KINDS)[number];

export interface LogJobRow {
  type: 'job';
  id: string;
  kind: JobKind;
  startedAt: string;
  endedAt: string | null;
  /** Working time: start to end, less the time waiting for the operator. */
  durationMs: number | null;
  /** Time waiting for the operator's answers. */
  waitedMs: number;
  operator: string;
  stationId: string;
  target: string;
  mac: string | null;
  gatewayCode: string | null;
  accountId: number | null;
  certificateSerial: string | null;
  certificateExpiresAt: string | null;
  firmware: { name: string; version: string; sha256: string } | null;
  server: string | null;
  result: LogResult | 'running';
  errorCode: string | null;
  errorMessage: string | null;
  errorHint: string | null;
  /** The error's message and hint for the renderer to translate, when the job gave them. */
  errorText: LocalText | null;
  errorHintText: LocalText | null;
}

/** Something the station did outside a job: a certificate revoked from it, a pinned host key forgotten. */
export interface LogEventRow {
  type: 'event';
  id: string;
  kind: 'revocation' | 'host-key';
  at: string;
  operator: string;
  stationId: string;
  /** `host:port` (host keys). */
  target: string | null;
  mac: string | null;
  gatewayCode: string | null;
  gatewayId: number | null;
  certificateSerial: string | null;
  /** Revocation reason (RFC 5280 name); for a host key, the fingerprint forgotten. */
  reason: string | null;
  detail: string | null;
}

export type LogEntryRow = LogJobRow | LogEventRow;

export interface LogStepRow {
  name: string;
  startedAt: string | null;
  endedAt: string | null;
  /** Time the step waited for the operator (not part of its working time). */
  waitedMs: number;
  status: StepStatus;
  detail: string | null;
  detailText: LocalText | null;
}

export interface LogJobDetail extends LogJobRow {
  steps: LogStepRow[];
  /** The job's own log (step notes, commands, device output), as stored: the last lines when there are many. */
  lines: JobLogLineView[];
  /** Lines of the job's log the station log holds beyond those sent. */
  linesOmitted: number;
  /** Evidence kept with a failure (the board's boot log). */
  attachment: { label: string; text: string } | null;
}

export interface LogPage {
  rows: LogEntryRow[];
  total: number;
}

/** Today's figures, counted in devices (a board retried until it passed is one provisioned device). */
export interface TodayFigures {
  /** Local calendar day, YYYY-MM-DD. */
  day: string;
  provisioned: number;
  /** Devices that ended the day failed (no success). */
  failed: number;
  /** Devices left as they were on purpose (the operator stopped). */
  skipped: number;
  /** Finished jobs behind the figures. */
  jobs: number;
  /** Median working time (waiting for the operator left out). */
  medianMs: number | null;
  /** 24 entries, local hours 0..23, in devices. */
  byHour: { hour: number; succeeded: number; failed: number }[];
}

export interface BundleInfo {
  name: string;
  version: string;
  chips: string[];
  dataPartition: string | null;
}

export interface FirstRunProgress {
  step: 'server' | 'ca' | 'account' | 'token' | 'monitor' | 'broker';
  state: 'running' | 'done' | 'failed';
  message: string | null;
}

/** A backup of the bundled server (bundled.backup, bundled.restore). */
export interface BundledBackupView {
  file: string;
  bytes: number;
  createdAt: string;
  files: number;
}

export interface BundledRestoreView extends BundledBackupView {
  /** The data folder that was replaced, kept under this name (delete it once the restore is trusted). */
  previousDataDir: string | null;
  running: boolean;
}

/** The station core's process, as its host sees it (the core runs apart from the UI's process). */
export interface CoreStatus {
  state: 'running' | 'restarting' | 'stopped';
  /** Restarts since the host started. */
  restarts: number;
  /** Why the core last stopped unexpectedly, if it did. */
  lastExit: { reason: 'crash' | 'hang'; code: number | null; signal: string | null; at: string; message: string } | null;
  /** Jobs that were running when it stopped (recorded as interrupted). */
  interruptedJobs: number;
}
