import os from 'node:os';
import type { ValidRequestOf } from '../../shared/ipc.js';
import type { FieldState, PiTarget } from '../../shared/views.js';
import type { JobSnapshot } from '../../shared/jobs.js';
import { StationError } from '../../shared/ipc-errors.js';
import type { BrokerMonitor } from '../monitor/broker-monitor.js';
import { MdnsPiDiscovery } from '../pi/discovery.js';
import type { HostKeyStore } from '../pi/host-key-store.js';
import type { CertificateIssuer } from '../certs/issuer.js';
import { piJobSettings } from '../pi/job-settings.js';
import { piProvisionJob } from '../pi/pi-job.js';
import type { SshAuth } from '../pi/ssh-session.js';
import type { JobDefinition } from '../jobs/types.js';
import type { StationEventBus } from './dispatch.js';
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
  discovery?: PiDiscovery;
  /** firmware/rpi when not found next to the code (packaged app). */
  agentDir?: string;
}

const ACTIVE = new Set(['queued', 'running', 'waiting-input']);

export function manualTargetId(host: string, port: number): string {
  return `manual:${host.toLowerCase()}:${port}`;
}

/** The Field screen's core: discovered + hand-entered Pis and one SSH provisioning job per Pi. */
export class Field {
  private discovered: DiscoveredPi[] = [];
  private readonly jobs = new Map<string, string>();
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
    this.offUpdate = this.deps.hub.queue.onUpdate((s) => this.followRetry(s));
  }

  close(): void {
    this.stop?.();
    this.offUpdate?.();
  }

  /** A retry is a new job: the target follows it (its state, and the busy check of `provision`). */
  private followRetry(s: JobSnapshot): void {
    if (!s.retryOf) return;
    for (const [targetId, jobId] of this.jobs) {
      if (jobId !== s.retryOf) continue;
      this.jobs.set(targetId, s.id);
      this.emit();
    }
  }

  targets(): PiTarget[] {
    const manual: PiTarget[] = this.deps.settings.current.manualHosts.map((h) => ({
      id: h.id,
      host: h.host,
      port: h.port,
      name: h.name,
      source: 'manual',
      addresses: [h.host],
      model: null,
      mac: null,
      jobId: this.jobs.get(h.id) ?? null,
    }));
    const mdns: PiTarget[] = this.discovered.map((d) => ({ ...d, source: 'mdns', jobId: this.jobs.get(d.id) ?? null }));
    return [...mdns, ...manual];
  }

  state(): FieldState {
    const ids = new Set(this.jobs.values());
    return {
      targets: this.targets(),
      jobs: this.deps.hub.list().filter((j) => j.kind === 'pi' && (ids.has(j.id) || ACTIVE.has(j.state))),
      discovery: this.deps.discovery ? 'running' : 'unavailable',
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
      d.manualHosts.push({ id, host: req.host, port: req.port, name: req.name?.trim() || null });
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

  async provision(req: ValidRequestOf<'field.provision'>): Promise<{ jobId: string }> {
    const target = this.targets().find((t) => t.id === req.targetId);
    if (!target) throw new StationError('NOT_FOUND', 'That Pi is no longer in the list; add it again.');
    const current = this.jobs.get(target.id);
    if (current && ACTIVE.has(this.deps.hub.queue.get(current)?.state ?? '')) throw new StationError('BUSY', `A job is already running on ${target.host}.`);
    const auth: SshAuth =
      req.auth.method === 'password'
        ? { method: 'password', password: req.auth.password }
        : req.auth.method === 'key'
          ? { method: 'key', privateKey: req.auth.privateKeyPem, ...(req.auth.passphrase ? { passphrase: req.auth.passphrase } : {}) }
          : { method: 'agent' };
    // What a retry needs if the core stops: never the password or key (a retry then asks again).
    const spec: PiResume = { kind: 'pi', targetId: target.id, profile: req.profile, username: req.username, auth: req.auth.method, gatewayCode: req.gatewayCode ?? null };
    const def = await this.job({ target, auth, ...(req.sudoPassword ? { sudoPassword: req.sudoPassword } : {}) }, spec);
    const jobId = this.deps.hub.submit(def, spec);
    this.jobs.set(target.id, jobId);
    this.emit();
    return { jobId };
  }

  /**
   * The job again from what was kept of it (a retry after the station core restarted). A login by
   * password or key needs that secret again: the operator gives it through Provision.
   */
  async rebuild(spec: PiResume): Promise<JobDefinition> {
    const target = this.targets().find((t) => t.id === spec.targetId);
    if (!target) throw new StationError('NOT_FOUND', 'That Pi is no longer in the list; add it again.');
    if (spec.auth !== 'agent') {
      throw new StationError('CREDENTIALS_NEEDED', `The station core restarted, so the SSH ${spec.auth === 'key' ? 'key' : 'password'} for ${spec.username}@${target.host} is gone (it is never stored).`, {
        hint: 'Provision this Pi again and give the login once more.',
      });
    }
    return this.job({ target, auth: { method: 'agent' } }, spec);
  }

  /** The job for `login`'s Pi as `spec` says; what it learns about its certificates is kept in `spec` for a retry by a later core. */
  private async job(login: PiLogin, spec: PiResume): Promise<JobDefinition> {
    const { target } = login;
    const profile = await this.deps.settings.resolveProfile(spec.profile);
    if (!profile.pi) throw new StationError('PROFILE_INVALID', `Profile "${spec.profile}" has no Raspberry Pi settings.`, { hint: 'Edit the profile in Settings → Profiles.' });
    const issuer = await this.deps.issuer();
    const s = this.deps.settings.current;
    const run = { operator: s.operator || os.userInfo().username, stationId: s.stationId, reprovision: 'ask' as const, hostKeyPolicy: 'ask' as const, loginUser: spec.username };
    const monitor = this.deps.monitor();
    return piProvisionJob({
      target: { host: target.host, port: target.port, username: spec.username, auth: login.auth },
      issuer,
      ...(monitor ? { monitor } : {}),
      hostKeys: this.deps.hostKeys,
      ...(login.sudoPassword ? { sudoPassword: login.sudoPassword } : {}),
      ...(this.deps.agentDir ? { agentDir: this.deps.agentDir } : {}),
      settings: piJobSettings(profile, { ...run, ...(spec.gatewayCode ? { gatewayCode: spec.gatewayCode } : {}) }),
      memory: identityMemoryFor(spec, (changed) => this.deps.hub.specChanged(changed)),
    });
  }

  private emit(): void {
    this.deps.bus.emit('field.targets', this.targets());
  }
}
