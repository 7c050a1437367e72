import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import {
  checkBackup,
  createApiToken,
  createBackup,
  dataPath,
  initServerData,
  readCaCertificate,
  restoreBackup,
  startServer,
  WrongPassphraseError,
  type Logger,
  type RunningServer,
} from '@tds/server';
import type { ValidRequestOf } from '../../shared/ipc.js';
import type { BundledBackupContents, BundledBackupView, FirstRunProgress } from '../../shared/views.js';
import { StationError } from '../../shared/ipc-errors.js';
import type { CaPassphrase } from '../settings/ca-passphrase.js';
import { SECRET, type SecretStore } from '../settings/secret-store.js';
import { asBackupError } from './backup-refusal.js';
import type { EmbeddedBrokerOptions, FirstRunResult, StandaloneHost } from './types.js';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

/**
 * Devices on the LAN must reach the broker: it listens on every interface, with the devices' address
 * in its certificate, unless devices are simulated on this machine (loopback only). The broker
 * only admits clients with a certificate from this CA.
 */
function embeddedOptions(b: EmbeddedBrokerOptions): { port: number; host: string; altNames: string[] } {
  return LOOPBACK.has(b.deviceHost) ? { port: b.port, host: '127.0.0.1', altNames: [] } : { port: b.port, host: '0.0.0.0', altNames: [b.deviceHost] };
}

export interface StandaloneOptions {
  /** The bundled server's own data folder (inside the station's data folder). */
  dataDir: string;
  secrets: SecretStore;
  /** The CA key's passphrase: keychain-protected, or given by the operator; never plain next to the key. */
  caPassphrase: CaPassphrase;
  log?: (line: string) => void;
}

const isoNow = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * Where a backup goes: into a folder, as `tds-server-<local day>.tdsbackup` (`-2`, `-3`… when that day
 * already has one); else the path given, which must be new.
 */
async function backupTarget(out: string): Promise<string> {
  const st = await fs.stat(out).catch(() => undefined);
  if (!st?.isDirectory()) {
    if (st) throw new StationError('CONFLICT', `${out} already exists.`, { hint: 'Choose a new file name; a backup never overwrites a file.', issues: [{ field: 'path', key: 'backup.exists', message: `${out} already exists.` }] });
    return out;
  }
  const now = new Date();
  const day = `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, '0')}-${String(now.getDate()).padStart(2, '0')}`;
  for (let n = 1; ; n++) {
    const file = path.join(out, `tds-server-${day}${n > 1 ? `-${n}` : ''}.tdsbackup`);
    if (!existsSync(file)) return file;
  }
}

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/**
 * Standalone mode: the issuance server in this process on 127.0.0.1 (HTTPS with its own CA, which
 * the station pins), its data in the station's data folder, its CA passphrase from `caPassphrase`
 * (see ca-passphrase.ts). The station talks to it with the same ApiClient as to a remote server.
 */
