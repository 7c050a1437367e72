import { z } from 'zod';
import type { ErrorCode } from './errors.js';
import type { JobKind, JobSnapshot, StepStatus } from './jobs.js';
import { parseMacLoose } from './mac-input.js';
import { PiAgentSettingsSchema, PiModbusSchema, zRemotePath } from './pi-agent.js';
import { V, type FieldIssue, zHost, zHttpUrl, zId, zIntRange, zIsoDate, zName, zPem, zPort } from './validation.js';

/**
 * The one contract between the renderer and the station core (DESIGN.md §2), whatever carries it:
 * Electron IPC through the preload, or a localhost WebSocket in web mode. Modelled on GitHub Desktop's
 * typed channel maps: `requestSchemas` (what the renderer may ask, validated with zod in the main
 * process), `StationResponses` (what each request resolves to) and `StationEvents` (what the core
 * pushes). Both sides are typed from these maps; nothing else crosses the boundary.
 */

// ---------------------------------------------------------------------------------------------------
// Shared view types
// ---------------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------------
// Request schemas (validated at the boundary in the main process; the renderer reuses them for forms)
// ---------------------------------------------------------------------------------------------------

const None = z.undefined();

export const KEY_TYPES = ['ec', 'rsa'] as const;
export const KEY_MODES = ['station', 'device'] as const;
export const RESET_MODES = ['auto', 'usb-jtag', 'manual'] as const;
export const SERVICE_MANAGERS = ['systemd', 'none'] as const;

const codeTemplate = z
  .string()
  .trim()
  .min(1, V.required)
  .max(30, V.template)
  .refine((s) => /^[A-Za-z0-9_.{}-]+$/.test(s), V.template);

export const ProfileEsp32Schema = z.object({
  bundlePath: z.string().trim().min(1, V.required).max(1024, V.tooLong).refine((s) => s.startsWith('/') || /^[A-Za-z]:[\\/]/.test(s), V.path),
  wifiSsid: z.string().min(1, V.wifiSsid).max(32, V.wifiSsid),
  /** New password: undefined keeps the stored one, '' clears it (open network). */
  wifiPassword: z.string().refine((s) => s === '' || (s.length >= 8 && s.length <= 63), V.wifiPassword).optional(),
  baud: zIntRange(9600, 2_000_000).default(921600),
  resetMode: z.enum(RESET_MODES, { error: V.choice }).default('auto'),
  onlineTimeoutSec: zIntRange(5, 600).default(60),
});

export const ProfilePiSchema = z.object({
  installPrefix: z.string().trim().min(1, V.required).refine((s) => s.startsWith('/'), V.path).default('/'),
  serviceManager: z.enum(SERVICE_MANAGERS, { error: V.choice }).default('systemd'),
  onlineTimeoutSec: zIntRange(5, 600).default(60),
  /** Python 3 on the Pi (Debian's, with its python3-* packages); absent = DEFAULT_PI_PYTHON. */
  python: zRemotePath.optional(),
  /** The agent's Modbus RTU section of config.json; absent = no readings. */
  modbus: PiModbusSchema.optional(),
  /** Agent settings (MQTT keepalive, offline buffer, renewal); absent = the agent's defaults. */
  agent: PiAgentSettingsSchema.optional(),
});

/** A profile as the Settings screen edits it; server and monitor come from the station settings. */
export const ProfileInputSchema = z.object({
  name: zName(80),
  accountId: z.number({ error: V.positiveInt }).int(V.positiveInt).positive(V.positiveInt),
  codeTemplate: codeTemplate.default('GW-{mac12}'),
  nameTemplate: zName(100).default('Gateway {MAC12}'),
  brokerHost: zHost,
  brokerPort: zPort.default(8883),
  keyType: z.enum(KEY_TYPES, { error: V.choice }).default('ec'),
  keyMode: z.enum(KEY_MODES, { error: V.choice }).default('station'),
  validityDays: zIntRange(1, 36500).optional(),
  esp32: ProfileEsp32Schema.optional(),
  pi: ProfilePiSchema.optional(),
});
export type ProfileInput = z.input<typeof ProfileInputSchema>;

export type ProfileView = Omit<z.output<typeof ProfileInputSchema>, 'esp32'> & {
  esp32?: Omit<z.output<typeof ProfileEsp32Schema>, 'wifiPassword'> & { hasWifiPassword: boolean };
};

