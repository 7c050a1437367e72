/**
 * `tds-server serve`: the REST API (HTTPS by default), plus any registered serve extensions.
 * SIGTERM/SIGINT drain it: `/readyz` turns 503, after `--drain-delay` the listener closes, requests in
 * flight finish, the broker side and the store are closed, exit code 0.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { EMBEDDED_BROKER_WITH_POSTGRES, isLoopback, startServer, type StartServerOptions } from '../../api/start.js';
import { resolveDatabase } from '../../config/database.js';
import { loadSettings } from '../../config/data-dir.js';
import { parseDurationText, parseEvery, ScheduleError } from '../../config/schedule.js';
import { stderrLogger } from '../../util/logger.js';
import { addDatabaseOption, addDataOption, addJsonOption, addPassphraseOption, CliError, dataDirFrom, output, parsePositiveInt, resolveCaUnlock } from '../common.js';
import type { StartedExtension } from '../../api/serve-extension.js';
import { serveExtensions } from '../serve-extensions.js';
import type { CommandModule } from './types.js';

interface ServeOpts {
  data?: string;
  json?: boolean;
  passphraseFile?: string;
  pinFile?: string;
  host: string;
  port: number;
  tls: boolean;
  tlsCert?: string;
  tlsKey?: string;
  allowInsecureHttp?: boolean;
  hostname: string[];
  mqttBroker?: string;
  mqttPort?: number;
  certValidityDays?: number;
  trustProxy?: boolean;
  authFailLimit?: number;
  database?: string;
  drainDelay?: number;
  quiet?: boolean;
  renewalEvery?: string;
  renewWithin?: string;
  crlEvery?: string;
  presenceHistoryDays?: number;
  openEnrolment?: boolean;
  [extension: string]: unknown;
}

/** Validates a schedule flag when it is parsed (a clear one-line error before anything starts). */
function scheduleFlag(check: (name: string, v: string) => unknown, name: string) {
  return (v: string): string => {
    try {
      check(name, v);
    } catch (err) {
      throw new CliError(err instanceof ScheduleError ? err.message : String(err));
    }
    return v;
  };
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export const serveCommand: CommandModule = {
  register(program: Command) {
    const cmd = program.command('serve').description('run the REST API (HTTPS with a certificate from the server\'s own CA, unless told otherwise)');
    addDataOption(cmd);
    addJsonOption(cmd);
    addPassphraseOption(cmd);
    addDatabaseOption(cmd);
    cmd
      .option('--host <address>', 'address to bind', '127.0.0.1')
      .option('--port <port>', 'TCP port (0 = any free port)', (v) => (v === '0' ? 0 : parsePositiveInt('--port')(v)), 8443)
      .option('--tls-cert <file>', 'serve with this certificate chain (PEM) instead of one from the own CA')
      .option('--tls-key <file>', 'private key for --tls-cert')
      .option('--no-tls', 'plain HTTP (refused on a non-loopback address unless --allow-insecure-http)')
      .option('--allow-insecure-http', 'allow --no-tls on a non-loopback address (tokens and keys cross the network in clear)')
      .option('--hostname <name>', 'extra host name or IP for the automatic HTTPS certificate (repeatable)', collect, [])
      .option('--mqtt-broker <host>', 'MQTT broker host reported in provisioning responses')
      .option('--mqtt-port <port>', 'MQTT TLS port reported in provisioning responses', parsePositiveInt('--mqtt-port'))
      .option('--cert-validity-days <days>', 'device certificate lifetime for this run', parsePositiveInt('--cert-validity-days'))
      .option('--trust-proxy', 'take the client address from X-Forwarded-For (only behind a trusted proxy)')
      .option('--auth-fail-limit <n>', 'failed authentications per address per minute before 429 (default 20)', parsePositiveInt('--auth-fail-limit'))
      .option('--open-enrolment', 'allow zero-touch open enrolment for this run (devices without a birth identity; see tds-server zero-touch)')
      .option('--drain-delay <seconds>', 'on SIGTERM, answer /readyz with 503 this long before closing the listener (default 0)', (v) => (v === '0' ? 0 : parsePositiveInt('--drain-delay')(v)), 0)
      .option('--quiet', 'log only warnings and errors')
      .option('--renewal-every <duration>', 'run the renewal sweep this often, or "off" (default: config.json schedule, 24h)', scheduleFlag(parseEvery, '--renewal-every'))
      .option(
        '--renew-within <duration>',
        'the sweep renews certificates expiring within this, or "auto" = a fifth of their lifetime (default: config.json, auto)',
        scheduleFlag((n, v) => (v === 'auto' ? v : parseDurationText(n, v, 86_400_000, 20 * 365 * 86_400_000)), '--renew-within'),
      )
      .option('--crl-every <duration>', 're-sign the CRL this often, or "off" (default: config.json schedule, 24h)', scheduleFlag(parseEvery, '--crl-every'))
      .option('--presence-history-days <days>', "keep each gateway's online/offline transitions this long (default: config.json, 400)", (v) => {
        const n = parsePositiveInt('--presence-history-days')(v);
        if (n > 3650) throw new CliError('--presence-history-days must be at most 3650');
        return n;
      });
    // Extensions (e.g. the broker) add their own options here.
    for (const ext of serveExtensions) ext.addOptions(cmd);

    cmd.action(async (opts: ServeOpts) => {
      const dataDir = dataDirFrom(opts);
      const logger = stderrLogger({ quiet: opts.quiet ?? false });
      if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) throw new CliError('--tls-cert and --tls-key go together');
      let tls: StartServerOptions['tls'] = opts.tls ? 'auto' : 'off';
      if (opts.tlsCert && opts.tlsKey) {
        if (!opts.tls) throw new CliError('--tls-cert cannot be combined with --no-tls');
        tls = { certPem: readFileSync(opts.tlsCert, 'utf8'), keyPem: readFileSync(opts.tlsKey, 'utf8') };
      }
      if (!opts.tls && !isLoopback(opts.host) && !opts.allowInsecureHttp) {
        throw new CliError(`refusing to serve plain HTTP on ${opts.host}: use TLS, bind 127.0.0.1, or add --allow-insecure-http`);
      }
      // Checked before the passphrase is asked for: a wrong --database is a quick, clear error.
      const database = resolveDatabase({ dataDir, settings: await loadSettings(dataDir), ...(opts.database !== undefined ? { option: opts.database } : {}) });
      if (database.kind === 'postgres' && opts.broker) throw new CliError(EMBEDDED_BROKER_WITH_POSTGRES);
      const unlock = await resolveCaUnlock(dataDir, opts);
      const server = await startServer({
        dataDir,
        database,
        passphrase: unlock.passphrase,
        pkcs11Pin: unlock.pin,
        host: opts.host,
        port: opts.port,
        tls,
        allowInsecureHttp: opts.allowInsecureHttp ?? false,
        hostnames: opts.hostname,
        trustProxy: opts.trustProxy ?? false,
        logger,
        mqtt: { ...(opts.mqttBroker ? { broker: opts.mqttBroker } : {}), ...(opts.mqttPort ? { port: opts.mqttPort } : {}) },
        ...(opts.certValidityDays ? { deviceValidityDays: opts.certValidityDays } : {}),
        ...(opts.openEnrolment ? { openEnrolment: true } : {}),
        ...(opts.authFailLimit ? { authFailures: { max: opts.authFailLimit, windowMs: 60_000 } } : {}),
        schedule: {
          ...(opts.renewalEvery !== undefined ? { renewalEvery: opts.renewalEvery } : {}),
          ...(opts.renewWithin !== undefined ? { renewWithin: opts.renewWithin } : {}),
          ...(opts.crlEvery !== undefined ? { crlEvery: opts.crlEvery } : {}),
        },
        ...(opts.presenceHistoryDays ? { presenceHistoryDays: opts.presenceHistoryDays } : {}),
        ...Object.assign({}, ...serveExtensions.map((ext) => ext.serverOptions?.(opts) ?? {})),
      });

      const started: StartedExtension[] = [];
      const info: Record<string, unknown> = {};
      try {
        for (const ext of serveExtensions) {
          const s = await ext.start({ server, options: opts, dataDir, logger });
          if (s) {
            started.push(s);
            Object.assign(info, s.info ?? {});
          }
        }
      } catch (err) {
        await Promise.allSettled(started.map((s) => s.stop()));
        await server.close();
        throw err;
      }

      let stopping = false;
      const stop = async (signal: string): Promise<void> => {
        if (stopping) return;
        stopping = true;
        logger.info('draining', { signal, delay_s: opts.drainDelay ?? 0 });
        await Promise.allSettled(started.reverse().map((s) => s.stop()));
        await server.drain((opts.drainDelay ?? 0) * 1000);
        logger.info('stopped');
        process.exit(0);
      };
      process.on('SIGTERM', () => void stop('SIGTERM'));
      process.on('SIGINT', () => void stop('SIGINT'));

      output(
        opts.json,
        { event: 'listening', url: server.url, api_url: server.apiUrl, host: server.host, port: server.port, tls: server.tls, pid: process.pid, store: server.store.kind, ...info },
        `tds-server listening on ${server.url} (API ${server.apiUrl})`,
      );
    });
  },
};
