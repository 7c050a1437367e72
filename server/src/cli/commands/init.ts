/** `tds-server init`: data folder, database, CA (new or imported), first CRL. */
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { KEY_TYPES, type KeyType } from '../../contract/api.js';
import { initServerData } from '../../config/init.js';
import { checkPostgresUrl } from '../../config/database.js';
import { addDatabaseOption, addDataOption, addJsonOption, addPassphraseOption, CliError, dataDirFrom, output, parsePositiveInt, resolvePassphrase } from '../common.js';
import type { CommandModule } from './types.js';

interface InitOpts {
  data?: string;
  json?: boolean;
  passphraseFile?: string;
  keyType: KeyType;
  subject?: string;
  importCert?: string;
  importKey?: string;
  importKeyPassphraseFile?: string;
  domain?: string;
  mqttBroker?: string;
  mqttPort?: number;
  certValidityDays?: number;
  crlDays?: number;
  deviceKeyType?: KeyType;
  durability?: 'normal' | 'full';
  database?: string;
}

const read = (file: string, what: string): string => {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${what} ${file}: ${(err as Error).message}`);
  }
};

export const initCommand: CommandModule = {
  register(program: Command) {
    const cmd = program.command('init').description('create a data folder with a database and a CA (EC P-256 by default, 20 years)');
    addDataOption(cmd);
    addJsonOption(cmd);
    addPassphraseOption(cmd);
    addDatabaseOption(cmd);
    cmd
      .addOption(new Option('--key-type <type>', 'CA key type').choices(KEY_TYPES).default('ec'))
      .option('--subject <dn>', 'CA subject, e.g. "C=BR, O=TDS IoT, CN=TDS IoT Device CA"')
      .option('--import-cert <file>', 'use this existing CA certificate (PEM) instead of making one')
      .option('--import-key <file>', 'private key of the imported CA (PEM, PKCS#8/SEC1/PKCS#1, encrypted or not)')
      .option('--import-key-passphrase-file <file>', 'passphrase of an encrypted imported key')
      .option('--domain <domain>', 'device SAN is <12hex>.devices.<domain> (default tds.com.br)')
      .option('--mqtt-broker <host>', 'MQTT broker host reported to devices (default localhost)')
      .option('--mqtt-port <port>', 'MQTT TLS port reported to devices (default 8883)', parsePositiveInt('--mqtt-port'))
      .option('--cert-validity-days <days>', 'device certificate lifetime (default 3652 = 10 years)', parsePositiveInt('--cert-validity-days'))
      .option('--crl-days <days>', 'CRL nextUpdate distance (default 7)', parsePositiveInt('--crl-days'))
      .addOption(new Option('--device-key-type <type>', 'key type when the server makes device keys').choices(KEY_TYPES))
      .addOption(new Option('--durability <mode>', 'SQLite durability: normal (process crashes) or full (also power loss)').choices(['normal', 'full']))
      .action(async (opts: InitOpts) => {
        const dataDir = dataDirFrom(opts);
        if ((opts.importCert === undefined) !== (opts.importKey === undefined)) throw new CliError('--import-cert and --import-key go together');
        if (opts.database !== undefined) checkPostgresUrl(opts.database, '--database');
        const passphrase = await resolvePassphrase(opts, true);
        const result = await initServerData({
          dataDir,
          passphrase,
          keyType: opts.keyType,
          ...(opts.database !== undefined ? { postgresUrl: opts.database } : {}),
          ...(opts.subject ? { subject: opts.subject } : {}),
          ...(opts.importCert && opts.importKey
            ? {
                importCa: {
                  certPem: read(opts.importCert, 'the CA certificate'),
                  keyPem: read(opts.importKey, 'the CA key'),
                  ...(opts.importKeyPassphraseFile ? { keyPassphrase: read(opts.importKeyPassphraseFile, 'the key passphrase file').replace(/\r?\n$/, '') } : {}),
                },
              }
            : {}),
          settings: (s) => {
            if (opts.domain) s.device.domain = opts.domain;
            if (opts.mqttBroker) s.mqtt.broker = opts.mqttBroker;
            if (opts.mqttPort) s.mqtt.port = opts.mqttPort;
            if (opts.certValidityDays) s.device.validityDays = opts.certValidityDays;
            if (opts.crlDays) s.crl.nextUpdateDays = opts.crlDays;
            if (opts.deviceKeyType) s.device.keyType = opts.deviceKeyType;
            if (opts.durability) s.durability = opts.durability;
          },
        });
        output(
          opts.json,
          {
            data_dir: result.dataDir,
            ca_subject: result.caSubject,
            ca_key_type: result.caKeyType,
            ca_not_after: result.caNotAfter,
            ca_imported: result.imported,
            ca_pem: result.caPem,
          },
          [
            `initialised ${result.dataDir}`,
            `CA ${result.imported ? 'imported' : 'created'}: ${result.caSubject} (${result.caKeyType.toUpperCase()}, valid until ${result.caNotAfter})`,
            `next: tds-server account create --data ${result.dataDir} --name "My account"`,
          ],
        );
      });
  },
};
