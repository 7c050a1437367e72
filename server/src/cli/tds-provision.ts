#!/usr/bin/env node
/**
 * tds-provision: the seed's provisioning CLI (config, create-gateway, list-gateways,
 * download-certs, revoke-cert, import-csv) plus renew-cert, on top of the shared ApiClient.
 */
import { createPublicKey } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { unzipSync } from 'fflate';
import { ApiClient } from '../client/api-client.js';
import { ApiError } from '../client/errors.js';
import { KEY_TYPES, type KeyType, type ProvisionResponse, type RenewRequestedResponse } from '../contract/api.js';
import { parseMac } from '../contract/mac.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { escapeControlChars } from '../util/escape.js';
import { SERVER_VERSION } from '../version.js';
import { CliError, output, parsePositiveInt } from './common.js';
import { registerClaimCommands } from './provision/claim-commands.js';
import { configPath, readConfig, resolveConnection, writeConfig } from './provision/config-store.js';
import { gatewayDir } from './provision/output-dir.js';
import { explicitToken, type TokenOptions } from './provision/token-source.js';
import { runCli } from './run.js';

interface GlobalOpts extends TokenOptions {
  apiUrl?: string;
  caFile?: string;
  json?: boolean;
}

/** `--token` stays only to refuse it with what to use instead (see token-source.ts). */
const tokenOption = (): Option => new Option('--token <token>', 'refused: the command line is visible to other users; use --token-file, --token-stdin or $TDS_API_TOKEN').hideHelp();

const program = new Command('tds-provision')
  .description('provision TDS gateways through the issuance server API')
  .version(SERVER_VERSION)
  .option('--api-url <url>', 'API base URL, e.g. https://server:8443/api/v1 (default: saved config or $TDS_API_URL)')
  .addOption(tokenOption())
  .option('--token-file <file>', 'read the API token from this file (default: $TDS_API_TOKEN, else the saved config)')
  .option('--token-stdin', 'read the API token from standard input (a hidden prompt on a terminal)')
  .option('--ca-file <file>', 'trust only this CA for HTTPS (default: saved config or $TDS_CA_FILE)')
  .option('--json', 'print results as JSON');

async function client(): Promise<{ api: ApiClient; json: boolean }> {
  const g = program.opts<GlobalOpts>();
  const token = await explicitToken(g);
  const c = resolveConnection({ ...(g.apiUrl ? { apiUrl: g.apiUrl } : {}), ...(token ? { token } : {}), ...(g.caFile ? { caFile: g.caFile } : {}) });
  return { api: new ApiClient({ baseUrl: c.apiUrl, token: c.token, ...(c.caPem ? { caPem: c.caPem } : {}) }), json: g.json ?? false };
}

async function saveIssued(dir: string, r: ProvisionResponse, codigo: string, mac: string): Promise<string[]> {
  const written: string[] = [];
  const put = async (name: string, data: string, mode: number): Promise<void> => {
    await writeFileAtomic(path.join(dir, name), data, mode);
    written.push(path.join(dir, name));
  };
  await put('client.crt', r.certificate_pem, 0o644);
  if (r.private_key_pem) await put('client.key', r.private_key_pem, 0o600);
  await put('ca.crt', r.ca_pem, 0o644);
  const metadata = {
    gateway_id: r.gateway_id,
    mac_address: mac,
    codigo,
    expires_at: r.expires_at,
    serial_number: r.serial_number,
    mqtt_broker: r.mqtt_broker,
    mqtt_port: r.mqtt_port,
    mqtt_topic: r.mqtt_topic,
  };
  await put('metadata.json', JSON.stringify(metadata, null, 2) + '\n', 0o644);
  return written;
}

