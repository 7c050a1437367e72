/**
 * `tds-server identity create|list|revoke`: MQTT identities of services — the server's own client
 * (`tds-server-<name>`) and each station's monitor (`station-monitor-<name>`). Creating or revoking
 * one updates the broker's ACL (and CRL) when a kit is published from this host.
 */
import path from 'node:path';
import { Argument, type Command } from 'commander';
import { classifyCommonName, parseServiceName, serviceCommonName, type ServiceKind } from '../../contract/index.js';
import { addDatabaseOption, addDataOption, addJsonOption, addPassphraseOption, CliError, dataDirFrom, output, resolveCaUnlock } from '../../cli/common.js';
import type { CommandModule } from '../../cli/commands/types.js';
import { identityDir, issueServiceIdentity, writeIdentity } from '../identity-files.js';
import { openBrokerCli } from './cli-context.js';

interface CommonOpts {
  database?: string;
  data?: string;
  json?: boolean;
  passphraseFile?: string;
  pinFile?: string;
}

export const identityCommand: CommandModule = {
  register(program: Command) {
    const group = program.command('identity').description("MQTT identities of services: the server's own client and each station's monitor");

    const create = group
      .command('create')
      .description('issue a certificate and key for a service identity and add it to the broker ACL')
      .addArgument(new Argument('<kind>', 'server = the server\'s MQTT client, station = a station monitor').choices(['server', 'station']))
      .requiredOption('--name <name>', 'identity name: CN becomes tds-server-<name> or station-monitor-<name>')
      .option('--out <dir>', 'write client.crt, client.key (0600) and ca.crt here (default <data>/identities/<cn>)')
      .option('--replace', 'revoke the identity\'s current certificate(s) after issuing the new one');
    addDataOption(create);
    addDatabaseOption(create);
    addJsonOption(create);
    addPassphraseOption(create);
    create.action(async (kind: ServiceKind, opts: CommonOpts & { name: string; out?: string; replace?: boolean }) => {
      const name = parseServiceName(opts.name);
      if (!name.ok) throw new CliError(name.error);
      const cn = serviceCommonName(kind, name.name);
      const dataDir = dataDirFrom(opts);
      const ctx = await openBrokerCli(dataDir, await resolveCaUnlock(dataDir, opts), opts.database);
      try {
        const previous = await ctx.mqtt.activeServiceSerials(cn);
        if (previous.length > 0 && !opts.replace) {
          throw new CliError(`${cn} already has an active certificate (${previous.join(', ')}); add --replace to issue a new one and revoke it`);
        }
        const id = await issueServiceIdentity(ctx.service, kind, name.name, 'cli');
        const dir = path.resolve(opts.out ?? identityDir(dataDir, cn));
        const files = await writeIdentity(dir, id);
        for (const serial of previous) await ctx.service.revocation.revokeBySerial(serial, 'superseded', 'cli');
        const published = await ctx.publishToBroker();
        output(
          opts.json,
          {
            cn,
            kind,
            client_id: cn,
            serial_number: id.serialNumber,
            expires_at: id.expiresAt,
            files: { cert: files.cert, key: files.key, ca: files.ca },
            revoked: previous,
            broker_updated: published !== undefined,
          },
          [
            `${cn}: certificate ${id.serialNumber}, valid until ${id.expiresAt}`,
            `files: ${files.cert}, ${files.key} (keep it secret), ${files.ca}`,
            published ? 'broker ACL updated and reloaded' : 'no published broker kit on this host: run broker-kit again (or copy its acl.conf) so the broker knows this identity',
          ],
        );
      } finally {
        await ctx.close();
      }
    });

    const list = group.command('list').description('list service identities and their certificates');
    addDataOption(list);
    addDatabaseOption(list);
    addJsonOption(list);
    addPassphraseOption(list);
    list.action(async (opts: CommonOpts) => {
      const dataDir = dataDirFrom(opts);
      const ctx = await openBrokerCli(dataDir, await resolveCaUnlock(dataDir, opts), opts.database);
      try {
        const rows = await ctx.mqtt.listServiceCertificates();
        output(
          opts.json,
          rows.map((r) => ({ cn: r.cn, kind: classifyCommonName(r.cn).kind, serial_number: r.serialNumber, status: r.status, expires_at: r.expiresAt, revoked_at: r.revokedAt })),
          rows.length === 0 ? 'no service identities' : rows.map((r) => `${r.cn}  ${r.serialNumber}  ${r.status}  until ${r.expiresAt}`),
        );
      } finally {
        await ctx.close();
      }
    });

    const revoke = group
      .command('revoke')
      .description('revoke every certificate of a service identity (CRL re-signed; broker ACL denies it everything)')
      .requiredOption('--cn <cn>', 'e.g. station-monitor-bench-3')
      .option('--reason <reason>', 'RFC 5280 reason name or free text', 'cessationOfOperation');
    addDataOption(revoke);
    addDatabaseOption(revoke);
    addJsonOption(revoke);
    addPassphraseOption(revoke);
    revoke.action(async (opts: CommonOpts & { cn: string; reason: string }) => {
      const id = classifyCommonName(opts.cn);
      if (id.kind !== 'server' && id.kind !== 'station') throw new CliError(`'${opts.cn}' is not a service identity (tds-server-<name> or station-monitor-<name>)`);
      const dataDir = dataDirFrom(opts);
      const ctx = await openBrokerCli(dataDir, await resolveCaUnlock(dataDir, opts), opts.database);
      try {
        const serials = await ctx.mqtt.activeServiceSerials(opts.cn);
        if (serials.length === 0) throw new CliError(`${opts.cn} has no active certificate`);
        for (const serial of serials) await ctx.service.revocation.revokeBySerial(serial, opts.reason, 'cli');
        const published = await ctx.publishToBroker();
        output(opts.json, { cn: opts.cn, revoked: serials, broker_updated: published !== undefined }, [
          `${opts.cn}: revoked ${serials.join(', ')}`,
          published ? 'broker CRL and ACL updated and reloaded' : 'no published broker kit on this host: copy the new crl.pem and acl.conf to the broker',
        ]);
      } finally {
        await ctx.close();
      }
    });
  },
};
