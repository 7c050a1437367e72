/** `tds-server broker-kit`: Mosquitto 2.x configuration, ACL, CA, broker certificate, CRL and README. */
import path from 'node:path';
import type { Command } from 'commander';
import { addDatabaseOption, addDataOption, addJsonOption, addPassphraseOption, CliError, dataDirFrom, output, parsePositiveInt, resolveCaUnlock } from '../../cli/common.js';
import type { CommandModule } from '../../cli/commands/types.js';
import { buildBrokerKit } from '../kit-builder.js';
import { DEFAULT_DYNSEC_STATE, defaultDynsecPlugin } from '../mosquitto-conf.js';
import { openBrokerCli } from './cli-context.js';
import { brokerRunning, formatReloadTarget, parseReloadTarget } from '../reloader.js';

interface KitOpts {
  database?: string;
  data?: string;
  json?: boolean;
  passphraseFile?: string;
  pinFile?: string;
  out: string;
  host: string;
  port: number;
  altName: string[];
  installDir?: string;
  bind?: string;
  publishDir?: string;
  reload: string;
  rotateBrokerKey?: boolean;
  dynsecPlugin?: string;
  dynsecState?: string;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export const brokerKitCommand: CommandModule = {
  register(program: Command) {
    const cmd = program
      .command('broker-kit')
      .description('write a Mosquitto 2.x kit: mosquitto.conf (mTLS, CN identity, CRL), acl.conf, ca.crt, broker certificate and key, crl.pem, README')
      .requiredOption('--out <dir>', 'folder to write the kit to')
      .requiredOption('--host <name>', "host name or IP the devices use for the broker (in the broker certificate's SAN)")
      .option('--port <port>', 'MQTT TLS port', parsePositiveInt('--port'), 8883)
      .option('--alt-name <name>', 'another host name or IP for the certificate (repeatable)', collect, [])
      .option('--install-dir <dir>', 'where the files will live on the broker host (default /etc/mosquitto/tds)')
      .option('--bind <address>', 'address the listener binds (default: all)')
      .option('--publish-dir <dir>', 'broker folder on THIS host that the server keeps current (crl.pem, acl.conf) on every revocation')
      .option('--reload <how>', 'reload the broker now and after every publication: none | pid:<pid> | pidfile:<file> | command:<program args>', 'none')
      .option('--rotate-broker-key', "issue a new broker key pair even if --out already has a usable one (kept by default)")
      .option('--dynsec-plugin <path>', `Mosquitto's dynamic-security plugin, loaded so the server can disconnect live sessions of revoked certificates, or "none" (default ${defaultDynsecPlugin()})`)
      .option('--dynsec-state <file>', `the plugin's state file on the broker host, in a folder the mosquitto user can write (default ${DEFAULT_DYNSEC_STATE})`);
    addDataOption(cmd);
    addDatabaseOption(cmd);
    addJsonOption(cmd);
    addPassphraseOption(cmd);
    cmd.action(async (opts: KitOpts) => {
      let reload;
      try {
        reload = parseReloadTarget(opts.reload);
      } catch (err) {
        throw new CliError((err as Error).message);
      }
      if (reload.kind !== 'none' && !opts.publishDir) throw new CliError('--reload needs --publish-dir (the folder whose files the broker reads)');
      for (const [flag, value] of [['--dynsec-plugin', opts.dynsecPlugin === 'none' ? undefined : opts.dynsecPlugin], ['--dynsec-state', opts.dynsecState]] as const) {
        if (value !== undefined && (!path.isAbsolute(value) || /\s/.test(value))) throw new CliError(`${flag} must be an absolute path without spaces, not '${value}'`);
      }
      const dataDir = dataDirFrom(opts);
      const ctx = await openBrokerCli(dataDir, await resolveCaUnlock(dataDir, opts), opts.database);
      try {
        const kit = await buildBrokerKit(
          { dataDir, issuance: ctx.service, crl: ctx.crl, store: ctx.mqtt },
          {
            outDir: opts.out,
            host: opts.host,
            port: opts.port,
            altNames: opts.altName,
            ...(opts.installDir ? { installDir: opts.installDir } : {}),
            ...(opts.bind ? { bindAddress: opts.bind } : {}),
            ...(opts.publishDir ? { publishDir: opts.publishDir } : {}),
            reload,
            rotateBrokerKey: opts.rotateBrokerKey === true,
            dynsec:
              opts.dynsecPlugin === 'none'
                ? null
                : { plugin: opts.dynsecPlugin ?? defaultDynsecPlugin(), stateFile: opts.dynsecState ?? DEFAULT_DYNSEC_STATE },
            actor: 'cli',
          },
        ).catch((err: unknown) => {
          throw new CliError((err as Error).message);
        });
        // The broker reads the published folder: bring it in line and reload a running broker now, if
        // it could load its files (a broker not started yet loads them when it starts).
        const running = await brokerRunning(reload);
        const published = kit.config.publishDir
          ? await ctx.publishToBroker({ ...kit.config, reload: running ? reload : { kind: 'none' } }).catch((err: unknown) => {
              throw new CliError(`kit written, but ${(err as Error).message}`);
            })
          : undefined;
        const reloaded = published !== undefined && running;
        output(
          opts.json,
          {
            out_dir: kit.outDir,
            files: Object.fromEntries(Object.entries(kit.files).map(([k, v]) => [k, path.basename(v)])),
            host: kit.config.host,
            port: kit.config.port,
            install_dir: kit.config.installDir,
            publish_dir: kit.config.publishDir,
            reload: formatReloadTarget(kit.config.reload),
            broker_certificate_serial: kit.config.brokerCertificateSerial,
            broker_key_kept: kit.brokerKeyKept,
            crl_next_update: kit.crlNextUpdate,
            reloaded,
          },
          [
            `broker kit for ${kit.config.host}:${kit.config.port} written to ${kit.outDir} (see README.md there)`,
            `broker certificate ${kit.config.brokerCertificateSerial} (${kit.brokerKeyKept ? 'kept from the folder; --rotate-broker-key replaces it' : 'new key pair'}); CRL valid until ${kit.crlNextUpdate}`,
            ...(reloaded ? [`broker reloaded (${formatReloadTarget(kit.config.reload)})`] : reload.kind !== 'none' ? ['broker not running: not reloaded (it loads the kit when it starts)'] : []),
            kit.config.publishDir
              ? `the server keeps ${kit.config.publishDir}/crl.pem and acl.conf current (reload: ${formatReloadTarget(kit.config.reload)})`
              : 'copy crl.pem to the broker after every revocation (or rebuild with --publish-dir on the broker host)',
          ],
        );
      } finally {
        await ctx.close();
      }
    });
  },
};