export const ServerSettingsInputSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('bundled') }),
  z.object({
    mode: z.literal('remote'),
    url: zHttpUrl,
    /** New token: undefined keeps the stored one. */
    token: z.string().trim().min(16, V.token).max(512, V.tooLong).optional(),
    caPem: zPem.nullable().optional(),
    accountId: z.number({ error: V.positiveInt }).int(V.positiveInt).positive(V.positiveInt),
  }),
], { error: V.choice });
export type ServerSettingsInput = z.input<typeof ServerSettingsInputSchema>;

export const BrokerSettingsInputSchema = z.object({
  host: zHost,
  port: zPort,
  deviceHost: zHost,
  caPem: zPem.nullable().optional(),
  /** New monitor identity (certificate + key PEM); undefined keeps the current one. */
  monitor: z.object({ certPem: zPem, keyPem: zPem }).optional(),
});
export type BrokerSettingsInput = z.input<typeof BrokerSettingsInputSchema>;

export const GeneralSettingsInputSchema = z.object({
  operator: zName(80).optional(),
  language: z.enum(['auto', ...LANGUAGES], { error: V.choice }).optional(),
  stationId: z.string().regex(/^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/, V.stationId).optional(),
  activeProfile: z.string().min(1).max(80).nullable().optional(),
});

export const FirstRunInputSchema = z.object({
  accountName: zName(100),
  operator: zName(80),
  startBroker: z.boolean(),
  brokerPort: zPort.default(8883),
  /** Address devices will use to reach the embedded broker (this machine's LAN address). */
  deviceBrokerHost: zHost,
});
export type FirstRunInput = z.input<typeof FirstRunInputSchema>;

export const ServerTestInputSchema = z.object({
  url: zHttpUrl,
  token: z.string().trim().min(16, V.token).max(512, V.tooLong).optional(),
  caPem: zPem.nullable().optional(),
});

/** A gateway code as scanned or typed at the bench (the server's `codigo`). */
export const GatewayCodeSchema = z.string().trim().min(1, V.required).max(30, V.gatewayCode).regex(/^[A-Za-z0-9_.-]+$/, V.gatewayCode);

export const BenchProvisionInputSchema = z.object({
  deviceIds: z.array(zId).min(1, V.required).max(64, V.tooLong),
  profile: zName(80),
});

export const PiAuthSchema = z.discriminatedUnion('method', [
  z.object({ method: z.literal('password'), password: z.string().min(1, V.required).max(1024, V.tooLong) }),
  z.object({ method: z.literal('key'), privateKeyPem: zPem, passphrase: z.string().max(1024, V.tooLong).optional() }),
  z.object({ method: z.literal('agent') }),
], { error: V.choice });
export type PiAuth = z.input<typeof PiAuthSchema>;

export const FieldProvisionInputSchema = z.object({
  targetId: zId,
  profile: zName(80),
  username: z.string().trim().min(1, V.required).max(64, V.tooLong).regex(/^[A-Za-z0-9._-]+$/, V.username),
  auth: PiAuthSchema,
  sudoPassword: z.string().max(1024, V.tooLong).optional(),
  gatewayCode: GatewayCodeSchema.optional(),
});
export type FieldProvisionInput = z.input<typeof FieldProvisionInputSchema>;

export const LOG_RESULTS = ['succeeded', 'failed', 'cancelled'] as const;
export const LogFilterSchema = z.object({
  from: zIsoDate.optional(),
  to: zIsoDate.optional(),
  operator: z.string().trim().max(80, V.tooLong).optional(),
  result: z.enum(LOG_RESULTS, { error: V.choice }).optional(),
  mac: z
    .string()
    .trim()
    .refine((s) => parseMacLoose(s) !== null, V.mac)
    .transform((s) => parseMacLoose(s)!)
    .optional(),
  serial: z.string().trim().max(64, V.tooLong).regex(/^[0-9a-fA-F:]+$/, V.serial).optional(),
  kind: z.enum(['esp32', 'pi'], { error: V.choice }).optional(),
  limit: z.number().int().min(1).max(1000).default(100),
  offset: z.number().int().min(0).default(0),
});
export type LogFilter = z.input<typeof LogFilterSchema>;

export const REVOKE_REASONS = ['unspecified', 'keyCompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation', 'privilegeWithdrawn'] as const;

