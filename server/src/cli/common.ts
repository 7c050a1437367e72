/** Shared CLI plumbing: data folder, CA passphrase or token PIN, output (`--json` for scripts), errors. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { caKeyBackend, openCa, PKCS11_PIN_ENV, type CaUnlock } from '../ca/ca-backend.js';
import { resolveDatabase } from '../config/database.js';
import { dataPath, loadSettings, type Settings } from '../config/data-dir.js';
import { CrlPublisher } from '../service/crl-publisher.js';
import { ServerEvents } from '../service/events.js';
import { createIssuanceServices, type IssuanceServices } from '../service/issuance.js';
import type { StoreBackend } from '../store/backend.js';
import { openStore } from '../store/open.js';
import type { Repository } from '../store/repository.js';

/** A failure the user can fix; printed without a stack trace. */
export class CliError extends Error {}

export const PASSPHRASE_ENV = 'TDS_CA_PASSPHRASE';

export function addDataOption(cmd: Command): Command {
  return cmd.option('--data <dir>', 'data folder (default: $TDS_DATA_DIR)');
}

export function addJsonOption(cmd: Command): Command {
  return cmd.option('--json', 'print the result as JSON (for scripts)');
}

/** `--database postgres://…`: the store, when it is not the data folder's SQLite file (see config/database.ts). */
export function addDatabaseOption(cmd: Command): Command {
  return cmd.option('--database <url>', 'PostgreSQL store, e.g. postgres://tds@db:5432/tds (password from PGPASSWORD or ~/.pgpass; default: $TDS_DATABASE_URL, config.json, else SQLite in the data folder)');
}

/** How a signing command unlocks the CA key: the passphrase (sealed file) or the PIN (PKCS#11 token). */
export function addPassphraseOption(cmd: Command): Command {
  return cmd
    .option('--passphrase-file <file>', `read the CA passphrase from this file (else $${PASSPHRASE_ENV}, else a prompt)`)
    .option('--pin-file <file>', `CA key in a PKCS#11 token: read the token PIN from this file (else $${PKCS11_PIN_ENV}, else a prompt)`);
}

export function dataDirFrom(opts: { data?: string }): string {
  const dir = opts.data ?? process.env.TDS_DATA_DIR;
  if (!dir) throw new CliError('no data folder: pass --data DIR (or set TDS_DATA_DIR)');
  return path.resolve(dir);
}

/** A secret from its file (first line ending removed), else the environment, else a hidden prompt on a terminal. */
async function resolveSecret(what: string, file: string | undefined, envName: string, fileOption: string): Promise<string | undefined> {
  if (file) {
    try {
      return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new CliError(`cannot read the ${what} file ${file}: ${(err as Error).message}`);
    }
  }
  const env = process.env[envName];
  if (env !== undefined && env !== '') return env;
  if (!process.stdin.isTTY) throw new CliError(`the ${what} is needed: set ${envName}, or pass ${fileOption} FILE`);
  return undefined;
}

/** The token PIN from --pin-file, $TDS_PKCS11_PIN, or a hidden prompt on a terminal. */
export async function resolvePin(opts: { pinFile?: string }): Promise<string> {
  return (await resolveSecret('token PIN', opts.pinFile, PKCS11_PIN_ENV, '--pin-file')) ?? (await promptHidden('Token PIN: '));
}

/** What unlocks this data folder's CA key: its passphrase, or the PIN when the key is in a token. */
export async function resolveCaUnlock(dataDir: string, opts: { passphraseFile?: string; pinFile?: string }): Promise<CaUnlock> {
  return caKeyBackend(dataDir) === 'pkcs11' ? { pin: await resolvePin(opts) } : { passphrase: await resolvePassphrase(opts) };
}

/**
 * A passphrase from --passphrase-file, the environment variable, or a hidden prompt on a terminal
 * (twice with `confirm`). Default: the CA's ($TDS_CA_PASSPHRASE); `tds-server backup` asks for the
 * backup's own.
 */
