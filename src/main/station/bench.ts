import os from 'node:os';
import type { BenchDevice, BenchSkip, BenchState, BoardRegistration, BundleInfo } from '../../shared/views.js';
import { StationError } from '../../shared/ipc-errors.js';
import { isFinishedState, type JobSnapshot } from '../../shared/jobs.js';
import type { BirthIssuer } from '../certs/birth-issuer.js';
import type { CertificateIssuer } from '../certs/issuer.js';
import type { SerialDeviceDescriptor, SerialDeviceSource, SerialLink } from '../devices/serial-link.js';
import type { FirmwareBundle } from '../esp32/bundle.js';
import { loadProfileBundle } from '../esp32/bundle-path.js';
import type { FlashMemory } from '../esp32/flash-memory.js';
import { esp32JobSettings } from '../esp32/job-settings.js';
import { esp32ProvisionJob } from '../esp32/provision-job.js';
import { JobFailure } from '../jobs/job-failure.js';
import type { JobDefinition } from '../jobs/types.js';
import type { BrokerMonitor } from '../monitor/broker-monitor.js';
import { AutoStarter } from './bench-autostart.js';
import { compareSlots, renamed, slotKey, slotOf } from './bench-slots.js';
import type { ClaimLabels } from './claim-labels.js';
import type { StationEventBus } from './dispatch.js';
import { identityMemoryFor, type ResumeSpec } from './job-resume.js';
import type { JobsHub } from './jobs-hub.js';
import type { ResolvedProfile, SettingsService } from './settings-service.js';

type Esp32Resume = Extract<ResumeSpec, { kind: 'esp32' }>;

const ACTIVE = new Set(['queued', 'running', 'waiting-input']);
const CONSOLE_BAUD = 115200;

interface Board {
  desc: SerialDeviceDescriptor;
  code: string | null;
  jobId: string | null;
  chip: string | null;
  mac: string | null;
  console: { link: SerialLink; flush: NodeJS.Timeout; buffer: string; off: () => void } | null;
  registration: BoardRegistration | null;
  /** Bumped by every look-up, so an older answer arriving late is dropped. */
  lookups: number;
}

export interface BenchDeps {
  source: SerialDeviceSource;
  hub: JobsHub;
  bus: StationEventBus;
  settings: SettingsService;
  issuer: () => Promise<CertificateIssuer & BirthIssuer>;
  monitor: () => BrokerMonitor | undefined;
  /** Where bench-born boards' claim labels are kept until printed (memory only). */
  claimLabels: ClaimLabels;
  /** The station's port speeds and image history (its data folder): one for every job. */
  flashMemory: FlashMemory;
  /** Test hook: overrides of the ESP32 job settings (e.g. a shorter boot-log window). */
  jobOverrides?: { bootLogMs?: number };
  /** What the station knows about a MAC (server, else station log); see registration.ts. */
  registration?: (mac: string) => Promise<BoardRegistration | null>;
  log?: (line: string) => void;
}

/** Loads a profile's bundle, turning its validation failure into an error the UI shows. */
export async function loadBundleFor(p: string): Promise<FirmwareBundle> {
  try {
    return await loadProfileBundle(p);
  } catch (err) {
    if (err instanceof StationError) throw err;
    if (err instanceof JobFailure) throw new StationError(err.code, err.message, { ...(err.hint ? { hint: err.hint } : {}) });
    throw err;
  }
}

export function bundleInfo(b: FirmwareBundle): BundleInfo {
  return { name: b.name, version: b.version, chips: b.builds.map((x) => x.chipFamily), dataPartition: b.dataPartitionLabel ?? null };
}

/**
 * The Bench screen's core: the boards a device source reports (hot-plug), a gateway code per
 * board from the scanner, one ESP32 job per board on the shared queue, and a raw serial console for
 * idle boards.
 */