export const requestSchemas = {
  'app.info': None,
  'settings.get': None,
  'settings.update': GeneralSettingsInputSchema,
  'settings.setServer': ServerSettingsInputSchema,
  'settings.setBroker': BrokerSettingsInputSchema,
  'server.test': ServerTestInputSchema,
  'firstRun.run': FirstRunInputSchema,
  'profiles.list': None,
  'profiles.save': z.object({ profile: ProfileInputSchema, previousName: z.string().max(80).optional() }),
  'profiles.delete': z.object({ name: zName(80) }),
  'bundles.inspect': z.object({ path: ProfileEsp32Schema.shape.bundlePath }),
  'monitor.status': None,
  'bench.state': None,
  'bench.assignCode': z.object({ deviceId: zId, code: GatewayCodeSchema.nullable() }),
  'bench.provision': BenchProvisionInputSchema,
  'bench.console': z.object({ deviceId: zId, open: z.boolean() }),
  'jobs.list': None,
  'jobs.cancel': z.object({ jobId: zId }),
  'jobs.retry': z.object({ jobId: zId }),
  /** `secret`: a typed password for a question marked `secret`; it reaches the asking step only. */
  'jobs.answer': z.object({ jobId: zId, questionId: zId, choice: z.string().min(1).max(64), secret: z.string().min(1, V.required).max(1024, V.tooLong).optional() }),
  'jobs.clearFinished': None,
  'jobs.log': z.object({ jobId: zId }),
  'labels.render': z.object({ jobId: zId, format: z.enum(['svg', 'pdf'], { error: V.choice }) }),
  'field.state': None,
  'field.addHost': z.object({ host: zHost, port: zPort.default(22), name: z.string().trim().max(80, V.tooLong).optional() }),
  'field.removeHost': z.object({ targetId: zId }),
  'field.provision': FieldProvisionInputSchema,
  'gateways.list': z.object({ search: z.string().trim().max(100, V.tooLong).optional(), page: z.number().int().min(1).default(1) }),
  'gateways.get': z.object({ id: z.number().int().positive() }),
  'gateways.revoke': z.object({ id: z.number().int().positive(), reason: z.enum(REVOKE_REASONS, { error: V.choice }) }),
  'gateways.downloadZip': z.object({ id: z.number().int().positive() }),
  'gateways.importCsv': z.object({
    csv: z
      .string()
      .max(1_000_000, V.tooLong)
      .refine((s) => /^\s*mac_address\s*,\s*codigo\s*,\s*nome\s*\r?\n\s*\S/.test(s), V.csv),
  }),
  'log.query': LogFilterSchema,
  'log.get': z.object({ id: zId }),
  'log.exportCsv': LogFilterSchema,
  'log.today': None,
} as const;

export type RequestChannel = keyof typeof requestSchemas;
/** What the renderer passes (defaults not yet applied). */
export type RequestOf<C extends RequestChannel> = z.input<(typeof requestSchemas)[C]>;
/** What the core receives after validation. */
export type ValidRequestOf<C extends RequestChannel> = z.output<(typeof requestSchemas)[C]>;

// ---------------------------------------------------------------------------------------------------
// Responses and events
// ---------------------------------------------------------------------------------------------------

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
  mac: string | null;
  jobId: string | null;
}