program
  .command('config')
  .description('save the API URL, token and (optionally) a pinned CA file')
  .option('--api-url <url>', 'API base URL')
  .addOption(tokenOption())
  .option('--token-file <file>', 'read the API token to save from this file')
  .option('--token-stdin', 'read the API token to save from standard input (a hidden prompt on a terminal)')
  .option('--ca-file <file>', 'pinned CA certificate (PEM)')
  .action(async (own: TokenOptions & { apiUrl?: string; caFile?: string }) => {
    // The same names are also global options; commander may hand them to the program.
    const g = program.opts<GlobalOpts>();
    const token = await explicitToken({
      ...(own.token ?? g.token ? { token: own.token ?? g.token } : {}),
      ...(own.tokenFile ?? g.tokenFile ? { tokenFile: own.tokenFile ?? g.tokenFile } : {}),
      ...(own.tokenStdin || g.tokenStdin ? { tokenStdin: true } : {}),
    });
    const opts = { apiUrl: own.apiUrl ?? g.apiUrl, token, caFile: own.caFile ?? g.caFile };
    if (!opts.apiUrl && !opts.token && !opts.caFile) throw new CliError('give at least one of --api-url, --token-file (or --token-stdin), --ca-file');
    const current = readConfig();
    const file = await writeConfig({
      ...current,
      ...(opts.apiUrl ? { api_url: opts.apiUrl } : {}),
      ...(opts.token ? { token: opts.token } : {}),
      ...(opts.caFile ? { ca_file: path.resolve(opts.caFile) } : {}),
    });
    output(program.opts<GlobalOpts>().json, { config: file }, `saved ${file}`);
  });

program
  .command('create-gateway')
  .description('create a gateway and get its certificate; saves certs/<mac>/{client.crt, client.key (server-made only), ca.crt, metadata.json}')
  .requiredOption('--mac <mac>', 'MAC address (aa:bb:cc:dd:ee:ff)')
  .requiredOption('--codigo <code>', 'gateway code, e.g. GW001')
  .requiredOption('--nome <name>', 'descriptive name')
  .requiredOption('--conta-id <id>', 'account id', parsePositiveInt('--conta-id'))
  .option('--csr <file>', 'certificate request (PEM) made where the key lives; no key is then sent over the network')
  .addOption(new Option('--key-type <type>', 'key type when the server makes the key').choices(KEY_TYPES))
  .option('--output <dir>', 'where to save', './certs')
  .action(async (opts: { mac: string; codigo: string; nome: string; contaId: number; csr?: string; keyType?: KeyType; output: string }) => {
    const mac = parseMac(opts.mac);
    if (!mac.ok) throw new CliError(mac.error);
    const csrPem = opts.csr === undefined ? undefined : readCsrFile(opts.csr);
    const { api, json } = await client();
    try {
      const r = await api.provision({
        mac_address: mac.mac,
        codigo: opts.codigo,
        nome: opts.nome,
        conta_id: opts.contaId,
        ...(csrPem ? { csr_pem: csrPem } : {}),
        ...(opts.keyType ? { key_type: opts.keyType } : {}),
      });
      const dir = gatewayDir(opts.output, mac.mac);
      const files = await saveIssued(dir, r, opts.codigo, mac.mac);
      output(json, { gateway_id: r.gateway_id, serial_number: r.serial_number, expires_at: r.expires_at, directory: dir, files, mqtt_broker: r.mqtt_broker, mqtt_port: r.mqtt_port, mqtt_topic: r.mqtt_topic }, [
        `gateway ${r.gateway_id} provisioned (${mac.mac}), certificate ${r.serial_number} valid until ${r.expires_at}`,
        `saved in ${dir}${r.private_key_pem ? ' (client.key is the only copy of the key: install it and delete it here)' : ''}`,
        `broker ${r.mqtt_broker}:${r.mqtt_port}, telemetry topic ${r.mqtt_topic}`,
      ]);
    } finally {
      api.close();
    }
  });

