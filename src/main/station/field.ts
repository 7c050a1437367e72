import os from 'node:os';
import type { ValidRequestOf } from '../../shared/ipc.js';
import type { FieldMemoryView, FieldState, PiTarget } from '../../shared/views.js';
import type { JobSnapshot } from '../../shared/jobs.js';
import { StationError } from '../../shared/ipc-errors.js';
import type { BrokerMonitor } from '../monitor/broker-monitor.js';
import { MdnsPiDiscovery } from '../pi/discovery.js';
import { hostKeyId, type HostKeyStore, type PinnedHostKey } from '../pi/host-key-store.js';
import type { CertificateIssuer } from '../certs/issuer.js';
import { piJobSettings } from '../pi/job-settings.js';
import { piProbeJob, piProvisionJob } from '../pi/pi-job.js';
import type { SshAuth } from '../pi/ssh-session.js';
import type { JobDefinition } from '../jobs/types.js';
import type { StationLog } from '../log/station-log.js';
import type { StationEventBus } from './dispatch.js';
import { sshAuthFor, stationKeyFiles } from './field-login.js';
import { identityMemoryFor, type ResumeSpec } from './job-resume.js';
import type { JobsHub } from './jobs-hub.js';
import type { SettingsService } from './settings-service.js';

type PiResume = Extract<ResumeSpec, { kind: 'pi' }>;

/** A Field job's login: a target from the list and its secrets (the rest of the request is in its resume spec). */
type PiLogin = { target: PiTarget; auth: SshAuth; sudoPassword?: string };

/** A Pi found by a discovery source (mDNS), as the Field screen lists it. */
export interface DiscoveredPi {
  id: string;
  host: string;
  port: number;
  name: string | null;
  addresses: string[];
  model: string | null;
  mac: string | null;
}

/** Where discovered Pis come from; absent when this station cannot browse mDNS. */
export interface PiDiscovery {
  watch(listener: (found: DiscoveredPi[]) => void): () => void;
}

/** The Pi team's mDNS discovery as the Field screen's source (the whole list on every change). */
export function mdnsDiscovery(mdns: MdnsPiDiscovery = new MdnsPiDiscovery()): PiDiscovery {
  return {
    watch: (listener) =>
      mdns.watchList((hosts) => listener(hosts.map((h) => ({ id: h.id, host: h.host, port: h.port, name: h.name, addresses: h.addresses, model: h.model, mac: h.mac })))),
  };
}

export interface FieldDeps {
  hub: JobsHub;
  bus: StationEventBus;
  settings: SettingsService;
  issuer: () => Promise<CertificateIssuer>;
  monitor: () => BrokerMonitor | undefined;
  hostKeys: HostKeyStore;
  /** Where "host key forgotten" is recorded for the auditor. */
  stationLog: StationLog;
  discovery?: PiDiscovery;
  /** firmware/rpi when not found next to the code (packaged app). */
  agentDir?: string;
}

const ACTIVE = new Set(['queued', 'running', 'waiting-input']);
/** Recent Pis remembered for the address field and the login user. */
const RECENT_HOSTS = 8;

export function manualTargetId(host: string, port: number): string {
  return `manual:${host.toLowerCase()}:${port}`;
}

/**
 * The Field screen's core: discovered + hand-entered Pis, one SSH job per Pi (provisioning, or a
 * probe that changes nothing), their pinned host keys (and forgetting one for a re-imaged Pi), and
 * what the screen remembers between runs (user, login method, key file path, recent Pis).
 */
export class Field {
  private discovered: DiscoveredPi[] = [];
  private readonly jobs = new Map<string, string>();
  /** MACs jobs read from Pis found by mDNS (a hand-entered Pi keeps its own in the settings). */
  private readonly learnedMacs = new Map<string, string>();
  private pins = new Map<string, PinnedHostKey>();
  private stop: (() => void) | undefined;
  private offUpdate: (() => void) | undefined;

  constructor(private readonly deps: FieldDeps) {}

