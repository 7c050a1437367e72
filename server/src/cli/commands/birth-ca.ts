/**
 * `tds-server birth-ca create|crl`: the birth CA of zero-touch onboarding for a data folder made
 * before it existed (`serve` also makes it on its first start), and re-signing its CRL.
 */
import type { Command } from 'commander';
import { loadCa } from '../../ca/key-store.js';
import { birthCrlPublisher, createBirthCa, hasBirthCa } from '../../config/birth-ca.js';
import { dataPath } from '../../config/data-dir.js';
import { addDataOption, addJsonOption, addPassphraseOption, CliError, dataDirFrom, openOffline, output, resolvePassphrase } from '../common.js';
import type { CommandModule } from './types.js';

type Opts = { data?: string; json?: boolean; passphraseFile?: string };

export const birthCaCommand: CommandModule = {
  register(program: Command) {
    const group = program.command('birth-ca').description('the birth CA of zero-touch onboarding (signs birth identities only; never trusted by the broker)');
    const create = group.command('create').description('make the birth CA of a data folder that has none (sealed with the CA passphrase)');
    addDataOption(create);
    addJsonOption(create);
    addPassphraseOption(create);
    create.action(async (opts: Opts) => {
      const dataDir = dataDirFrom(opts);
      if (hasBirthCa(dataDir)) throw new CliError(`${dataDir} already has a birth CA (${dataPath(dataDir, 'birthCaCert')})`);
      const passphrase = await resolvePassphrase(opts);
      const ctx = await openOffline(dataDir);
      try {
        // The same passphrase as the device CA: proving it here keeps one passphrase per data folder.
        const deviceCa = await loadCa(dataDir, passphrase);
        const ca = await createBirthCa({ dataDir, passphrase, repo: ctx.repo, settings: ctx.settings, actor: 'cli', keyType: deviceCa.keyType });
        output(opts.json, { birth_ca_subject: ca.subject, birth_ca_not_after: ca.notAfter.toISOString(), birth_ca_pem: ca.certificatePem, file: dataPath(dataDir, 'birthCaCert') }, [
          `birth CA created: ${ca.subject} (${ca.keyType.toUpperCase()}, valid until ${ca.notAfter.toISOString()})`,
          `certificate ${dataPath(dataDir, 'birthCaCert')}, CRL ${dataPath(dataDir, 'birthCrl')}; it is not part of any broker kit`,
        ]);
      } finally {
        await ctx.close();
      }
    });

    const crl = group.command('crl').description('re-sign the birth CRL now and write <data>/birth-crl.pem');
    addDataOption(crl);
    addJsonOption(crl);
    addPassphraseOption(crl);
    crl.action(async (opts: Opts) => {
      const dataDir = dataDirFrom(opts);
      const passphrase = await resolvePassphrase(opts);
      const ctx = await openOffline(dataDir);
      try {
        const ca = await loadCa(dataDir, passphrase, 'birth');
        const signed = await birthCrlPublisher(ca, ctx.repo, ctx.settings, dataDir, 'cli').publish('requested with tds-server birth-ca crl');
        const revoked = (await ctx.repo.listRevoked('birth')).length;
        output(opts.json, { crl_number: signed.crlNumber, next_update: signed.nextUpdate, revoked_count: revoked, file: dataPath(dataDir, 'birthCrl') }, `birth CRL ${signed.crlNumber} signed (${revoked} revoked), next update ${signed.nextUpdate}`);
      } finally {
        await ctx.close();
      }
    });
  },
};