program
  .command('list-gateways')
  .description("list the account's gateways")
  .option('--conta-id <id>', 'account id (must be the token\'s)', parsePositiveInt('--conta-id'))
  .option('--search <text>', 'match codigo, nome or MAC')
  .option('--page <n>', 'page', parsePositiveInt('--page'))
  .option('--page-size <n>', 'rows per page (max 200)', parsePositiveInt('--page-size'))
  .option('--all', 'every page')
  .action(async (opts: { contaId?: number; search?: string; page?: number; pageSize?: number; all?: boolean }) => {
    const { api, json } = await client();
    try {
      const query = {
        ...(opts.contaId ? { conta_id: opts.contaId } : {}),
        ...(opts.search ? { search: opts.search } : {}),
        ...(opts.pageSize ? { page_size: opts.pageSize } : {}),
      };
      const rows = opts.all ? await api.listAllGateways(query) : (await api.listGateways({ ...query, ...(opts.page ? { page: opts.page } : {}) })).results;
      output(
        json,
        rows,
        rows.length === 0
          ? 'no gateways'
          : [
              'ID\tCODIGO\tMAC\tONLINE\tCERT SERIAL\tEXPIRES\tNOME',
              ...rows.map((g) => `${g.id}\t${g.codigo}\t${g.mac}\t${g.is_online ? 'yes' : 'no'}\t${g.active_certificate?.serial_number ?? '-'}\t${g.active_certificate?.expires_at ?? '-'}\t${g.nome}`),
            ],
      );
    } finally {
      api.close();
    }
  });

program
  .command('download-certs')
  .description("download a gateway's certificate ZIP and unpack it into <output>/<mac>/")
  .requiredOption('--gateway-id <id>', 'gateway id', parsePositiveInt('--gateway-id'))
  .option('--output <dir>', 'where to save', './certs')
  .option('--keep-zip', 'also keep the ZIP file')
  .action(async (opts: { gatewayId: number; output: string; keepZip?: boolean }) => {
    const { api, json } = await client();
    try {
      // The client keeps only a safe base name of the server's file name; the folder is the parsed MAC.
      const { filename, zip } = await api.downloadCertificates(opts.gatewayId);
      const mac = parseMac(filename.replace(/_certificados\.zip$/, ''));
      const dir = gatewayDir(opts.output, mac.ok ? mac.mac : `gateway-${opts.gatewayId}`);
      const files = unzipSync(new Uint8Array(zip));
      const written: string[] = [];
      for (const [name, data] of Object.entries(files)) {
        if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new CliError(`refusing to write the ZIP entry '${name}'`);
        await writeFileAtomic(path.join(dir, name), Buffer.from(data), name.endsWith('.key') ? 0o600 : 0o644);
        written.push(path.join(dir, name));
      }
      if (opts.keepZip) {
        await writeFileAtomic(path.join(dir, filename), zip, 0o600);
        written.push(path.join(dir, filename));
      }
      output(json, { gateway_id: opts.gatewayId, directory: dir, files: written }, [`saved ${written.length} files in ${dir}`, ...written.map((f) => `  ${path.basename(f)}`)]);
    } finally {
      api.close();
    }
  });

program
  .command('revoke-cert')
  .description("revoke a gateway's certificate (the CRL is re-signed at once)")
  .requiredOption('--gateway-id <id>', 'gateway id', parsePositiveInt('--gateway-id'))
  .requiredOption('--reason <reason>', 'keyCompromise, cessationOfOperation, superseded, ... or free text')
  .action(async (opts: { gatewayId: number; reason: string }) => {
    const { api, json } = await client();
    try {
      const r = await api.revoke(opts.gatewayId, opts.reason);
      output(json, r, [...r.revoked.map((c) => `revoked ${c.serial_number} (${c.reason}) at ${c.revoked_at}`), `CRL ${r.crl_number} published`]);
    } finally {
      api.close();
    }
  });

/** True when the PEM key file in `dir` is not the key of `certificatePem` (unreadable counts as "don't know": false). */
function staleKey(keyFile: string, certificatePem: string): boolean {
  try {
    const fromKey = createPublicKey(readFileSync(keyFile, 'utf8')).export({ type: 'spki', format: 'der' });
    const fromCert = createPublicKey(certificatePem).export({ type: 'spki', format: 'der' });
    return !fromKey.equals(fromCert);
  } catch {
    return false;
  }
}