  /** `lastJobs`: target id → the job its entry shows (an interrupted one, restored at start). */
  start(lastJobs: Map<string, string> = new Map()): void {
    for (const [targetId, jobId] of lastJobs) this.jobs.set(targetId, jobId);
    this.stop = this.deps.discovery?.watch((found) => {
      this.discovered = found;
      this.emit();
    });
    this.offUpdate = this.deps.hub.queue.onUpdate((s) => this.onJobUpdate(s));
    void this.refreshPins();
  }

  close(): void {
    this.stop?.();
    this.offUpdate?.();
  }

  private targetOf(jobId: string): string | undefined {
    for (const [targetId, id] of this.jobs) if (id === jobId) return targetId;
    return undefined;
  }

  private onJobUpdate(s: JobSnapshot): void {
    // A retry is a new job: the target follows it (its state, and the busy check of `provision`).
    if (s.retryOf) {
      const targetId = this.targetOf(s.retryOf);
      if (targetId) {
        this.jobs.set(targetId, s.id);
        this.emit();
      }
    }
    const targetId = this.targetOf(s.id);
    if (!targetId) return;
    if (s.mac) void this.learnMac(targetId, s.mac);
    // The connect step may have pinned a key; a finished job may have failed on a changed one.
    const connect = s.steps.find((st) => st.name === 'connect');
    if (connect?.status === 'done' || !ACTIVE.has(s.state)) void this.refreshPins();
  }

  private async learnMac(targetId: string, mac: string): Promise<void> {
    const manual = this.deps.settings.current.manualHosts.find((h) => h.id === targetId);
    if (manual) {
      if (manual.mac === mac) return;
      await this.deps.settings.patch((d) => {
        const h = d.manualHosts.find((x) => x.id === targetId);
        if (h) h.mac = mac;
      });
    } else {
      if (this.learnedMacs.get(targetId) === mac) return;
      this.learnedMacs.set(targetId, mac);
    }
    this.emit();
  }

  private async refreshPins(): Promise<void> {
    try {
      const list = await this.deps.hostKeys.list();
      const next = new Map(list.map((k) => [k.id, k]));
      const same = next.size === this.pins.size && [...next].every(([id, k]) => this.pins.get(id)?.key === k.key);
      this.pins = next;
      if (!same) this.emit();
    } catch {
      // A damaged known-hosts file is reported by the job that reads it.
    }
  }

  targets(): PiTarget[] {
    const pin = (host: string, port: number): PiTarget['hostKey'] => {
      const k = this.pins.get(hostKeyId(host, port));
      return k ? { keyType: k.keyType, fingerprint: k.fingerprint, firstSeen: k.firstSeen } : null;
    };
    const manual: PiTarget[] = this.deps.settings.current.manualHosts.map((h) => ({
      id: h.id,
      host: h.host,
      port: h.port,
      name: h.name,
      source: 'manual',
      addresses: [h.host],
      model: null,
      mac: h.mac,
      jobId: this.jobs.get(h.id) ?? null,
      hostKey: pin(h.host, h.port),
    }));
    const mdns: PiTarget[] = this.discovered.map((d) => ({
      ...d,
      mac: d.mac ?? this.learnedMacs.get(d.id) ?? null,
      source: 'mdns',
      jobId: this.jobs.get(d.id) ?? null,
      hostKey: pin(d.host, d.port),
    }));
    return [...mdns, ...manual];
  }

  private remembered(): FieldMemoryView {
    const f = this.deps.settings.current.field;
    return { username: f.username, authMethod: f.authMethod, keyFile: f.keyFile, waitForBoot: f.waitForBoot, recentHosts: f.recentHosts };
  }

  async state(): Promise<FieldState> {
    const ids = new Set(this.jobs.values());
    return {
      targets: this.targets(),
      jobs: this.deps.hub.list().filter((j) => (j.kind === 'pi' || j.kind === 'pi-probe') && (ids.has(j.id) || ACTIVE.has(j.state))),
      discovery: this.deps.discovery ? 'running' : 'unavailable',
      remembered: this.remembered(),
      keyFiles: await stationKeyFiles(),
    };
  }

