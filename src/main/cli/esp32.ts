import path from 'node:path';
import { createInterface } from 'node:readline/promises';
import { pathToFileURL } from 'node:url';
import { Option, type Command } from 'commander';
import type { JobQuestion, JobSnapshot } from '../../shared/jobs.js';
import type { SerialDeviceDescriptor, SerialDeviceSource } from '../devices/serial-link.js';
import { UsbSerialSource } from '../devices/usb-serial-source.js';
import { formatUsbId } from '../devices/usb-ids.js';
import { loadProfileBundle } from '../esp32/bundle-path.js';
import { EspSession, ROM_BAUD, type ResetMode } from '../esp32/esp-session.js';
import { openFlashMemory, type FlashMemory } from '../esp32/flash-memory.js';
import { esp32JobSettings, requireEsp32 } from '../esp32/job-settings.js';
import { baudPlanFor } from '../esp32/port-rates.js';
import { esp32ProvisionJob, type ReprovisionPolicy } from '../esp32/provision-job.js';
import { runHeadless } from '../jobs/headless.js';
import { JobFailure, toJobError } from '../jobs/job-failure.js';
import { defaultStationLogFile } from '../log/paths.js';
import { StationLog } from '../log/station-log.js';
import type { BrokerMonitor } from '../monitor/broker-monitor.js';
import { loadProfileFile, resolveSecret } from './profile-file.js';
import { issuerFrom, monitorFrom, operatorFrom, printProfileWarnings, stationIdFrom } from './run-context.js';

/**
 * `tds-station esp32 list|probe|provision`. Progress goes to stderr, results (JSON) to stdout.
 * `--device-source MODULE` (or TDS_DEVICE_SOURCE) loads another device source: a module exporting
 * `createDeviceSource(): SerialDeviceSource | Promise<SerialDeviceSource>` (benches with network
 * serial servers, the test simulator). The product never needs to know what is behind it.
 */
