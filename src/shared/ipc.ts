import { z } from 'zod';
import { adminRequestSchemas } from './admin-inputs.js';
import type { AccountView, AuditExportView, AuditPageView, BrokerStateView, CrlStateView, TokenCreatedView, TokenView } from './admin-views.js';
import type { JobSnapshot } from './jobs.js';
import { ClaimApproveInputSchema, ClaimPreviewInputSchema, ClaimRejectInputSchema, type ClaimApprovedView, type ClaimOutcome, type ClaimPreviewView } from './claims.js';
import { ProfileEsp32Schema, ProfileInputSchema, type ProfileView } from './profile.js';
import {
  BenchOptionsInputSchema,
  BenchProvisionInputSchema,
  BrokerSettingsInputSchema,
  BundledBackupInputSchema,
  BundledCheckInputSchema,
  BundledRestoreInputSchema,
  BundledOpenEnrolmentInputSchema,
  FieldProbeInputSchema,
  FieldProvisionInputSchema,
  FirstRunInputSchema,
  GatewayCodeSchema,
  GatewayRenewInputSchema,
  GeneralSettingsInputSchema,
  ImportCsvInputSchema,
  JobAnswerInputSchema,
  LogFilterSchema,
  NotifyInputSchema,
  ProfileLockInputSchema,
  REVOKE_REASONS,
  ServerSettingsInputSchema,
  ServerTestInputSchema,
  zSerial,
  SlotNameInputSchema,
} from './inputs.js';
import type {
  AppInfo,
  BenchDevice,
  BenchSkip,
  BenchState,
  BundleInfo,
  BundledBackupContents,
  BundledBackupView,
  BundledRestoreView,
  CoreStatus,
  FieldState,
  FileData,
  FirstRunProgress,
  GatewayDetailView,
  GatewayPage,
  GatewayTelemetryView,
  ImportResult,
  JobLogLineView,
  LogJobDetail,
  LogPage,
  MonitorStatus,
  PiTarget,
  PresenceHistoryView,
  RenewResultView,
  ServerIdentityView,
  StationAddress,
  StationSettingsView,
  TodayFigures,
} from './views.js';
import { V, zHost, zId, zIntRange, zName, zPort } from './validation.js';

/**
 * The channel maps: the one contract between the renderer and the station core, whatever carries it
 * (Electron IPC through the preload, or a localhost WebSocket in web mode). Modelled on GitHub
 * Desktop's typed channel maps: `requestSchemas` (what the renderer may ask, validated with zod in
 * the core), `StationResponses` (what each request resolves to) and `StationEvents` (what the core
 * pushes). Their payloads live beside this file: inputs.ts, profile.ts, views.ts, ipc-errors.ts.
 */

const None = z.undefined();

export const requestSchemas = {
  'app.info': None,
  'app.notify': NotifyInputSchema,
  'station.addresses': None,
  'settings.get': None,
  'settings.update': GeneralSettingsInputSchema,
  'settings.setServer': ServerSettingsInputSchema,
  'settings.setBroker': BrokerSettingsInputSchema,
  'server.test': ServerTestInputSchema,
  'server.identity': None,
  'firstRun.run': FirstRunInputSchema,
  'bundled.backup': BundledBackupInputSchema,
  'bundled.checkBackup': BundledCheckInputSchema,
  'bundled.restore': BundledRestoreInputSchema,
  'bundled.setOpenEnrolment': BundledOpenEnrolmentInputSchema,
  'profiles.list': None,
  'profiles.save': z.object({ profile: ProfileInputSchema, previousName: z.string().max(80).optional() }),
  'profiles.delete': z.object({ name: zName(80) }),
  'profiles.testBroker': z.object({ host: zHost, port: zPort }),
  'profiles.setLock': ProfileLockInputSchema,
  'bundles.inspect': z.object({ path: ProfileEsp32Schema.shape.bundlePath }),
  'monitor.status': None,
  'bench.state': None,
  'bench.assignCode': z.object({ deviceId: zId, code: GatewayCodeSchema.nullable() }),
  'bench.provision': BenchProvisionInputSchema,
  'bench.console': z.object({ deviceId: zId, open: z.boolean() }),
  'bench.nameSlot': SlotNameInputSchema,
  'bench.setOptions': BenchOptionsInputSchema,
  'jobs.list': None,
  'jobs.cancel': z.object({ jobId: zId }),
  'jobs.retry': z.object({ jobId: zId }),
  'jobs.answer': JobAnswerInputSchema,
  'jobs.clearFinished': None,
  'jobs.log': z.object({ jobId: zId }),
  'labels.render': z.object({ jobId: zId, format: z.enum(['svg', 'pdf'], { error: V.choice }) }),
  'labels.sheet': z.object({ jobIds: z.array(zId).min(1, V.required).max(500, V.tooLong) }),
  'field.state': None,
  'field.addHost': z.object({ host: zHost, port: zPort.default(22), name: z.string().trim().max(80, V.tooLong).optional() }),
  'field.removeHost': z.object({ targetId: zId }),
  'field.provision': FieldProvisionInputSchema,
  'field.probe': FieldProbeInputSchema,
  'field.forgetHostKey': z.object({ targetId: zId }),
  'gateways.list': z.object({
    search: z.string().trim().max(100, V.tooLong).optional(),
    page: z.number().int().min(1).default(1),
    /** Only gateways whose active certificate expires within this many days (the server filters). */
    expiresWithinDays: zIntRange(1, 36_500).optional(),
  }),
  'gateways.get': z.object({ id: z.number().int().positive() }),
  'gateways.telemetry': z.object({ id: z.number().int().positive() }),
  'gateways.revoke': z.object({ id: z.number().int().positive(), reason: z.enum(REVOKE_REASONS, { error: V.choice }) }),
  'gateways.renew': GatewayRenewInputSchema,
  'gateways.confirmRenewal': z.object({ id: z.number().int().positive(), serialNumber: zSerial }),
  'gateways.cancelRenewal': z.object({ id: z.number().int().positive(), serialNumber: zSerial }),
  'gateways.presence': z.object({ id: z.number().int().positive(), days: z.union([z.literal(1), z.literal(7), z.literal(30)], { error: V.choice }).default(7) }),
  'gateways.downloadZip': z.object({ id: z.number().int().positive() }),
  'gateways.importCsv': ImportCsvInputSchema,
  'log.query': LogFilterSchema,
  'log.get': z.object({ id: zId }),
  'log.exportCsv': LogFilterSchema,
  'log.today': None,
  'claim.preview': ClaimPreviewInputSchema,
  'claim.approve': ClaimApproveInputSchema,
  'claim.reject': ClaimRejectInputSchema,
  ...adminRequestSchemas,
} as const;