export interface FieldState {
  targets: PiTarget[];
  jobs: JobSnapshot[];
  discovery: 'running' | 'unavailable';
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

export type LogResult = (typeof LOG_RESULTS)[number];

export interface LogJobRow {
  id: string;
  kind: JobKind;
  startedAt: string;
  endedAt: string | null;
  durationMs: number | null;
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
}

export interface LogStepRow {
  name: string;
  startedAt: string | null;
  endedAt: string | null;
  status: StepStatus;
  detail: string | null;
}

export interface LogJobDetail extends LogJobRow {
  steps: LogStepRow[];
}

export interface LogPage {
  rows: LogJobRow[];
  total: number;
}

export interface TodayFigures {
  /** Local calendar day, YYYY-MM-DD. */
  day: string;
  provisioned: number;
  failed: number;
  medianMs: number | null;
  /** 24 entries, local hours 0..23. */
  byHour: { hour: number; succeeded: number; failed: number }[];
}

export interface BundleInfo {
  name: string;
  version: string;
  chips: string[];
  dataPartition: string | null;
}

export interface StationResponses {
  'app.info': AppInfo;
  'settings.get': StationSettingsView;
  'settings.update': StationSettingsView;
  'settings.setServer': StationSettingsView;
  'settings.setBroker': StationSettingsView;
  'server.test': { ok: true; detail: string };
  'firstRun.run': StationSettingsView;
  'profiles.list': ProfileView[];
  'profiles.save': ProfileView;
  'profiles.delete': ProfileView[];
  'bundles.inspect': BundleInfo;
  'monitor.status': MonitorStatus;
  'bench.state': BenchState;
  'bench.assignCode': BenchDevice;
  'bench.provision': { jobIds: string[] };
  'bench.console': BenchDevice;
  'jobs.list': JobSnapshot[];
  'jobs.cancel': JobSnapshot;
  'jobs.retry': { jobId: string };
  'jobs.answer': JobSnapshot;
  'jobs.clearFinished': JobSnapshot[];
  'jobs.log': JobLogLineView[];
  'labels.render': FileData;
  'field.state': FieldState;
  'field.addHost': PiTarget;
  'field.removeHost': PiTarget[];
  'field.provision': { jobId: string };
  'gateways.list': GatewayPage;
  'gateways.get': GatewayDetailView;
  'gateways.revoke': GatewayDetailView;
  'gateways.downloadZip': FileData;
  'gateways.importCsv': ImportResult;
  'log.query': LogPage;
  'log.get': LogJobDetail;
  'log.exportCsv': FileData;
  'log.today': TodayFigures;
}

// Compile-time check: every request channel has a response type and vice versa.
type Exact<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
export const channelMapsMatch: Exact<RequestChannel, keyof StationResponses> = true;

export type ResponseOf<C extends RequestChannel> = StationResponses[C];

export interface FirstRunProgress {
  step: 'server' | 'ca' | 'account' | 'token' | 'monitor' | 'broker';
  state: 'running' | 'done' | 'failed';
  message: string | null;
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

export interface StationEvents {
  'bench.devices': BenchDevice[];
  'job.updated': JobSnapshot;
  'job.removed': { jobId: string };
  'job.log': JobLogLineView;
  'console.data': { deviceId: string; text: string };
  'field.targets': PiTarget[];
  'presence': { mac: string; online: boolean; at: string };
  'monitor.status': MonitorStatus;
  'settings.changed': StationSettingsView;
  'firstRun.progress': FirstRunProgress;
  'log.appended': { id: string };
  /** Sent by the core's host, not the core: the core stopped, is restarting, or is back. */
  'core.status': CoreStatus;
}
export type EventChannel = keyof StationEvents;

// ---------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------

export type IpcErrorCode =
  | 'INVALID_INPUT'
  | 'UNKNOWN_CHANNEL'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'NOT_CONFIGURED'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'BUSY'
  | 'UNAVAILABLE'
  | 'CREDENTIALS_NEEDED'
  | ErrorCode;

export interface IpcErrorBody {
  code: IpcErrorCode;
  message: string;
  hint?: string;
  /** Field problems for INVALID_INPUT (dotted paths into the request). */
  issues?: FieldIssue[];
}

/** Thrown by the core for failures the user can act on; crosses the boundary as its body. */
export class StationError extends Error {
  readonly code: IpcErrorCode;
  readonly hint: string | undefined;
  readonly issues: FieldIssue[] | undefined;
  constructor(code: IpcErrorCode, message: string, options: { hint?: string; issues?: FieldIssue[]; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'StationError';
    this.code = code;
    this.hint = options.hint;
    this.issues = options.issues;
  }
  toBody(): IpcErrorBody {
    return { code: this.code, message: this.message, ...(this.hint ? { hint: this.hint } : {}), ...(this.issues ? { issues: this.issues } : {}) };
  }
}

/** What a transport returns for one request. */
export type IpcResult<T> = { ok: true; value: T } | { ok: false; error: IpcErrorBody };

/** The client side of the contract, the same over Electron IPC and WebSocket. */
export interface StationClient {
  invoke<C extends RequestChannel>(
    channel: C,
    ...args: undefined extends RequestOf<C> ? [request?: RequestOf<C>] : [request: RequestOf<C>]
  ): Promise<ResponseOf<C>>;
  on<E extends EventChannel>(event: E, listener: (payload: StationEvents[E]) => void): () => void;
}

export type { PreloadBridge } from './ipc-channels.js';

export { ELECTRON_EVENT_CHANNEL, ELECTRON_INVOKE_CHANNEL } from './ipc-channels.js';

/** WebSocket frames in web mode. */
export type WsClientFrame = { t: 'req'; id: number; ch: string; p?: unknown };
export type WsServerFrame =
  | { t: 'res'; id: number; r: IpcResult<unknown> }
  | { t: 'evt'; ev: string; p: unknown };

export function isRequestChannel(ch: string): ch is RequestChannel {
  return Object.prototype.hasOwnProperty.call(requestSchemas, ch);
}