export function registerEsp32Commands(program: Command): void {
  const esp32 = program.command('esp32').description('ESP32 bench: list ports, probe boards, provision them');

  withSource(
    esp32
      .command('list')
      .description('list USB serial ports (ESP32 bridges marked)')
      .option('--json', 'print JSON')
      .option('--all', 'also list ports that do not look like an ESP32'),
  ).action(async (opts: { json?: boolean; all?: boolean; deviceSource?: string }) =>
    run(async () => {
      const source = await openSource(opts.deviceSource, opts.all ?? false);
      try {
        const devices = (await source.list()).filter((d) => opts.all || d.likelyEsp32);
        if (opts.json) {
          print(devices);
        } else if (devices.length === 0) {
          console.log('No ESP32 serial ports found. Plug a board in (or use --all to see every serial port).');
        } else {
          for (const d of devices) {
            console.log(`${d.path}\t${formatUsbId(d.vendorId, d.productId)}\t${d.bridge ?? d.manufacturer ?? '?'}\treset=${d.resetMode}${d.serialNumber ? `\tserial=${d.serialNumber}` : ''}`);
          }
        }
      } finally {
        closeSource(source);
      }
      return 0;
    }),
  );

  withSource(
    esp32
      .command('probe')
      .description('read chip, revision, MAC, flash size and crystal of the board on a port')
      .requiredOption('--port <path>', 'serial port, e.g. /dev/ttyUSB0')
      .option('--max-baud <n>', "highest speed to switch to (default: the fastest the port's USB bridge holds)", parseIntArg)
      .addOption(new Option('--reset-mode <mode>', 'how to enter the bootloader').choices(['auto', 'usb-jtag', 'manual']))
      .option('--json', 'print JSON only'),
  ).action(async (opts: { port: string; maxBaud?: number; resetMode?: ResetMode; json?: boolean; deviceSource?: string }) =>
    run(async () => {
      const source = await openSource(opts.deviceSource, true);
      const ac = new AbortController();
      const onSigint = (): void => ac.abort();
      process.once('SIGINT', onSigint);
      try {
        const [device] = await resolvePorts(source, [opts.port]);
        const resetMode = opts.resetMode ?? device!.resetMode;
        if (resetMode === 'manual') {
          await prompt(`Put the board on ${device!.path} in download mode (hold BOOT, press EN, release BOOT), then press Enter`, ['']);
        }
        const session = await EspSession.connect(source.link(device!), {
          baud: ROM_BAUD,
          // The speeds a job would try on this port (without the station's memory of it).
          plan: baudPlanFor(device!, { maxBaud: opts.maxBaud }),
          resetMode,
          signal: ac.signal,
          ...(device!.vendorId !== undefined ? { usbVendorId: device!.vendorId } : {}),
          ...(device!.productId !== undefined ? { usbProductId: device!.productId } : {}),
          log: (text, level) => {
            if (!opts.json && level !== 'debug') process.stderr.write(`${text}\n`);
          },
        });
        await session.close();
        print({ port: device!.path, ...session.chip });
      } finally {
        process.removeListener('SIGINT', onSigint);
        closeSource(source);
      }
      return 0;
    }),
  );

  withSource(
    esp32
      .command('provision')
      .description('flash firmware + per-device certificate and data, reboot, and wait for each board online')
      .requiredOption('--port <path...>', 'serial port(s); repeat or list several for parallel jobs')
      .requiredOption('--profile <file>', 'provisioning profile (JSON)')
      .option('--concurrency <n>', 'boards at once (default: all)', parseIntArg)
      .addOption(
        new Option(
          '--on-active-cert <choice>',
          'when a MAC already has an active certificate: ask, replace (new identity; the old certificate is revoked once the board is online; "revoke" is accepted as the former name) or stop',
        ).choices(['ask', 'replace', 'revoke', 'stop']),
      )
      .option('--log-db <file>', `station log database (default ${defaultStationLogFile()})`)
      .option('--station-id <id>', 'this station (default: TDS_STATION_ID or the host name)')
      .option('--operator <name>', 'who runs the job (default: the profile operator or the OS user)')
      .option('--quiet', 'no progress on stderr'),
  ).action(
    async (opts: {
      port: string[];
      profile: string;
      concurrency?: number;
      onActiveCert?: ReprovisionPolicy;
      logDb?: string;
      stationId?: string;
      operator?: string;
      quiet?: boolean;
      deviceSource?: string;
    }) =>
      run(async () => {
        const file = await loadProfileFile(opts.profile);
        printProfileWarnings(file);
        const { profile } = file;
        const esp = requireEsp32(profile);
        const interactive = process.stdin.isTTY === true;
        const stationId = stationIdFrom(opts.stationId);
        const settings = esp32JobSettings(profile, file.wifiPassword ? resolveSecret(file.wifiPassword, 'esp32.wifiPassword') : '', {
          operator: operatorFrom(opts.operator, file),
          stationId,
          reprovision: opts.onActiveCert ?? (interactive ? 'ask' : 'stop'),
        });
        const bundle = await loadProfileBundle(esp.bundlePath);
        const issuer = issuerFrom(file, profile.keyMode);
        const log = StationLog.open(opts.logDb ?? defaultStationLogFile(), { stationId });
        const source = await openSource(opts.deviceSource, true);
        let monitor: BrokerMonitor | undefined;
        let memory: Partial<FlashMemory> = {};
        const ac = new AbortController();
        const onSigint = (): void => {
          process.stderr.write('\ncancelling… (Ctrl+C again to quit now)\n');
          process.once('SIGINT', () => process.exit(130));
          ac.abort();
        };
        process.once('SIGINT', onSigint);
        try {
          const devices = await resolvePorts(source, opts.port);
          monitor = await monitorFrom(file);
          memory = await flashMemoryNextTo(log);
          const jobs = await runHeadless({
            jobs: devices.map((device, i) =>
              esp32ProvisionJob({ device, openLink: () => source.link(device), bundle, issuer, ...(monitor ? { monitor } : {}), settings, seq: i + 1, ...memory }),
            ),
            log,
            signal: ac.signal,
            ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
            onUpdate: progressPrinter(opts.quiet ?? false),
            ...(interactive ? { answer: askOperator } : {}),
          });
          print(summary({ name: bundle.name, version: bundle.version, sha256: bundle.sha256 }, jobs, log.file));
          return jobs.every((j) => j.state === 'succeeded') ? 0 : 1;
        } finally {
          process.removeListener('SIGINT', onSigint);
          await monitor?.close().catch(() => undefined);
          await memory.portRates?.flush();
          closeSource(source);
          log.close();
          issuer.close();
        }
      }),
  );
}

/**
 * The port speeds and image history in the station log's folder (the station's data folder); none
 * for a log kept in memory. Then every job starts at its bridge's top rung and no sector diff is made.
 */
async function flashMemoryNextTo(log: StationLog): Promise<Partial<FlashMemory>> {
  if (log.file === ':memory:') return {};
  return openFlashMemory(path.dirname(log.file), log, { onWarning: (m) => process.stderr.write(`${m}\n`) });
}

/** Finds each requested port in the source; a port the source does not list is used as a plain path. */
export async function resolvePorts(source: SerialDeviceSource, ports: string[]): Promise<SerialDeviceDescriptor[]> {
  const listed = await source.list().catch(() => [] as SerialDeviceDescriptor[]);
  const seen = new Set<string>();
  return ports.map((p) => {
    const d = listed.find((x) => x.path === p || x.id === p) ?? { id: p, path: p, resetMode: 'auto' as const, likelyEsp32: false };
    if (seen.has(d.path)) throw new JobFailure('PROFILE_INVALID', `Port ${d.path} is listed twice.`);
    seen.add(d.path);
    return d;
  });
}

