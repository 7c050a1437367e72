import os from 'node:os';
import path from 'node:path';
import type { AppInfo, StationSettingsView } from '../../shared/views.js';
import { StationError } from '../../shared/ipc-errors.js';
import { V } from '../../shared/validation.js';
import { DEFAULT_PI_PYTHON } from '../../shared/pi-agent.js';
import type { SerialDeviceSource } from '../devices/serial-link.js';
import { ClaimDesk } from '../claims/claim-desk.js';
import { UsbSerialSource } from '../devices/usb-serial-source.js';
import { openFlashMemory } from '../esp32/flash-memory.js';
import { JobQueue } from '../jobs/queue.js';
import { StationLog } from '../log/station-log.js';
import { HostKeyStore } from '../pi/host-key-store.js';
import { SECRET, type SecretStore } from '../settings/secret-store.js';
import { SettingsStore } from '../settings/settings-store.js';
import type { StandaloneHost } from '../standalone/types.js';
import { AdminConsole } from './admin-console.js';
import { Bench, bundleInfo, loadBundleFor, type BenchDeps } from './bench.js';
import { lockDataDir } from './data-lock.js';
import { StationEventBus, type StationHandlers } from './dispatch.js';
import { Field, type PiDiscovery } from './field.js';
import { GatewayRenewals } from './gateway-renewals.js';
import { Gateways } from './gateways.js';
import { recoverInterrupted, UNKNOWN_STOP } from './interrupted.js';
import { ResumeFile } from './job-resume.js';
import { JobsHub } from './jobs-hub.js';
import { ClaimLabels } from './claim-labels.js';
import { LabelFiles } from './label-files.js';
import { LogView } from './log-view.js';
import { MonitorLink, type MonitorConfig } from './monitor-link.js';
import { checkProfileWorks, testBroker, type ProfileCheckDeps } from './profile-checks.js';
import { ProfileLock } from './profile-lock.js';
import { RegistrationLookup } from './registration.js';
import { ServerLink } from './server-link.js';
import { SettingsService } from './settings-service.js';
import { stationAddresses } from './station-addresses.js';

export interface StationOptions {
  dataDir: string;
  shell: 'electron' | 'web';
  version: string;
  secrets: SecretStore;
  /** USB serial ports by default; the demo and tests pass a simulator's source. */
  deviceSource?: SerialDeviceSource;
  /** mDNS discovery of Pis, when available. */
  discovery?: PiDiscovery;
  /** The bundled server; null when this build has none. */
  standalone?: StandaloneHost | null;
  /** firmware/rpi, when not next to the code (packaged app). */
  agentDir?: string;
  /** Jobs at once (default 16: one per port of a big hub). */
  concurrency?: number;
  /** Finished jobs kept in memory for the live screens (default 200; the station log keeps all). */
  keepFinishedJobs?: number;
  jobOverrides?: BenchDeps['jobOverrides'];
  /** Telemetry freshness for live presence (default: the monitor's 120 s). */
  monitorFreshnessMs?: number;
  /** Why the previous core stopped (its host restarted this one); said of the jobs it left unfinished. */
  restartReason?: string;
  /** Test hook: how a profile's broker is checked before it is saved (default: a TLS handshake). */
  brokerAnswers?: ProfileCheckDeps['brokerAnswers'];
  log?: (line: string) => void;
}

/** Where the resume specs of unfinished jobs are kept (see job-resume.ts). */
export const RESUME_FILE = 'jobs-in-flight.json';

/** The saved server URL's origin matches `url`'s exactly (scheme, host, port), so its token may go there. */
export function sameOrigin(saved: string | null, url: string): boolean {
  if (!saved) return false;
  try {
    return new URL(saved).origin === new URL(url).origin;
  } catch {
    return false;
  }
}

/**
 * The station service: the one implementation of the UI contract, composed from the core modules
 * (devices, jobs, station log, monitor, ESP32 and Pi jobs, server client) plus settings and secrets.
 * Electron IPC and the web mode's WebSocket both call `handlers`; `bus` carries the pushed events.
 * Longer than most files because it is the contract's one channel table: each handler is a line or
 * two that hands the request to the module that owns it.
 */