export class Bench {
  private readonly boards = new Map<string, Board>();
  /** Last job per board id, for boards that show up later (jobs a previous core left interrupted). */
  private readonly lastJob = new Map<string, string>();
  private stopWatch: (() => void) | undefined;
  private offUpdate: (() => void) | undefined;
  private seq = 0;
  private readonly autoStart: AutoStarter;

  constructor(private readonly deps: BenchDeps) {
    this.autoStart = new AutoStarter({
      enabled: () => deps.settings.current.bench.autoStart,
      start: (id) => this.startPlugged(id),
    });
  }

  /** `lastJobs`: board id → the job its card shows (an interrupted one, restored at start). */
  async start(lastJobs: Map<string, string> = new Map()): Promise<void> {
    for (const [id, jobId] of lastJobs) this.lastJob.set(id, jobId);
    for (const d of await this.deps.source.list().catch(() => [])) this.add(d);
    this.stopWatch = this.deps.source.watch((e) => {
      if (e.type === 'added') {
        this.add(e.device);
        this.autoStart.added(e.device.id, slotKey(e.device));
      } else {
        const b = this.boards.get(e.id);
        if (b) this.autoStart.removed(e.id, slotKey(b.desc));
        this.remove(e.id);
      }
    });
    this.offUpdate = this.deps.hub.queue.onUpdate((s) => this.onJob(s));
    this.emit();
  }

  state(): BenchState {
    const ids = new Set([...this.boards.values()].map((b) => b.jobId));
    return { devices: this.views(), jobs: this.deps.hub.list().filter((j) => j.kind === 'esp32' && (ids.has(j.id) || ACTIVE.has(j.state))) };
  }

  assignCode(deviceId: string, code: string | null): BenchDevice {
    const b = this.board(deviceId);
    b.code = code;
    this.emit();
    return this.view(b);
  }

  /**
   * Starts a job on each board. `onlyNew` (the batch start) leaves alone the boards the station knows
   * to be provisioned or revoked (a job of theirs succeeded, or the server says so); each job still
   * checks the MAC with the server before it writes anything.
   */
  async provision(deviceIds: string[], profileName: string, onlyNew = false): Promise<{ jobIds: string[]; skipped: BenchSkip[] }> {
    const profile = await this.deps.settings.resolveProfile(profileName);
    const esp = profile.esp32;
    if (!esp) throw new StationError('PROFILE_INVALID', `Profile "${profileName}" has no ESP32 settings (firmware bundle, Wi-Fi).`, { hint: 'Edit the profile in Settings → Profiles.' });
    const boards = deviceIds.map((id) => this.board(id));
    const skipped: BenchSkip[] = [];
    const start = boards.filter((b) => {
      const reason = this.skipReason(b, onlyNew);
      if (reason) skipped.push({ deviceId: b.desc.id, reason });
      return !reason;
    });
    const busy = skipped.filter((s) => s.reason === 'running');
    if (!onlyNew && busy.length === boards.length) throw new StationError('BUSY', `${boards.map((b) => b.desc.path).join(', ')} already running.`);
    if (start.length === 0) return { jobIds: [], skipped };
    const bundle = await loadBundleFor(esp.bundlePath);
    const issuer = await this.deps.issuer();
    const jobIds: string[] = [];
    for (const b of start) {
      await this.closeConsole(b);
      const spec: Esp32Resume = { kind: 'esp32', deviceId: b.desc.id, devicePath: b.desc.path, profile: profileName, gatewayCode: b.code };
      b.jobId = this.deps.hub.submit(this.job(b, profile, bundle, issuer, spec), spec);
      b.code = null;
      jobIds.push(b.jobId);
    }
    this.emit();
    return { jobIds, skipped };
  }

  private skipReason(b: Board, onlyNew: boolean): BenchSkip['reason'] | null {
    const job = b.jobId ? this.deps.hub.queue.get(b.jobId) : undefined;
    if (job && ACTIVE.has(job.state)) return 'running';
    if (!onlyNew) return null;
    if (job?.state === 'succeeded' || b.registration?.state === 'provisioned') return 'provisioned';
    if (b.registration?.state === 'revoked') return 'revoked';
    return null;
  }