export async function resolvePassphrase(
  opts: { passphraseFile?: string },
  confirm = false,
  what: { env: string; name: string } = { env: PASSPHRASE_ENV, name: 'CA passphrase' },
): Promise<string> {
  const given = await resolveSecret(what.name, opts.passphraseFile, what.env, '--passphrase-file');
  if (given !== undefined) return given;
  const first = await promptHidden(`${what.name[0]!.toUpperCase()}${what.name.slice(1)}: `);
  if (confirm) {
    const second = await promptHidden('Repeat the passphrase: ');
    if (first !== second) throw new CliError('the two passphrases differ');
  }
  return first;
}

/** Reads a line from the terminal without echoing it. */
export function promptHidden(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(question);
    let value = '';
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    const done = (err?: Error): void => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new CliError('cancelled'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

/** Prints `data` as one JSON line (--json) or the human lines. */
export function output(json: boolean | undefined, data: unknown, human: string | string[]): void {
  if (json) process.stdout.write(JSON.stringify(data) + '\n');
  else process.stdout.write((Array.isArray(human) ? human.join('\n') : human) + '\n');
}

export function parsePositiveInt(name: string) {
  return (value: string): number => {
    if (!/^[0-9]{1,10}$/.test(value) || Number(value) < 1) throw new CliError(`${name} must be a positive integer, not '${value}'`);
    return Number(value);
  };
}

/** "730d", "24h", "2w", "1y" → milliseconds. */
export function parseDuration(value: string): number {
  const m = /^([0-9]{1,6})([hdwy])$/.exec(value.trim());
  if (!m) throw new CliError(`'${value}' is not a duration: use a number with h, d, w or y (e.g. 730d)`);
  const unit = { h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000, y: 365 * 86_400_000 }[m[2] as 'h' | 'd' | 'w' | 'y'];
  return Number(m[1]) * unit;
}

export interface OfflineContext {
  dataDir: string;
  settings: Settings;
  store: StoreBackend;
  repo: Repository;
  close(): Promise<void>;
}

/** Database + settings, no CA key (account and token commands). `database`: the --database option. */
export async function openOffline(dataDir: string, database?: string): Promise<OfflineContext> {
  const settings = await loadSettings(dataDir);
  const store = await openStore(resolveDatabase({ dataDir, settings, ...(database !== undefined ? { option: database } : {}) }));
  return { dataDir, settings, store, repo: store.repo, close: () => store.close() };
}

export interface SigningContext extends OfflineContext {
  service: IssuanceServices;
  crl: CrlPublisher;
}

/** Database + unlocked CA (commands that sign); `close()` also releases the CA key store. */
export async function openSigning(dataDir: string, unlock: CaUnlock, database?: string): Promise<SigningContext> {
  const base = await openOffline(dataDir, database);
  try {
    const ca = await openCa(dataDir, unlock);
    try {
      await base.store.bindCa(ca.certificatePem);
    } catch (err) {
      await ca.close();
      throw err;
    }
    const crl = new CrlPublisher({
      ca,
      repo: base.repo,
      nextUpdateDays: base.settings.crl.nextUpdateDays,
      crlFile: dataPath(dataDir, 'crl'),
      actor: 'cli',
      ...(base.store.cluster ? { cluster: base.store.cluster } : {}),
    });
    const service = createIssuanceServices({ ca, repo: base.repo, settings: base.settings, events: new ServerEvents(), crl });
    return {
      ...base,
      service,
      crl,
      async close() {
        await base.close();
        await ca.close();
      },
    };
  } catch (err) {
    await base.close();
    throw err;
  }
}

export function cliAudit(action: string, detail: string | null = null, accountId: number | null = null) {
  return { at: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'), accountId, actor: 'cli', action, object: null, sourceIp: null, result: 'ok' as const, detail };
}