  async addHost(req: ValidRequestOf<'field.addHost'>): Promise<PiTarget> {
    const id = manualTargetId(req.host, req.port);
    if (this.deps.settings.current.manualHosts.some((h) => h.id === id)) {
      throw new StationError('CONFLICT', `${req.host}:${req.port} is already in the list.`, {
        issues: [{ field: 'host', key: 'conflict', message: `${req.host}:${req.port} is already in the list.` }],
      });
    }
    await this.deps.settings.patch((d) => {
      d.manualHosts.push({ id, host: req.host, port: req.port, name: req.name?.trim() || null, mac: null });
    });
    this.emit();
    return this.targets().find((t) => t.id === id)!;
  }

  async removeHost(targetId: string): Promise<PiTarget[]> {
    if (!this.deps.settings.current.manualHosts.some((h) => h.id === targetId)) throw new StationError('NOT_FOUND', 'That host is not in the list.');
    await this.deps.settings.patch((d) => {
      d.manualHosts = d.manualHosts.filter((h) => h.id !== targetId);
    });
    this.emit();
    return this.targets();
  }

  /**
   * Forgets the host key pinned for a Pi (it was re-imaged and has a new one): the next connection
   * asks again. Recorded in the station log with the fingerprint forgotten and who did it.
   */
  async forgetHostKey(targetId: string): Promise<PiTarget> {
    const target = this.target(targetId);
    this.notBusy(target);
    const pinned = await this.deps.hostKeys.get(target.host, target.port);
    if (!pinned) throw new StationError('NOT_FOUND', `No host key is pinned for ${hostKeyId(target.host, target.port)}.`);
    await this.deps.hostKeys.forget(target.host, target.port);
    this.deps.stationLog.recordEvent({
      kind: 'host-key',
      operator: this.operator(),
      target: hostKeyId(target.host, target.port),
      mac: target.mac,
      reason: pinned.fingerprint,
      detail: `${pinned.keyType}, pinned ${pinned.firstSeen}`,
    });
    this.deps.bus.emit('log.appended', { id: pinned.fingerprint });
    await this.refreshPins();
    this.emit();
    return this.targets().find((t) => t.id === targetId) ?? { ...target, hostKey: null };
  }

  async provision(req: ValidRequestOf<'field.provision'>): Promise<{ jobId: string }> {
    const target = this.target(req.targetId);
    this.notBusy(target);
    const auth = await sshAuthFor(req.auth);
    // What a retry needs if the core stops: never the password or key (a retry then asks again).
    const spec: PiResume = {
      kind: 'pi',
      targetId: target.id,
      profile: req.profile,
      username: req.username,
      auth: req.auth.method,
      ...(req.auth.method === 'keyFile' ? { keyFile: req.auth.path, keyFilePassphrase: !!req.auth.passphrase } : {}),
      waitForBoot: req.waitForBoot,
      gatewayCode: req.gatewayCode ?? null,
    };
    const def = await this.job({ target, auth, ...(req.sudoPassword ? { sudoPassword: req.sudoPassword } : {}) }, spec);
    return { jobId: await this.started(target, req, this.deps.hub.submit(def, spec)) };
  }

  /** Connects and probes a Pi without changing anything on it (a `pi-probe` job). */
  async probe(req: ValidRequestOf<'field.probe'>): Promise<{ jobId: string }> {
    const target = this.target(req.targetId);
    this.notBusy(target);
    const auth = await sshAuthFor(req.auth);
    const { settings, hostKeys } = await this.jobInputs(target, auth, { profile: req.profile, username: req.username, waitForBoot: req.waitForBoot });
    const def = piProbeJob({ target: { host: target.host, port: target.port, username: req.username, auth }, issuer: await this.deps.issuer(), hostKeys, settings, ...(this.deps.agentDir ? { agentDir: this.deps.agentDir } : {}) });
    return { jobId: await this.started(target, req, this.deps.hub.submit(def)) };
  }

