/** `tds-server init`: data folder, database, CA (new or imported; key sealed in a file or in a PKCS#11 token), first CRL, birth CA. */
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { KEY_TYPES, type KeyType } from '../../contract/api.js';
import { formatPkcs11Uri, parsePkcs11Uri, Pkcs11UriError, type Pkcs11Uri } from '../../ca/pkcs11/uri.js';
import { initServerData, type InitOptions } from '../../config/init.js';
import { checkPostgresUrl } from '../../config/database.js';
import { addDatabaseOption, addDataOption, addJsonOption, addPassphraseOption, CliError, dataDirFrom, output, parsePositiveInt, resolvePassphrase, resolvePin } from '../common.js';
import type { CommandModule } from './types.js';

interface InitOpts {
  data?: string;
  json?: boolean;
  passphraseFile?: string;
  pinFile?: string;
  pkcs11Uri?: string;
  pkcs11Module?: string;
  pkcs11Existing?: boolean;
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

/** The token options checked and turned into what initServerData takes (the PIN is asked last). */
async function tokenOptions(opts: InitOpts): Promise<InitOptions['pkcs11']> {
  if (opts.pkcs11Uri === undefined) {
    if (opts.pkcs11Module !== undefined || opts.pkcs11Existing) throw new CliError('--pkcs11-module and --pkcs11-existing go with --pkcs11-uri');
    return undefined;
  }
  let uri: Pkcs11Uri;
  try {
    uri = parsePkcs11Uri(opts.pkcs11Uri);
  } catch (err) {
    if (err instanceof Pkcs11UriError) throw new CliError(`--pkcs11-uri: ${err.message}`);
    throw err;
  }
  const modulePath = opts.pkcs11Module ?? uri.modulePath;
  if (!modulePath) throw new CliError('the PKCS#11 library is needed: pass --pkcs11-module /path/to/module.so (e.g. /usr/lib/softhsm/libsofthsm2.so) or module-path= in the URI');
  if (!modulePath.startsWith('/')) throw new CliError('--pkcs11-module must be an absolute path');
  if (opts.importKey !== undefined) throw new CliError('--import-key cannot go into a token (the key would not be "never extractable"): let init create the key there, or --pkcs11-existing');
  if (opts.importCert !== undefined && !opts.pkcs11Existing) throw new CliError('--import-cert with --pkcs11-uri keeps the certificate of an existing token key: add --pkcs11-existing');
  return {
    modulePath,
    uri,
    existing: opts.pkcs11Existing ?? false,
    ...(opts.importCert !== undefined ? { certPem: read(opts.importCert, 'the CA certificate') } : {}),
    pin: await resolvePin(opts),
  };
}

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
      .option('--pkcs11-uri <uri>', 'keep the CA key in a PKCS#11 token: RFC 7512 URI of the key, e.g. "pkcs11:token=tds-ca;object=ca-key" (made there, never extractable)')
      .option('--pkcs11-module <path>', 'the token\'s PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so (or module-path= in the URI)')
      .option('--pkcs11-existing', 'use the key the URI names instead of making one (with --import-cert: keep that CA certificate)')
      .option('--domain <domain>', 'device SAN is <12hex>.devices.<domain> (default tds.com.br)')
      .option('--mqtt-broker <host>', 'MQTT broker host reported to devices (default localhost)')
      .option('--mqtt-port <port>', 'MQTT TLS port reported to devices (default 8883)', parsePositiveInt('--mqtt-port'))
      .option('--cert-validity-days <days>', 'device certificate lifetime (default 3652 = 10 years)', parsePositiveInt('--cert-validity-days'))
      .option('--crl-days <days>', 'CRL nextUpdate distance (default 7)', parsePositiveInt('--crl-days'))
      .addOption(new Option('--device-key-type <type>', 'key type when the server makes device keys').choices(KEY_TYPES))
      .addOption(new Option('--durability <mode>', 'SQLite durability: normal (process crashes) or full (also power loss)').choices(['normal', 'full']))
      .action(async (opts: InitOpts) => {
        const dataDir = dataDirFrom(opts);
        if (opts.database !== undefined) checkPostgresUrl(opts.database, '--database');
        const pkcs11 = await tokenOptions(opts);
        if (!pkcs11 && (opts.importCert === undefined) !== (opts.importKey === undefined)) throw new CliError('--import-cert and --import-key go together');
        const result = await initServerData({
          dataDir,
          ...(pkcs11 ? { pkcs11 } : { passphrase: await resolvePassphrase(opts, true) }),
          keyType: opts.keyType,
          ...(opts.database !== undefined ? { postgresUrl: opts.database } : {}),
          ...(opts.subject ? { subject: opts.subject } : {}),
          ...(!pkcs11 && opts.importCert && opts.importKey
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
            ca_key_store: result.caKeyStore,
            ...(pkcs11 ? { ca_key_uri: formatPkcs11Uri(pkcs11.uri) } : {}),
            ca_pem: result.caPem,
            birth_ca_subject: result.birthCaSubject,
            birth_ca_pem: result.birthCaPem,
          },
          [
            `initialised ${result.dataDir}`,
            `CA ${result.imported ? 'imported' : 'created'}: ${result.caSubject} (${result.caKeyType.toUpperCase()}, valid until ${result.caNotAfter})`,
            ...(pkcs11 ? [`CA key in the token: ${formatPkcs11Uri(pkcs11.uri)} (${pkcs11.existing ? 'existing key' : 'made there, never extractable'})`] : []),
            `birth CA (zero-touch onboarding, never trusted by the broker): ${result.birthCaSubject}${pkcs11 ? ' (its key beside the CA key in the token)' : ''}`,
            `next: tds-server account create --data ${result.dataDir} --name "My account"`,
          ],
        );
      });
  },
};