export type RequestChannel = keyof typeof requestSchemas;
/** What the renderer passes (defaults not yet applied). */
export type RequestOf<C extends RequestChannel> = z.input<(typeof requestSchemas)[C]>;
/** What the core receives after validation. */
export type ValidRequestOf<C extends RequestChannel> = z.output<(typeof requestSchemas)[C]>;

export interface StationResponses {
  'app.info': AppInfo;
  /** shown: false when this shell has no notifications of its own (web mode: the browser shows them). */
  'app.notify': { shown: boolean };
  'station.addresses': StationAddress[];
  'settings.get': StationSettingsView;
  'settings.update': StationSettingsView;
  'settings.setServer': StationSettingsView;
  'settings.setBroker': StationSettingsView;
  'server.test': { ok: true; detail: string };
  'server.identity': ServerIdentityView | null;
  'firstRun.run': StationSettingsView;
  'bundled.backup': BundledBackupView;
  'bundled.checkBackup': BundledBackupContents;
  'bundled.restore': BundledRestoreView;
  'bundled.setOpenEnrolment': StationSettingsView;
  'profiles.list': ProfileView[];
  'profiles.save': ProfileView;
  'profiles.delete': ProfileView[];
  'profiles.testBroker': { ok: true; detail: string };
  'profiles.setLock': StationSettingsView;
  'bundles.inspect': BundleInfo;
  'monitor.status': MonitorStatus;
  'bench.state': BenchState;
  'bench.assignCode': BenchDevice;
  'bench.provision': { jobIds: string[]; skipped: BenchSkip[] };
  'bench.console': BenchDevice;
  'bench.nameSlot': BenchDevice[];
  'bench.setOptions': StationSettingsView;
  'jobs.list': JobSnapshot[];
  'jobs.cancel': JobSnapshot;
  'jobs.retry': { jobId: string };
  'jobs.answer': JobSnapshot;
  'jobs.clearFinished': JobSnapshot[];
  'jobs.log': JobLogLineView[];
  'labels.render': FileData;
  'labels.sheet': FileData;
  'field.state': FieldState;
  'field.addHost': PiTarget;
  'field.removeHost': PiTarget[];
  'field.provision': { jobId: string };
  'field.probe': { jobId: string };
  'field.forgetHostKey': PiTarget;
  'gateways.list': GatewayPage;
  'gateways.get': GatewayDetailView;
  'gateways.telemetry': GatewayTelemetryView;
  'gateways.revoke': GatewayDetailView;
  'gateways.renew': RenewResultView;
  'gateways.confirmRenewal': GatewayDetailView;
  'gateways.cancelRenewal': GatewayDetailView;
  'gateways.presence': PresenceHistoryView;
  'gateways.downloadZip': FileData;
  'gateways.importCsv': ImportResult;
  'log.query': LogPage;
  'log.get': LogJobDetail;
  'log.exportCsv': FileData;
  'log.today': TodayFigures;
  'claim.preview': ClaimOutcome<ClaimPreviewView>;
  'claim.approve': ClaimOutcome<ClaimApprovedView>;
  'claim.reject': ClaimOutcome<{ bootstrapId: string; reason: string }>;
  'admin.identity': ServerIdentityView | null;
  'admin.audit': AuditPageView;
  'admin.auditCsv': AuditExportView;
  'admin.accounts': AccountView[];
  'admin.createAccount': AccountView;
  'admin.renameAccount': AccountView;
  'admin.tokens': TokenView[];
  'admin.createToken': TokenCreatedView;
  'admin.revokeToken': TokenView;
  'admin.crl': CrlStateView;
  'admin.broker': BrokerStateView;
}

// Compile-time check: every request channel has a response type and vice versa.
type Exact<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
export const channelMapsMatch: Exact<RequestChannel, keyof StationResponses> = true;

export type ResponseOf<C extends RequestChannel> = StationResponses[C];

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

/** The client side of the contract, the same over Electron IPC and WebSocket. */
export interface StationClient {
  invoke<C extends RequestChannel>(
    channel: C,
    ...args: undefined extends RequestOf<C> ? [request?: RequestOf<C>] : [request: RequestOf<C>]
  ): Promise<ResponseOf<C>>;
  on<E extends EventChannel>(event: E, listener: (payload: StationEvents[E]) => void): () => void;
}

export function isRequestChannel(ch: string): ch is RequestChannel {
  return Object.prototype.hasOwnProperty.call(requestSchemas, ch);
}

