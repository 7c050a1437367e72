/**
 * `tds-server birth-ca create|crl`: the birth CA of zero-touch onboarding for a data folder made
 * before it existed (`serve` also makes it on its first start), and re-signing its CRL. The birth
 * key goes where the device CA key is: sealed with the same passphrase, or into the same token.
 */
import type { Command } from 'commander';
import { caKeyBackend, openCa } from '../../ca/ca-backend.js';
import { birthCrlPublisher, createBirthCa, hasBirthCa } from '../../config/birth-ca.js';
import { dataPath } from '../../config/data-dir.js';
import { addDatabaseOption, addDataOption, addJsonOption, addPassphraseOption, CliError, dataDirFrom, openOffline, output, resolveCaUnlock } from '../common.js';
import type { CommandModule } from './types.js';

type Opts = { data?: string; database?: string; json?: boolean; passphraseFile?: string; pinFile?: string };

export const birthCaCommand: CommandModule = {
  register(program: Command) {
    const group = program.command('birth-ca').description('the birth CA of zero-touch onboarding (signs birth identities only; never trusted by the broker)');
    const create = group
      .command('create')
      .description('make the birth CA of a data folder that has none (sealed with the CA passphrase, or beside the CA key in its token)');
    addDataOption(create);
    addDatabaseOption(create);
    addJsonOption(create);
    addPassphraseOption(create);
    create.action(async (opts: Opts) => {
      const dataDir = dataDirFrom(opts);
      if (hasBirthCa(dataDir)) throw new CliError(`${dataDir} already has a birth CA (${dataPath(dataDir, 'birthCaCert')})`);
      const unlock = await resolveCaUnlock(dataDir, opts);
      const ctx = await openOffline(dataDir, opts.database);
      try {
        // The device CA's secret: proving it here keeps one passphrase (or one token login) per data folder.
        const deviceCa = await openCa(dataDir, unlock);
        const keyType = deviceCa.keyType;
        await deviceCa.close();
        const ca = await createBirthCa({ dataDir, unlock, repo: ctx.repo, settings: ctx.settings, actor: 'cli', keyType });
        await ca.close();
        const inToken = caKeyBackend(dataDir, 'birth') === 'pkcs11';
        output(
          opts.json,
          {
            birth_ca_subject: ca.subject,
            birth_ca_not_after: ca.notAfter.toISOString(),
            birth_ca_key_store: inToken ? 'pkcs11' : 'file',
            birth_ca_pem: ca.certificatePem,
            file: dataPath(dataDir, 'birthCaCert'),
          },
          [
            `birth CA created: ${ca.subject} (${ca.keyType.toUpperCase()}, valid until ${ca.notAfter.toISOString()})${inToken ? `, key in the token (${ca.keyDescription})` : ''}`,
            `certificate ${dataPath(dataDir, 'birthCaCert')}, CRL ${dataPath(dataDir, 'birthCrl')}; it is not part of any broker kit`,
          ],
        );
      } finally {
        await ctx.close();
      }
    });

    const crl = group.command('crl').description('re-sign the birth CRL now and write <data>/birth-crl.pem');
    addDataOption(crl);
    addDatabaseOption(crl);
    addJsonOption(crl);
    addPassphraseOption(crl);
    crl.action(async (opts: Opts) => {
      const dataDir = dataDirFrom(opts);
      const unlock = await resolveCaUnlock(dataDir, opts);
      const ctx = await openOffline(dataDir, opts.database);
      try {
        const ca = await openCa(dataDir, unlock, 'birth');
        try {
          const signed = await birthCrlPublisher(ca, ctx.repo, ctx.settings, dataDir, 'cli', ctx.store.cluster).publish('requested with tds-server birth-ca crl');
          const revoked = (await ctx.repo.listRevoked('birth')).length;
          output(opts.json, { crl_number: signed.crlNumber, next_update: signed.nextUpdate, revoked_count: revoked, file: dataPath(dataDir, 'birthCrl') }, `birth CRL ${signed.crlNumber} signed (${revoked} revoked), next update ${signed.nextUpdate}`);
        } finally {
          await ca.close();
        }
      } finally {
        await ctx.close();
      }
    });
  },
};