export class StationService {
  readonly handlers: StationHandlers;
  /** Jobs a previous core left unfinished, recorded as interrupted when this one started. */
  interruptedJobs: string[] = [];
  private readonly closers: Array<() => Promise<void> | void> = [];
  private caCache: { key: string; pem: string } | undefined;
  private readonly claims: ClaimDesk;
  /**
   * What the Admin screen talks through: in bundled mode the station's server-admin token of the
   * bundled server (the person at the station owns it); in remote mode the one station token, so
   * Admin works only when that token is an admin's.
   */
  private readonly adminServer: ServerLink;
  private readonly profileLock: ProfileLock;
  private readonly labels: LabelFiles;

  private constructor(
    private readonly options: StationOptions,
    readonly bus: StationEventBus,
    readonly settings: SettingsService,
    readonly hub: JobsHub,
    readonly bench: Bench,
    readonly field: Field,
    readonly server: ServerLink,
    readonly monitor: MonitorLink,
    private readonly logView: LogView,
    private readonly gateways: Gateways,
    private readonly claimLabels: ClaimLabels,
  ) {
    this.claims = new ClaimDesk(() => server.client());
    this.adminServer = new ServerLink(settings, () => options.standalone?.adminEndpoint() ?? null);
    this.closers.push(() => this.adminServer.close());
    this.profileLock = new ProfileLock(settings);
    this.labels = new LabelFiles(hub, logView, claimLabels);
    this.handlers = this.buildHandlers();
  }

