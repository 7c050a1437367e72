import type { JobKind, JobSnapshot, StepStatus } from './jobs.js';
import type { LocalText } from './local-text.js';

/**
 * What the station core shows the renderer: the views its requests resolve to and its events carry
 * (the channel maps in ipc.ts say which goes where). Plain data, no behaviour. Longer than most files
 * because it is every view of the contract, one short type each, kept together so the renderer and the
 * core read one vocabulary.
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
  /** openEnrolment: the running bundled server's zero-touch switch (its config), null while it is stopped. */
  bundled: { running: boolean; dataDir: string; openEnrolment: boolean | null } | null;
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

/** How the Bench behaves for the technician (Settings of the Bench screen, kept by the station). */
export interface BenchOptionsView {
  /** A beep when a board passes or fails. */
  sound: boolean;
  /** An OS notification when a board passes or fails. */
  notify: boolean;
  /** A board plugged into a slot starts at once with the default profile. */
  autoStart: boolean;
  /** A board that passes gets its label printed. */
  autoPrint: boolean;
}

/** Whether operators may edit profiles (an admin locks them with a PIN). */
export interface ProfileLockView {
  locked: boolean;
  /** An admin PIN has been set (the first lock sets it). */
  pinSet: boolean;
}

export interface StationSettingsView {
  operator: string;
  language: LanguagePref;
  stationId: string;
  activeProfile: string | null;
  server: ServerSettingsView;
  broker: BrokerSettingsView;
  bench: BenchOptionsView;
  profileLock: ProfileLockView;
}

/** One address of this machine, offered as the address devices use to reach the station. */
export interface StationAddress {
  address: string;
  family: 'IPv4' | 'IPv6';
  /** The network interface (eth0, wlan0, en0…). */
  interface: string;
  /** 127.0.0.1, ::1: only reachable from this machine (simulated boards), never from a real device. */
  loopback: boolean;
}

export interface MonitorStatus {
  state: 'unconfigured' | 'connecting' | 'connected' | 'error';
  broker: string | null;
  identity: string | null;
  error: string | null;
  /** MACs currently seen online. */
  online: string[];
}

/**
 * What the station knows about a board's MAC without flashing it: provisioned (an active
 * certificate), revoked (its last certificate was revoked), or new. From the server, or from this
 * station's log when the server cannot be asked.
 */
export interface BoardRegistration {
  state: 'provisioned' | 'revoked' | 'new';
  serial: string | null;
  /** Provisioned: when the certificate was issued; revoked: when it was revoked. */
  at: string | null;
  /** Revoked: the reason the server recorded (an RFC 5280 reason name, maybe with a note). */
  reason: string | null;
  source: 'server' | 'log';
}

/**
 * A position on the hub: named once by the operator and kept by USB location, so a board plugged
 * into the same position is in the same slot whatever port name the OS gives it.
 */
export interface BenchSlot {
  /** The USB location when the OS reports one, else the port path. */
  key: string;
  name: string | null;
  location: string | null;
}

export interface BenchDevice {
  id: string;
  path: string;
  slot: BenchSlot;
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
  /** What the station knows about this board's MAC (null until the MAC is known). */
  registration: BoardRegistration | null;
}

/** A board the batch start left alone, and why. */
export interface BenchSkip {
  deviceId: string;
  reason: 'running' | 'provisioned' | 'revoked';
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
  /** `pending`: a renewal the device has not confirmed yet; the active certificate stays valid meanwhile. */
  status: 'pending' | 'active' | 'revoked' | 'expired';
  revoked: boolean;
  revokedAt: string | null;
  /** The RFC 5280 reason name (`keyCompromise`, `superseded`, …) when revoked. */
  revokeReason: string | null;
  /** Free text kept with the reason (the admin's words, or why the server revoked it). */
  revokeNote: string | null;
  keyOrigin: 'device' | 'station' | 'server';
}

/**
 * Whether the gateway can connect at all, apart from live presence: its certificate is active, or
 * the newest one was revoked (when and why) or expired, or it never had one.
 */
export type GatewayStanding =
  | { kind: 'active' }
  | { kind: 'revoked'; at: string | null; reason: string; note: string | null }
  | { kind: 'expired'; at: string }
  | { kind: 'none' };

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
  standing: GatewayStanding;
}

/** A renewal the server delivers to the device over MQTT, while it waits for the device. */
export interface RenewalDeliveryView {
  pendingSerial: string;
  replacesSerial: string;
  /** Requests sent to the device so far (0: it has not been online since). */
  attempts: number;
  lastAttemptAt: string | null;
  createdAt: string;
}

export interface GatewayDetailView extends GatewayView {
  certificates: CertificateView[];
  renewalDelivery: RenewalDeliveryView | null;
}

/** `gateways.renew`: the gateway afterwards, whether the device was asked now, and a pending certificate's files (once). */
export interface RenewResultView {
  gateway: GatewayDetailView;
  /** deliver: `asked` (online, asked now) or `waiting` (asked when it next comes online). */
  delivery: 'asked' | 'waiting' | null;
  /** pending: the new certificate with the key the server made, for installing by hand; never shown again. */
  file: FileData | null;
}

/** A gateway's online/offline history over a window, from the server. */
export interface PresenceHistoryView {
  since: string;
  until: string;
  /** The state at `since`; null: unknown (before the server's history). */
  stateAtStart: boolean | null;
  transitions: { online: boolean; at: string }[];
  onlineSeconds: number;
  windowSeconds: number;
  uptimePercent: number | null;
  truncated: boolean;
}

/** The station's server token as the server knows it; the renderer shows what its role allows. */
export interface ServerIdentityView {
  tokenId: number;
  accountId: number;
  role: 'admin' | 'operator' | 'auditor';
  serverAdmin: boolean;
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

/** What a backup file holds, read and verified before a restore (`bundled.checkBackup`). */
export interface BundledBackupContents extends BundledBackupView {
  paths: string[];
  store: { kind: string; schemaVersion: number | null };
  /** Whether its CA is the running bundled server's (null: no server to compare with). */
  sameCa: boolean | null;
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