function withSource(cmd: Command): Command {
  return cmd.addOption(
    new Option('--device-source <module>', 'load serial devices from this module (createDeviceSource export) instead of USB')
      .env('TDS_DEVICE_SOURCE')
      .hideHelp(),
  );
}

async function openSource(modulePath: string | undefined, includeUnknown: boolean): Promise<SerialDeviceSource> {
  if (!modulePath) return new UsbSerialSource({ includeUnknown, onWarning: (m) => process.stderr.write(`${m}\n`) });
  const mod = (await import(pathToFileURL(path.resolve(modulePath)).href)) as { createDeviceSource?: () => SerialDeviceSource | Promise<SerialDeviceSource> };
  if (typeof mod.createDeviceSource !== 'function') throw new Error(`${modulePath} does not export createDeviceSource()`);
  return mod.createDeviceSource();
}

function closeSource(source: SerialDeviceSource): void {
  (source as { close?: () => void }).close?.();
}

/** Runs a command body; prints JobFailures as "error: message / hint" and sets the exit code. */
async function run(body: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await body();
  } catch (err) {
    const e = toJobError(err);
    process.stderr.write(`error: ${e.message}\n${err instanceof JobFailure ? `hint: ${e.hint}\n` : ''}`);
    process.exitCode = err instanceof JobFailure && (e.code === 'PROFILE_INVALID' || e.code === 'BUNDLE_INVALID') ? 2 : 1;
  }
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

function parseIntArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`'${v}' is not a positive whole number`);
  return n;
}

/** One stderr line per step change, and flashing progress in 10 % steps. */
function progressPrinter(quiet: boolean): (s: JobSnapshot) => void {
  const last = new Map<string, string>();
  return (s) => {
    if (quiet) return;
    const running = s.steps.find((st) => st.status === 'running');
    const pct = running?.progress !== undefined ? Math.floor(running.progress * 10) * 10 : undefined;
    const key = `${s.state}|${running?.name ?? ''}|${pct ?? ''}`;
    if (last.get(s.id) === key) return;
    last.set(s.id, key);
    const who = `[${s.target}${s.mac ? ` ${s.mac}` : ''}]`;
    if (s.state === 'succeeded') process.stderr.write(`${who} done: online, certificate ${s.certificateSerial ?? '?'}\n`);
    else if (s.state === 'failed' || s.state === 'cancelled' || s.state === 'skipped') {
      process.stderr.write(`${who} ${s.state}: ${s.error?.code ?? ''} ${s.error?.message ?? ''}${s.error?.where ? ` (at ${s.error.where})` : ''}\n`);
      if (s.error?.hint) process.stderr.write(`${who} hint: ${s.error.hint}\n`);
    } else if (running) process.stderr.write(`${who} ${running.name}${pct !== undefined ? ` ${pct}%` : ''}${running.detail ? ` – ${running.detail}` : ''}\n`);
  };
}

let questionChain: Promise<unknown> = Promise.resolve();

/** Asks on the terminal, one question at a time across parallel jobs. */
function askOperator(job: JobSnapshot, q: JobQuestion): Promise<string> {
  const next = questionChain.then(() => prompt(`[${job.target}] ${q.message}`, q.choices));
  questionChain = next.catch(() => undefined);
  return next;
}

async function prompt(message: string, choices: string[]): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    for (;;) {
      const hint = choices.length > 1 ? ` [${choices.join('/')}]` : '';
      const answer = (await rl.question(`${message}${hint} `)).trim();
      if (choices.length === 1 && choices[0] === '') return '';
      if (choices.length === 1 && answer === '') return choices[0]!;
      if (choices.includes(answer)) return answer;
    }
  } finally {
    rl.close();
  }
}

function summary(bundle: { name: string; version: string; sha256: string }, jobs: JobSnapshot[], logFile: string): unknown {
  return {
    bundle,
    stationLog: logFile,
    succeeded: jobs.filter((j) => j.state === 'succeeded').length,
    failed: jobs.filter((j) => j.state !== 'succeeded').length,
    jobs: jobs.map((j) => ({
      id: j.id,
      port: j.target,
      state: j.state,
      mac: j.mac ?? null,
      gatewayCode: j.gatewayCode ?? null,
      gatewayId: j.gatewayId ?? null,
      certificateSerial: j.certificateSerial ?? null,
      certificateExpiresAt: j.certificateExpiresAt ?? null,
      durationMs: j.startedAt && j.endedAt ? Date.parse(j.endedAt) - Date.parse(j.startedAt) : null,
      facts: j.facts ?? {},
      error: j.error ? { code: j.error.code, message: j.error.message, hint: j.error.hint, where: j.error.where } : null,
      steps: j.steps.map((st) => ({
        name: st.name,
        status: st.status,
        ms: st.startedAt && st.endedAt ? Date.parse(st.endedAt) - Date.parse(st.startedAt) : null,
        detail: st.detail ?? null,
      })),
    })),
  };
}