  static async start(options: StationOptions): Promise<StationService> {
    const log = options.log ?? ((l: string) => console.error(l));
    const lock = await lockDataDir(options.dataDir);
    const store = new SettingsStore(options.dataDir);
    const persisted = await store.load();
    const standalone = options.standalone ?? null;
    // The monitor reads its configuration through the service, which is built below.
    const ref: { service?: StationService } = {};
    const bus = new StationEventBus();
    const settings = new SettingsService(store, options.secrets, bus, () => {
      const st = standalone?.status();
      return { bundledServer: st ? st.server : null, embeddedBroker: st ? st.broker : null };
    });
    const stationLog = StationLog.open(path.join(options.dataDir, 'station-log.sqlite'), { stationId: persisted.stationId });
    const queue = new JobQueue({ concurrency: options.concurrency ?? 16, ...(options.keepFinishedJobs !== undefined ? { keepFinished: options.keepFinishedJobs } : {}) });
    const resume = new ResumeFile(path.join(options.dataDir, RESUME_FILE), log);
    const interrupted = recoverInterrupted(stationLog, await resume.load(), options.restartReason ?? UNKNOWN_STOP);
    for (const j of interrupted) resume.remove(j.snapshot.id);
    const hub = new JobsHub(queue, stationLog, bus, resume);
    hub.restore(interrupted);
    const server = new ServerLink(settings, () => standalone?.endpoint() ?? null);
    const monitor = new MonitorLink(bus, () => ref.service!.monitorConfig(), options.monitorFreshnessMs);
    const source = options.deviceSource ?? new UsbSerialSource({ onWarning: log });
    // The speed each port holds and the image each MAC last received, kept in the data folder.
    const flashMemory = await openFlashMemory(options.dataDir, stationLog, { onWarning: log });
    const claimLabels = new ClaimLabels();
    const registration = new RegistrationLookup(server, stationLog);
    const bench = new Bench({
      source,
      hub,
      bus,
      settings,
      flashMemory,
      issuer: () => server.issuer(),
      monitor: () => monitor.current,
      claimLabels,
      registration: (mac) => registration.of(mac),
      log,
      ...(options.jobOverrides ? { jobOverrides: options.jobOverrides } : {}),
    });
    const field = new Field({
      hub,
      bus,
      settings,
      issuer: () => server.issuer(),
      monitor: () => monitor.current,
      hostKeys: HostKeyStore.inDataDir(options.dataDir),
      stationLog,
      ...(options.discovery ? { discovery: options.discovery } : {}),
      ...(options.agentDir ? { agentDir: options.agentDir } : {}),
    });
    hub.rebuild = (spec) => (spec.kind === 'esp32' ? bench.rebuild(spec) : field.rebuild(spec));
    const gateways = new Gateways(server, (mac) => monitor.isOnline(mac), ({ gateway, certificate, reason }) => {
      stationLog.recordEvent({
        kind: 'revocation',
        operator: settings.current.operator || os.userInfo().username,
        mac: gateway.mac,
        gatewayCode: gateway.code,
        gatewayId: gateway.id,
        certSerial: certificate.serialNumber,
        reason,
      });
      bus.emit('log.appended', { id: certificate.serialNumber });
    });
    const service = new StationService(options, bus, settings, hub, bench, field, server, monitor, new LogView(stationLog), gateways, claimLabels);
    ref.service = service;
    service.interruptedJobs = interrupted.map((j) => j.snapshot.id);
    service.closers.push(
      () => bench.close(),
      () => field.close(),
      () => monitor.close(),
      () => queue.shutdown(),
      () => hub.close(),
      () => resume.flush(),
      () => server.close(),
      () => flashMemory.portRates.flush(),
      () => stationLog.close(),
      () => claimLabels.clear(),
      () => lock.release(),
    );
    if (standalone) service.closers.unshift(() => standalone.close());

    if (standalone && persisted.server.mode === 'bundled' && persisted.configured) {
      try {
        await standalone.start({ broker: persisted.broker.startEmbedded ? { port: persisted.broker.port, deviceHost: persisted.broker.deviceHost } : null });
      } catch (err) {
        log(`[station] the bundled server did not start: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    const lastJobs = (kind: 'esp32' | 'pi'): Map<string, string> =>
      new Map(interrupted.flatMap((j) => (j.spec?.kind === kind ? [[j.spec.kind === 'esp32' ? j.spec.deviceId : j.spec.targetId, j.snapshot.id] as const] : [])));
    await bench.start(lastJobs('esp32'));
    field.start(lastJobs('pi'));
    void monitor.reconnect();
    return service;
  }

  async close(): Promise<void> {
    for (const c of this.closers.splice(0)) {
      try {
        await c();
      } catch (err) {
        console.error('[station] close:', err);
      }
    }
  }

  /** Monitor identity + broker address + CA, or null while the station lacks one of them. */
  private async monitorConfig(): Promise<MonitorConfig | null> {
    const s = this.settings.current;
    const m = s.broker.monitor;
    if (!m) return null;
    const key = await this.settings.secrets.get(SECRET.monitorKey);
    if (!key) return null;
    const ca = s.broker.caPem ?? (await this.serverCaPem());
    return { host: s.broker.host, port: s.broker.port, ca, cert: m.certPem, key, name: m.name };
  }

  /** The issuance server's CA (the broker's certificate chains to it unless a broker CA is set). */
  private async serverCaPem(): Promise<string> {
    const e = await this.server.endpoint();
    const key = `${e.url}\0${e.caPem ?? ''}`;
    if (this.caCache?.key !== key) this.caCache = { key, pem: await this.server.call((c) => c.getCaPem()) };
    return this.caCache.pem;
  }

  /**
   * The stored API token, only for the saved remote server's own origin: a test of any other URL
   * (another host, port or scheme, plain http included) must bring its own token.
   */
  private async savedTokenFor(url: string): Promise<string> {
    const s = this.settings.current.server;
    const token = await this.settings.secrets.get(SECRET.serverToken);
    if (s.mode === 'remote' && token && sameOrigin(s.url, url)) return token;
    const message = s.mode === 'remote' && s.url
      ? `Paste the API token for ${new URL(url).origin}: the saved token is only sent to the saved server (${new URL(s.url).origin}).`
      : `Paste the API token for ${new URL(url).origin}.`;
    throw new StationError('INVALID_INPUT', message, { issues: [{ field: 'token', key: V.tokenForUrl, message }] });
  }

  private async afterConnectionChange(): Promise<StationSettingsView> {
    this.caCache = undefined;
    this.server.forgetIdentity();
    this.adminServer.forgetIdentity();
    void this.monitor.reconnect();
    return this.settings.view();
  }

  private appInfo(): AppInfo {
    const s = this.settings.current;
    return {
      version: this.options.version,
      shell: this.options.shell,
      platform: `${process.platform}-${process.arch}`,
      dataDir: this.options.dataDir,
      secretStore: this.settings.secrets.kind,
      stationId: s.stationId,
      firstRunNeeded: !s.configured,
      features: { bench: true, field: true, bundledServer: !!this.options.standalone, embeddedBroker: !!this.options.standalone },
    };
  }

  private buildHandlers(): StationHandlers {
    const standalone = this.options.standalone ?? null;
    const renewals = new GatewayRenewals(this.server, this.gateways);
    return {
      ...new AdminConsole(this.adminServer).handlers(),
      'app.info': async () => this.appInfo(),
      // The core has no screen: the Electron shell answers this itself, a browser uses its own notifications.
      'app.notify': async () => ({ shown: false }),
      'station.addresses': async () => stationAddresses(),
      'settings.get': () => this.settings.view(),
      'settings.update': (r) => this.settings.update(r),
      'settings.setServer': async (r) => {
        if (r.mode === 'bundled' && !standalone) throw new StationError('UNAVAILABLE', 'This build has no bundled server; use a remote server.');
        await this.settings.setServer(r);
        if (r.mode === 'bundled' && standalone && this.settings.current.configured && !standalone.status().server.running) {
          const b = this.settings.current.broker;
          await standalone.start({ broker: b.startEmbedded ? { port: b.port, deviceHost: b.deviceHost } : null });
        }
        return this.afterConnectionChange();
      },
      'settings.setBroker': async (r) => {
        await this.settings.setBroker(r);
        return this.afterConnectionChange();
      },
      'server.identity': () => this.server.identity(),
      'server.test': async (r) => ({ ok: true, detail: await ServerLink.test(r.url, r.token ?? (await this.savedTokenFor(r.url)), r.caPem) }),
      'firstRun.run': async (r) => {
        if (!standalone) throw new StationError('UNAVAILABLE', 'This build has no bundled server; configure a remote server in Settings.');
        if (this.settings.current.configured && this.settings.current.server.mode === 'bundled' && (await standalone.initialised())) {
          throw new StationError('CONFLICT', 'This station is already set up.');
        }
        const result = await standalone.firstRun(r, this.settings.current.stationId, (p) => this.bus.emit('firstRun.progress', p));
        await this.settings.secrets.set(SECRET.bundledToken, result.token);
        await this.settings.setMonitorIdentity(result.monitor.certPem, result.monitor.keyPem);
        await this.settings.patch((d) => {
          d.operator = r.operator;
          d.server = { mode: 'bundled', url: null, caPem: null, accountId: result.accountId };
          d.broker.caPem = result.caPem;
          d.broker.deviceHost = r.deviceBrokerHost;
          d.broker.startEmbedded = r.startBroker;
          if (result.broker) {
            d.broker.mode = 'embedded';
            d.broker.host = result.broker.host;
            d.broker.port = result.broker.port;
          } else d.broker.mode = 'external';
          if (d.profiles.length === 0) {
            d.profiles.push({
              name: r.profileName,
              accountId: result.accountId,
              codeTemplate: 'GW-{mac12}',
              nameTemplate: 'Gateway {MAC12}',
              brokerHost: r.deviceBrokerHost,
              brokerPort: result.broker?.port ?? r.brokerPort,
              keyType: 'ec',
              keyMode: 'station',
              pi: { installPrefix: '/', serviceManager: 'systemd', onlineTimeoutSec: 60, python: DEFAULT_PI_PYTHON },
            });
            d.activeProfile = r.profileName;
          }
          d.configured = true;
        });
        return this.afterConnectionChange();
      },
      'bundled.backup': async (r) => {
        if (!standalone) throw new StationError('UNAVAILABLE', 'This build has no bundled server.');
        return standalone.backup(r.path, r.passphrase);
      },
      'bundled.checkBackup': async (r) => {
        if (!standalone) throw new StationError('UNAVAILABLE', 'This build has no bundled server.');
        return standalone.check(r.path, r.passphrase);
      },
      'bundled.restore': async (r) => {
        if (!standalone) throw new StationError('UNAVAILABLE', 'This build has no bundled server.');
        const b = this.settings.current.broker;
        const result = await standalone.restore(r.path, r.passphrase, {
          broker: b.startEmbedded ? { port: b.port, deviceHost: b.deviceHost } : null,
          ...(r.caPassphrase ? { caPassphrase: r.caPassphrase } : {}),
        });
        await this.afterConnectionChange();
        this.bus.emit('settings.changed', await this.settings.view());
        return result;
      },
      'bundled.setOpenEnrolment': async (r) => {
        if (!standalone) throw new StationError('UNAVAILABLE', 'This build has no bundled server.');
        if (this.settings.current.server.mode !== 'bundled') {
          throw new StationError('CONFLICT', 'Open enrolment is set here for the bundled server only.', { hint: 'On a remote server, its administrator runs "tds-server zero-touch --open-enrolment on|off".' });
        }
        const b = this.settings.current.broker;
        await standalone.setOpenEnrolment(r.on, { broker: b.startEmbedded ? { port: b.port, deviceHost: b.deviceHost } : null });
        const view = await this.afterConnectionChange();
        this.bus.emit('settings.changed', view);
        return view;
      },
      'profiles.list': () => this.settings.profiles(),
      'profiles.save': async (r) => {
        this.profileLock.assertUnlocked();
        await checkProfileWorks(r, { secrets: this.settings.secrets, ...(this.options.brokerAnswers ? { brokerAnswers: this.options.brokerAnswers } : {}) });
        return this.settings.saveProfile(r);
      },
      'profiles.delete': async (r) => {
        this.profileLock.assertUnlocked();
        return this.settings.deleteProfile(r.name);
      },
      'profiles.testBroker': (r) => testBroker(r.host, r.port, this.options.brokerAnswers),
      'profiles.setLock': async (r) => {
        await this.profileLock.set(r);
        return this.settings.view();
      },
      'bundles.inspect': async (r) => bundleInfo(await loadBundleFor(r.path)),
      'monitor.status': async () => this.monitor.status(),
      'bench.state': async () => this.bench.state(),
      'bench.assignCode': async (r) => this.bench.assignCode(r.deviceId, r.code),
      'bench.provision': (r) => this.bench.provision(r.deviceIds, r.profile, r.onlyNew),
      'bench.console': (r) => this.bench.console(r.deviceId, r.open),
      'bench.nameSlot': (r) => this.bench.nameSlot(r.slot, r.name),
      'bench.setOptions': (r) =>
        this.settings.patch((d) => {
          d.bench = { ...d.bench, ...Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) };
        }),
      'jobs.list': async () => this.hub.list(),
      'jobs.cancel': async (r) => this.hub.cancel(r.jobId),
      'jobs.retry': async (r) => ({ jobId: await this.hub.retry(r.jobId) }),
      'jobs.answer': async (r) => this.hub.answer(r.jobId, r.questionId, r.choice, r.secret),
      'jobs.clearFinished': async () => {
        const list = this.hub.clearFinished();
        // The cards of the cleared boards say what the server knows of them (provisioned, revoked).
        this.bench.refreshRegistrations();
        return list;
      },
      'jobs.log': async (r) => this.hub.lines(r.jobId),
      'labels.render': (r) => this.labels.file(r.jobId, r.format),
      'labels.sheet': (r) => this.labels.sheet(r.jobIds),
      'field.state': () => this.field.state(),
      'field.addHost': (r) => this.field.addHost(r),
      'field.removeHost': (r) => this.field.removeHost(r.targetId),
      'field.provision': (r) => this.field.provision(r),
      'field.probe': (r) => this.field.probe(r),
      'field.forgetHostKey': (r) => this.field.forgetHostKey(r.targetId),
      'gateways.list': (r) => this.gateways.list(r.search, r.page, r.expiresWithinDays),
      'gateways.get': (r) => this.gateways.get(r.id),
      'gateways.telemetry': (r) => this.gateways.telemetry(r.id),
      'gateways.revoke': async (r) => {
        const g = await this.gateways.revoke(r.id, r.reason);
        this.bench.refreshRegistrations(g.mac);
        return g;
      },
      'gateways.renew': (r) => renewals.renew(r.id, r.mode),
      'gateways.confirmRenewal': (r) => renewals.confirm(r.id, r.serialNumber),
      'gateways.cancelRenewal': (r) => renewals.cancel(r.id, r.serialNumber),
      'gateways.presence': (r) => renewals.presence(r.id, r.days),
      'gateways.downloadZip': (r) => this.gateways.zip(r.id),
      'gateways.importCsv': (r) => this.gateways.importCsv(r.csv),
      'log.query': async (r) => this.logView.query(r),
      'log.get': async (r) => this.logView.get(r.id),
      'log.exportCsv': async (r) => this.logView.exportCsv(r),
      'log.today': async () => this.logView.today(),
      'claim.preview': (r) => this.claims.preview(r.device),
      'claim.approve': (r) => this.claims.approve(r),
      'claim.reject': (r) => this.claims.reject(r),
    };
  }
}

