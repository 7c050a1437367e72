/**
 * Starts a real Mosquitto (Debian's 2.0.x) for tests.
 *
 * `startMosquitto(kitDir)` runs a broker kit made by `tds-server broker-kit` as generated: the kit's
 * `mosquitto.conf` with only the listener moved to a free loopback port and the file paths pointed at
 * the kit folder (a kit is normally built for /etc/mosquitto/tds). `startMosquitto(confPath)` runs a
 * configuration file exactly as given (its `listener` line gives the port).
 *
 * Mosquitto drops root privileges to the `mosquitto` user, which cannot read a private temp folder,
 * so the runtime configuration sets `user` to the current user: as root it stays root, as non-root
 * the option has no effect. The dynamic-security plugin's state file (which the plugin rewrites)
 * starts as the kit's copy in the runtime folder. The process is stopped by PID (see processes.ts).
 */
import { copyFileSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from './ports.js';
import { startProcess, type StartedProcess } from './processes.js';
import { tempDir } from './temp.js';
import { requireTool } from './tools.js';

export interface StartMosquittoOptions {
  /** Listener port (kit mode). A free loopback port when omitted; pass the old port to restart. */
  port?: number;
  /** Keep retained messages across restarts in this folder (kit mode). */
  persistenceDir?: string;
  /** Extra configuration lines appended in kit mode (e.g. a second listener). */
  extraConf?: string[];
  /** Write the broker's PID here once it runs (for `--reload pidfile:...`); removed on stop. */
  pidFile?: string;
}

export interface RunningMosquitto {
  host: string;
  port: number;
  pid: number;
  /** The configuration file the broker runs with. */
  confPath: string;
  process: StartedProcess;
  /** Broker log so far (stderr, log_type all). */
  output(): string;
  /** SIGHUP (re-reads CRL, ACL and certificates) and waits until the broker logged the reload. */
  reload(): Promise<void>;
  /** SIGTERM, then SIGKILL; resolves when the process is gone. */
  stop(): Promise<void>;
}

const FILE_KEYS = /^(cafile|certfile|keyfile|crlfile|acl_file|password_file)\s+(.+)$/;

const PLUGIN_STATE = /^plugin_opt_config_file\s+(.+)$/;

function kitRuntimeConf(kitDir: string, runtimeDir: string, port: number, opts: StartMosquittoOptions): string {
  const conf = readFileSync(path.join(kitDir, 'mosquitto.conf'), 'utf8');
  const out = [
    '# test runtime: generated from the broker kit by test/support/mosquitto.ts',
    `user ${userInfo().username}`,
    'log_dest stderr',
    'log_type all',
    'log_timestamp_format %H:%M:%S',
    opts.persistenceDir ? `persistence true\npersistence_location ${opts.persistenceDir}/` : 'persistence false',
  ];
  let listeners = 0;
  for (const line of conf.split('\n')) {
    const t = line.trim();
    const file = FILE_KEYS.exec(t);
    const state = PLUGIN_STATE.exec(t);
    if (state) {
      const runtimeState = path.join(runtimeDir, 'dynamic-security.json');
      const kitState = path.join(kitDir, 'dynamic-security.json');
      if (existsSync(kitState)) copyFileSync(kitState, runtimeState);
      out.push(`plugin_opt_config_file ${runtimeState}`);
    } else if (/^listener\s+\d+/.test(t)) {
      listeners++;
      out.push(`listener ${port} 127.0.0.1`);
    } else if (file) {
      out.push(`${file[1]} ${path.join(kitDir, path.basename(file[2]!.trim()))}`);
    } else out.push(line);
  }
  if (listeners !== 1) throw new Error(`${kitDir}/mosquitto.conf must have exactly one listener line, found ${listeners}`);
  out.push(...(opts.extraConf ?? []));
  return out.join('\n') + '\n';
}

export async function startMosquitto(kitDirOrConf: string, opts: StartMosquittoOptions = {}): Promise<RunningMosquitto> {
  const bin = requireTool('mosquitto', 'mosquitto');
  if (!existsSync(kitDirOrConf)) throw new Error(`no broker kit or configuration at ${kitDirOrConf}`);
  let confPath: string;
  let port: number;
  let runtime: { path: string; remove(): void } | undefined;
  if (statSync(kitDirOrConf).isDirectory()) {
    port = opts.port ?? (await freePort());
    runtime = tempDir('tds-mosquitto-');
    confPath = path.join(runtime.path, 'mosquitto.conf');
    writeFileSync(confPath, kitRuntimeConf(kitDirOrConf, runtime.path, port, opts));
  } else {
    confPath = kitDirOrConf;
    const m = /^\s*listener\s+(\d+)/m.exec(readFileSync(confPath, 'utf8'));
    if (!m) throw new Error(`${confPath} has no "listener <port>" line`);
    port = Number(m[1]);
  }
  const proc = startProcess('mosquitto', bin, ['-c', confPath]);
  try {
    await proc.waitForOutput(/mosquitto version \S+ running/, 15_000);
    await waitForPort(port, '127.0.0.1', 10_000);
    // Mosquitto writes pid_file only when daemonised, so the harness writes it.
    if (opts.pidFile) writeFileSync(opts.pidFile, `${proc.pid}\n`);
  } catch (err) {
    await proc.stop(1_000);
    runtime?.remove();
    throw err;
  }
  const countReloads = (): number => (proc.output().match(/Reloading config/g) ?? []).length;
  return {
    host: '127.0.0.1',
    port,
    pid: proc.pid,
    confPath,
    process: proc,
    output: () => proc.output(),
    async reload() {
      const before = countReloads();
      process.kill(proc.pid, 'SIGHUP');
      const deadline = Date.now() + 10_000;
      while (countReloads() <= before) {
        if (Date.now() > deadline) throw new Error('mosquitto did not log "Reloading config" within 10 s of SIGHUP');
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop() {
      await proc.stop(3_000);
      runtime?.remove();
      if (opts.pidFile) rmSync(opts.pidFile, { force: true });
    },
  };
}
