/** `tds-server broker-kit`: Mosquitto 2.x configuration, ACL, CA, broker certificate, CRL and README. */
import path from 'node:path';
import type { Command } from 'commander';
import { addDataOption, addJsonOption, addPassphraseOption, CliError, dataDirFrom, output, parsePositiveInt, resolveCaUnlock } from '../../cli/common.js';
import type { CommandModule } from '../../cli/commands/types.js';
import { buildBrokerKit } from '../kit-builder.js';
import { openBrokerCli } from './cli-context.js';
import { formatReloadTarget, parseReloadTarget } from '../reloader.js';

interface KitOpts {
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
      .option('--reload <how>', 'after publishing: none | pid:<pid> | pidfile:<file> | command:<program args>', 'none');
    addDataOption(cmd);
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
      const dataDir = dataDirFrom(opts);
      const ctx = await openBrokerCli(dataDir, await resolveCaUnlock(dataDir, opts));
      try {
        const kit = await buildBrokerKit(
          { dataDir, issuance: ctx.service, crl: ctx.crl, store: ctx.store },
          {
            outDir: opts.out,
            host: opts.host,
            port: opts.port,
            altNames: opts.altName,
            ...(opts.installDir ? { installDir: opts.installDir } : {}),
            ...(opts.bind ? { bindAddress: opts.bind } : {}),
            ...(opts.publishDir ? { publishDir: opts.publishDir } : {}),
            reload,
            actor: 'cli',
          },
        ).catch((err: unknown) => {
          throw new CliError((err as Error).message);
        });
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
            crl_next_update: kit.crlNextUpdate,
          },
          [
            `broker kit for ${kit.config.host}:${kit.config.port} written to ${kit.outDir} (see README.md there)`,
            `broker certificate ${kit.config.brokerCertificateSerial}; CRL valid until ${kit.crlNextUpdate}`,
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