  /** Auto-start: a board just plugged in starts with the default profile, if it is idle and new. */
  private async startPlugged(deviceId: string): Promise<void> {
    const profile = this.deps.settings.current.activeProfile;
    if (!profile || !this.boards.has(deviceId)) return;
    try {
      await this.provision([deviceId], profile, true);
    } catch (err) {
      this.deps.log?.(`[bench] auto-start on ${this.boards.get(deviceId)?.desc.path ?? deviceId} did not start: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Names a slot (null forgets the name); kept in the station settings. */
  async nameSlot(key: string, name: string | null): Promise<BenchDevice[]> {
    await this.deps.settings.patch((d) => {
      d.bench.slots = renamed(d.bench.slots, key, name);
    });
    this.emit();
    return this.views();
  }

  /** Looks up again what the station knows about the boards' MACs (all, or those with `mac`). */
  refreshRegistrations(mac?: string): void {
    for (const b of this.boards.values()) if (b.mac && (!mac || b.mac === mac)) void this.lookUp(b);
  }

  private async lookUp(b: Board): Promise<void> {
    const lookup = this.deps.registration;
    const mac = b.mac;
    if (!lookup || !mac) return;
    const n = ++b.lookups;
    const r = await lookup(mac).catch(() => null);
    if (n !== b.lookups || b.mac !== mac || this.boards.get(b.desc.id) !== b) return;
    if (JSON.stringify(r) === JSON.stringify(b.registration)) return;
    b.registration = r;
    this.emit();
  }

  /** The job again from what was kept of it (a retry after the station core restarted). */
  async rebuild(spec: Esp32Resume): Promise<JobDefinition> {
    const b = this.boards.get(spec.deviceId);
    if (!b) throw new StationError('NOT_FOUND', `The board on ${spec.devicePath} is not on this station now.`, { hint: 'Plug it in again, then retry.' });
    const profile = await this.deps.settings.resolveProfile(spec.profile);
    if (!profile.esp32) throw new StationError('PROFILE_INVALID', `Profile "${spec.profile}" has no ESP32 settings any more.`, { hint: 'Edit the profile in Settings → Profiles.' });
    await this.closeConsole(b);
    return this.job(b, profile, await loadBundleFor(profile.esp32.bundlePath), await this.deps.issuer(), spec);
  }

  /** The job for board `b`; what it learns about its certificates is kept in `spec` for a retry by a later core. */
  private job(b: Board, profile: ResolvedProfile, bundle: FirmwareBundle, issuer: CertificateIssuer & BirthIssuer, spec: Esp32Resume): JobDefinition {
    const s = this.deps.settings.current;
    const code = spec.gatewayCode;
    const run = { operator: s.operator || os.userInfo().username, stationId: s.stationId, reprovision: 'ask' as const, ...(code ? { gatewayCode: code } : {}) };
    return esp32ProvisionJob({
      device: b.desc,
      openLink: () => this.deps.source.link(b.desc),
      bundle,
      issuer,
      birth: { issuer, label: (jobId, label) => this.deps.claimLabels.put(jobId, label) },
      ...(this.deps.monitor() ? { monitor: this.deps.monitor()! } : {}),
      seq: ++this.seq,
      portRates: this.deps.flashMemory.portRates,
      imageHistory: this.deps.flashMemory.imageHistory,
      settings: esp32JobSettings(profile, profile.wifiPassword, run, this.deps.jobOverrides),
      memory: identityMemoryFor(spec, (changed) => this.deps.hub.specChanged(changed)),
    });
  }

  async console(deviceId: string, open: boolean): Promise<BenchDevice> {
    const b = this.board(deviceId);
    if (!open) {
      await this.closeConsole(b);
    } else if (!b.console) {
      if (b.jobId && ACTIVE.has(this.deps.hub.queue.get(b.jobId)?.state ?? '')) {
        throw new StationError('BUSY', `${b.desc.path} is being provisioned; its output is shown from the job.`);
      }
      const link = this.deps.source.link(b.desc);
      try {
        await link.open({ baudRate: CONSOLE_BAUD });
      } catch (err) {
        throw new StationError('PORT_BUSY', `Cannot open ${b.desc.path}: ${err instanceof Error ? err.message : String(err)}`);
      }
      const decoder = new TextDecoder();
      const c: NonNullable<Board['console']> = {
        link,
        buffer: '',
        flush: setInterval(() => {
          if (!c.buffer) return;
          this.deps.bus.emit('console.data', { deviceId, text: c.buffer });
          c.buffer = '';
        }, 100),
        off: () => undefined,
      };
      const offData = link.onData((chunk) => {
        c.buffer += decoder.decode(chunk, { stream: true });
        if (c.buffer.length > 64 * 1024) c.buffer = c.buffer.slice(-64 * 1024);
      });
      const offClose = link.onClose(() => {
        if (b.console === c) void this.closeConsole(b);
      });
      c.off = () => {
        offData();
        offClose();
      };
      b.console = c;
    }
    this.emit();
    return this.view(b);
  }

  async close(): Promise<void> {
    this.stopWatch?.();
    this.offUpdate?.();
    this.autoStart.close();
    for (const b of this.boards.values()) await this.closeConsole(b);
  }

  private add(desc: SerialDeviceDescriptor): void {
    const old = this.boards.get(desc.id);
    this.boards.set(
      desc.id,
      old ? { ...old, desc } : { desc, code: null, jobId: this.lastJob.get(desc.id) ?? null, chip: null, mac: null, console: null, registration: null, lookups: 0 },
    );
    this.emit();
  }

  private remove(id: string): void {
    const b = this.boards.get(id);
    if (!b) return;
    void this.closeConsole(b);
    this.boards.delete(id);
    this.emit();
  }

  private onJob(s: JobSnapshot): void {
    for (const b of this.boards.values()) {
      // A retry is a new job: the board follows it, so its card shows the retry's progress.
      if (s.retryOf && b.jobId === s.retryOf) {
        b.jobId = s.id;
        this.emit();
      }
      if (b.jobId !== s.id) continue;
      const chip = s.facts?.chip ?? b.chip;
      const mac = s.mac ?? b.mac;
      if (chip !== b.chip || mac !== b.mac) {
        if (mac !== b.mac) b.registration = null;
        b.chip = chip;
        b.mac = mac;
        this.emit();
      }
      // Once the job has ended, what it did is what the server knows now.
      if (isFinishedState(s.state)) void this.lookUp(b);
    }
  }

  private async closeConsole(b: Board): Promise<void> {
    const c = b.console;
    if (!c) return;
    b.console = null;
    clearInterval(c.flush);
    c.off();
    await c.link.close().catch(() => undefined);
    this.emit();
  }

  private board(id: string): Board {
    const b = this.boards.get(id);
    if (!b) throw new StationError('NOT_FOUND', `No board ${id} on this station (unplugged?).`);
    return b;
  }

  private view(b: Board): BenchDevice {
    return {
      id: b.desc.id,
      path: b.desc.path,
      slot: slotOf(b.desc, this.deps.settings.current.bench.slots),
      bridge: b.desc.bridge ?? null,
      vendorId: b.desc.vendorId ?? null,
      productId: b.desc.productId ?? null,
      likelyEsp32: b.desc.likelyEsp32,
      resetMode: b.desc.resetMode,
      chip: b.chip,
      mac: b.mac,
      gatewayCode: b.code,
      jobId: b.jobId,
      consoleOpen: b.console !== null,
      registration: b.registration,
    };
  }

  private views(): BenchDevice[] {
    return [...this.boards.values()].map((b) => this.view(b)).sort(compareSlots);
  }

  private emit(): void {
    this.deps.bus.emit('bench.devices', this.views());
  }
}