export function createStandaloneHost(options: StandaloneOptions): StandaloneHost {
  const log = options.log ?? ((l: string) => console.error(l));
  // The bundled server's warnings and errors go to the station's log; its info lines are noise here.
  const serverLogger: Logger = {
    info() {},
    warn: (m, f) => log(`[bundled server] ${m}${f ? ` ${JSON.stringify(f)}` : ''}`),
    error: (m, f) => log(`[bundled server] ${m}${f ? ` ${JSON.stringify(f)}` : ''}`),
  };
  let running: RunningServer | undefined;
  let token: string | undefined;

  async function startFromData(pass: string, broker: EmbeddedBrokerOptions | null): Promise<RunningServer> {
    running = await startServer({
      dataDir: options.dataDir,
      passphrase: pass,
      // The API stays on loopback: only this station talks to it.
      host: '127.0.0.1',
      port: 0,
      tls: 'auto',
      logger: serverLogger,
      ...(broker ? { broker: { embedded: embeddedOptions(broker) } } : {}),
    });
    token = await options.secrets.get(SECRET.bundledToken);
    return running;
  }

  return {
    async initialised() {
      try {
        await readCaCertificate(options.dataDir);
        return existsSync(dataPath(options.dataDir, 'database'));
      } catch {
        return false;
      }
    },

    async start(o) {
      if (running) return;
      await startFromData(await options.caPassphrase.get(), o.broker);
    },

    async firstRun(input: ValidRequestOf<'firstRun.run'>, stationId: string, progress: (p: FirstRunProgress) => void): Promise<FirstRunResult> {
      const step = async <T>(name: FirstRunProgress['step'], fn: () => Promise<T>): Promise<T> => {
        progress({ step: name, state: 'running', message: null });
        try {
          const r = await fn();
          progress({ step: name, state: 'done', message: null });
          return r;
        } catch (err) {
          progress({ step: name, state: 'failed', message: err instanceof Error ? err.message : String(err) });
          throw err;
        }
      };
      if (await this.initialised()) {
        throw new StationError('CONFLICT', `${options.dataDir} already holds a bundled server.`, { hint: 'Move that folder away to start over, or keep using it.' });
      }
      await step('ca', async () => {
        const pass = await options.caPassphrase.forNewCa();
        await initServerData({
          dataDir: options.dataDir,
          passphrase: pass,
          settings: (s) => {
            s.mqtt.broker = input.deviceBrokerHost;
            s.mqtt.port = input.brokerPort;
          },
        });
      });
      const broker = input.startBroker ? { port: input.brokerPort, deviceHost: input.deviceBrokerHost } : null;
      const server = await step('server', async () => startFromData(await options.caPassphrase.get(), broker));
      const embedded = broker
        ? await step('broker', async () => {
            const e = server.broker.embedded;
            if (!e) throw new Error('the embedded broker did not start');
            return { host: '127.0.0.1', port: e.port };
          })
        : null;
      const account = await step('account', () =>
        server.repo.createAccount(input.accountName, { at: isoNow(), accountId: null, actor: 'station', action: 'account.create', object: null, sourceIp: null, result: 'ok', detail: `first run of station ${stationId}` }),
      );
      const made = await step('token', () => createApiToken(server.repo, { accountId: account.id, role: 'operator', label: `station ${stationId}` }, 'station'));
      await options.secrets.set(SECRET.bundledToken, made.token);
      token = made.token;
      const monitor = await step('monitor', () => server.service.identities.issueServiceIdentity({ kind: 'station', name: stationId }, 'station'));
      if (!monitor.privateKeyPem) throw new StationError('INTERNAL', 'the server made no key for the monitor identity');
      return {
        accountId: account.id,
        token: made.token,
        caPem: server.caPem,
        monitor: { certPem: monitor.pem, keyPem: monitor.privateKeyPem },
        broker: embedded,
      };
    },

    endpoint() {
      if (!running || !token) return null;
      return { url: running.url, token, caPem: running.caPem };
    },

    status() {
      const e = running?.broker.embedded;
      return { server: { running: !!running, url: running?.url ?? null, dataDir: options.dataDir }, broker: { running: !!e, port: e?.port ?? null } };
    },

    async close() {
      const r = running;
      running = undefined;
      await r?.close();
    },

    async backup(out, backupPassphrase) {
      if (!(await this.initialised())) throw new StationError('NOT_CONFIGURED', 'There is no bundled server to back up yet.', { hint: 'Run the first-run set-up.' });
      const file = await backupTarget(out);
      const s = await createBackup({ dataDir: options.dataDir, out: file, passphrase: backupPassphrase }).catch(asBackupError);
      return view(s);
    },

    async check(from, backupPassphrase) {
      const s = await checkBackup({ from, passphrase: backupPassphrase }).catch(asBackupError);
      // The same CA as the running server's: the station's own CA passphrase opens the restored key.
      const current = await fs.readFile(dataPath(options.dataDir, 'caCert')).catch(() => undefined);
      const inBackup = s.files.find((f) => f.path === 'ca.crt');
      return {
        ...view(s),
        paths: s.files.map((f) => f.path),
        store: s.store,
        sameCa: current && inBackup ? sha256(current) === inBackup.sha256 : null,
      } satisfies BundledBackupContents;
    },

    async restore(from, backupPassphrase, o) {
      // 1. The whole file is verified while the server still runs: a bad file changes nothing.
      await checkBackup({ from, passphrase: backupPassphrase }).catch(asBackupError);
      const wasRunning = running !== undefined;
      // The restored server's CA passphrase: the one given (kept where the station finds it next time:
      // checked before anything changes), else this station's own.
      if (o.caPassphrase !== undefined) await options.caPassphrase.canAdopt(o.caPassphrase);
      const pass = o.caPassphrase ?? (await options.caPassphrase.get());
      // 2. Stopped, its folder kept aside, the backup restored, started again.
      await this.close();
      const aside = existsSync(options.dataDir) ? `${options.dataDir}.before-restore-${isoNow().replace(/[:]/g, '')}` : null;
      if (aside) await fs.rename(options.dataDir, aside);
      try {
        const s = await restoreBackup({ from, dataDir: options.dataDir, passphrase: backupPassphrase });
        await startFromData(pass, o.broker);
        if (o.caPassphrase !== undefined) await options.caPassphrase.adopt(o.caPassphrase);
        log(`[station] bundled server restored from ${from} (backup made ${s.createdAt}); the previous data folder is kept in ${aside ?? '(none)'}`);
        return { ...view(s), previousDataDir: aside, running: true };
      } catch (err) {
        // 3. Anything failed: the previous data folder goes back and runs as before.
        await this.close().catch(() => undefined);
        await fs.rm(options.dataDir, { recursive: true, force: true });
        if (aside) await fs.rename(aside, options.dataDir);
        if (wasRunning) await startFromData(await options.caPassphrase.get().catch(() => pass), o.broker).catch((e: unknown) => log(`[station] the bundled server did not restart: ${String(e)}`));
        if (err instanceof WrongPassphraseError) {
          throw new StationError('INVALID_INPUT', 'The backup is of a server whose CA passphrase this station does not hold; nothing was changed.', {
            hint: 'Give that server\'s CA passphrase (caPassphrase).',
            issues: [{ field: 'caPassphrase', key: 'caPassphrase', message: 'This is not the CA passphrase of the backed-up server.' }],
          });
        }
        return asBackupError(err);
      }
    },
  };
}

function view(s: { file: string; bytes: number; createdAt: string; files: unknown[] }): BundledBackupView {
  return { file: s.file, bytes: s.bytes, createdAt: s.createdAt, files: s.files.length };
}