  /**
   * The job again from what was kept of it (a retry after the station core restarted). A login by
   * password, pasted key or a key file with a passphrase needs that secret again: the operator
   * gives it through Provision. A key file without one is read again from its path.
   */
  async rebuild(spec: PiResume): Promise<JobDefinition> {
    const target = this.target(spec.targetId);
    if (spec.auth === 'agent') return this.job({ target, auth: { method: 'agent' } }, spec);
    if (spec.auth === 'keyFile' && spec.keyFile && !spec.keyFilePassphrase) {
      return this.job({ target, auth: await sshAuthFor({ method: 'keyFile', path: spec.keyFile }) }, spec);
    }
    const what = spec.auth === 'password' ? 'password' : spec.auth === 'keyFile' ? 'key passphrase' : 'key';
    throw new StationError('CREDENTIALS_NEEDED', `The station core restarted, so the SSH ${what} for ${spec.username}@${target.host} is gone (it is never stored).`, {
      hint: 'Provision this Pi again and give the login once more.',
    });
  }

  private target(targetId: string): PiTarget {
    const target = this.targets().find((t) => t.id === targetId);
    if (!target) throw new StationError('NOT_FOUND', 'That Pi is no longer in the list; add it again.');
    return target;
  }

  private notBusy(target: PiTarget): void {
    const current = this.jobs.get(target.id);
    if (current && ACTIVE.has(this.deps.hub.queue.get(current)?.state ?? '')) throw new StationError('BUSY', `A job is already running on ${target.host}.`);
  }

  private operator(): string {
    return this.deps.settings.current.operator || os.userInfo().username;
  }

  /** Shows `jobId` on the target and remembers the login for next time (never its secrets). */
  private async started(target: PiTarget, req: ValidRequestOf<'field.probe'>, jobId: string): Promise<string> {
    this.jobs.set(target.id, jobId);
    this.emit();
    await this.deps.settings.patch((d) => {
      d.field.username = req.username;
      d.field.authMethod = req.auth.method;
      if (req.auth.method === 'keyFile') d.field.keyFile = req.auth.path;
      d.field.waitForBoot = req.waitForBoot;
      const others = d.field.recentHosts.filter((h) => !(h.host === target.host && h.port === target.port));
      d.field.recentHosts = [{ host: target.host, port: target.port, username: req.username, at: new Date().toISOString() }, ...others].slice(0, RECENT_HOSTS);
    });
    return jobId;
  }

  private async jobInputs(target: PiTarget, auth: SshAuth, o: { profile: string; username: string; waitForBoot?: boolean | undefined; gatewayCode?: string | null | undefined }) {
    const profile = await this.deps.settings.resolveProfile(o.profile);
    if (!profile.pi) throw new StationError('PROFILE_INVALID', `Profile "${o.profile}" has no Raspberry Pi settings.`, { hint: 'Edit the profile in Settings → Profiles.' });
    const s = this.deps.settings.current;
    const run = { operator: this.operator(), stationId: s.stationId, reprovision: 'ask' as const, hostKeyPolicy: 'ask' as const, loginUser: o.username };
    const settings = piJobSettings(profile, { ...run, ...(o.gatewayCode ? { gatewayCode: o.gatewayCode } : {}) });
    if (o.waitForBoot) settings.waitForBoot = true;
    return { settings, hostKeys: this.deps.hostKeys, target: { host: target.host, port: target.port, username: o.username, auth } };
  }

  /** The job for `login`'s Pi as `spec` says; what it learns about its certificates is kept in `spec` for a retry by a later core. */
  private async job(login: PiLogin, spec: PiResume): Promise<JobDefinition> {
    const { settings, hostKeys, target } = await this.jobInputs(login.target, login.auth, spec);
    const monitor = this.deps.monitor();
    return piProvisionJob({
      target,
      issuer: await this.deps.issuer(),
      ...(monitor ? { monitor } : {}),
      hostKeys,
      ...(login.sudoPassword ? { sudoPassword: login.sudoPassword } : {}),
      ...(this.deps.agentDir ? { agentDir: this.deps.agentDir } : {}),
      settings,
      memory: identityMemoryFor(spec, (changed) => this.deps.hub.specChanged(changed)),
    });
  }

  private emit(): void {
    this.deps.bus.emit('field.targets', this.targets());
  }
}