program
  .command('renew-cert')
  .description(
    "renew a gateway's certificate (the old one is revoked, superseded) and save certs/<mac>/ like create-gateway; --ask-device asks the device over MQTT to renew itself instead",
  )
  .requiredOption('--gateway-id <id>', 'gateway id', parsePositiveInt('--gateway-id'))
  .addOption(new Option('--csr <file>', 'certificate request (PEM) made where the key lives; no key is then sent over the network').conflicts('askDevice'))
  .addOption(new Option('--key-type <type>', 'key type when the server makes the key').choices(KEY_TYPES).conflicts(['csr', 'askDevice']))
  .option('--ask-device', 'send cert_renew to the device over MQTT (the server needs --broker or --mqtt-url); it makes its own key and confirms the new certificate itself')
  .option('--output <dir>', 'where to save', './certs')
  .action(async (opts: { gatewayId: number; csr?: string; keyType?: KeyType; askDevice?: boolean; output: string }) => {
    const csrPem = opts.csr === undefined ? undefined : readCsrFile(opts.csr);
    const { api, json } = await client();
    try {
      if (opts.askDevice) {
        const r: RenewRequestedResponse = await api.renew(opts.gatewayId, { ask_device: true });
        output(json, r, [
          `cert_renew sent to ${r.mac_address} (gateway ${r.gateway_id}, command ${r.command_id})`,
          'the device makes a new key and sends its CSR; its current certificate stays valid until it confirms the new one',
        ]);
        return;
      }
      const gateway = await api.getGateway(opts.gatewayId);
      const previous = gateway.active_certificate?.serial_number;
      const r = await api.renew(opts.gatewayId, { ...(csrPem ? { csr_pem: csrPem } : {}), ...(opts.keyType ? { key_type: opts.keyType } : {}) });
      const parsed = parseMac(r.mac_address ?? gateway.mac);
      if (!parsed.ok) throw new CliError(`the server answered with an invalid MAC address: ${parsed.error}`);
      const mac = parsed.mac;
      const dir = gatewayDir(opts.output, mac);
      // A key left from an earlier certificate would not match the new one: it belongs to a revoked certificate.
      const keyFile = path.join(dir, 'client.key');
      const removedKey = !r.private_key_pem && existsSync(keyFile) && staleKey(keyFile, r.certificate_pem);
      if (removedKey) rmSync(keyFile);
      const files = await saveIssued(dir, r, gateway.codigo, mac);
      output(
        json,
        { gateway_id: r.gateway_id, serial_number: r.serial_number, replaces_serial_number: previous ?? null, expires_at: r.expires_at, directory: dir, files, removed_stale_key: removedKey },
        [
          `gateway ${r.gateway_id} (${mac}): new certificate ${r.serial_number} valid until ${r.expires_at}${previous ? `; ${previous} revoked (superseded)` : ''}`,
          `saved in ${dir}${r.private_key_pem ? ' (client.key is the only copy of the key: install it and delete it here)' : ''}`,
          ...(removedKey ? [`removed ${keyFile}: it was the key of the superseded certificate`] : []),
        ],
      );
    } finally {
      api.close();
    }
  });

program
  .command('import-csv')
  .description('create gateways from a CSV "mac_address,codigo,nome" (all rows or none); keys wait for one ZIP download (download-certs)')
  .argument('<file>', 'CSV file')
  .addOption(new Option('--key-type <type>', 'key type for the server-made keys').choices(KEY_TYPES))
  .action(async (file: string, opts: { keyType?: KeyType }) => {
    let csv: string;
    try {
      csv = readFileSync(file, 'utf8');
    } catch (err) {
      throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
    }
    const { api, json } = await client();
    try {
      const r = await api.importCsv(csv, opts.keyType ? { key_type: opts.keyType } : {});
      output(json, r, [...r.rows.map((row) => `line ${row.line}\t${row.mac_address}\tgateway ${row.gateway_id}\t${row.serial_number}`), `imported ${r.created} gateways`]);
    } catch (err) {
      if (err instanceof ApiError && Array.isArray(err.details?.rows)) {
        const rows = err.details.rows as { line: number; mac_address: string; status: string; error?: string }[];
        if (!json) for (const row of rows.filter((x) => x.status === 'error')) process.stderr.write(`line ${row.line}\t${escapeControlChars(row.mac_address)}\t${escapeControlChars(row.error ?? '')}\n`);
      }
      throw err;
    } finally {
      api.close();
    }
  });

registerClaimCommands(program, client, readCsrFile);

program.addHelpText('after', `\nConfig file: ${configPath()}`);

await runCli(program, [CliError, CommanderError]);

/** The PEM text of a CSR file, or a CLI error that names the file. */
function readCsrFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read the CSR ${file}: ${(err as Error).message}`);
  }
}
