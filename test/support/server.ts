import { existsSync } from 'node:fs';
import path from 'node:path';
import { createApiToken, openStore, type DatabaseConfig } from '@tds/server/store';
import { ApiClient } from '@tds/server/client';
import { startProcess, type StartedProcess } from './processes.js';
import { tempDir } from './temp.js';

/**
 * A real issuance server for integration tests, run from the compiled CLI exactly as a user runs
 * it: `tds-server init` in a temp folder, an account, one token per role, then `serve` over HTTPS
 * on a free loopback port. Build first: `npm run build -w server`.
 */
export interface TestServerOptions {
  /** MQTT broker host/port reported in provisioning responses (`mqtt_broker`, `mqtt_port`). */
  mqttBroker?: string;
  mqttPort?: number;
  /** Device certificate lifetime in days (default 3652). */
  certValidityDays?: number;
  /** CA key type (default ec). */
  caKeyType?: 'ec' | 'rsa';
  /** Key type when the server makes device keys (default ec). */
  deviceKeyType?: 'ec' | 'rsa';
  /** Device SAN domain (default tds.com.br). */
  domain?: string;
  /** Failed authentications per minute per address before 429 (default 20). */
  authFailLimit?: number;
  /** Extra arguments for `init` (e.g. `--pkcs11-uri ...` for a CA key in a token). */
  extraInitArgs?: string[];
  /** Extra arguments for `serve` (e.g. the broker engineer's `--broker ...`). */
  extraServeArgs?: string[];
  /** Extra environment for the server process. */
  env?: Record<string, string>;
  /** Serve plain HTTP on loopback instead of HTTPS. */
  noTls?: boolean;
  /** A PostgreSQL store (`init --database URL`, recorded in config.json) instead of SQLite in the data folder. */
  database?: string;
}

export interface TestServer {
  /** e.g. https://127.0.0.1:40123 */
  url: string;
  /** url + /api/v1 (the seed's base URL) */
  apiUrl: string;
  caPem: string;
  /** The account the tokens belong to. */
  contaId: number;
  tokens: { operator: string; admin: string; auditor: string };
  dataDir: string;
  passphrase: string;
  pid: number;
  process: StartedProcess;
  /** An ApiClient pinned to the test CA, with the token of `role` (default operator). */
  client(role?: 'operator' | 'admin' | 'auditor' | null): ApiClient;
  /** Runs `tds-server <args> --data <dataDir>` and returns its output (throws on a non-zero exit unless allowFailure). */
  cli(args: string[], options?: { allowFailure?: boolean }): Promise<{ code: number | string; stdout: string; output: string }>;
  /** A second account with its own tokens (for isolation tests). */
  createAccount(name: string): Promise<{ contaId: number; tokens: { operator: string; admin: string; auditor: string } }>;
  /** SIGKILL the server (crash tests); `restart()` starts it again on the same data. */
  kill(): Promise<void>;
  restart(): Promise<void>;
  /** Stops the server and deletes the data folder. */
  stop(): Promise<void>;
}

const ROOT = path.resolve(import.meta.dirname, '../..');
export const TDS_SERVER_CLI = path.join(ROOT, 'server/dist/cli/tds-server.js');
export const TDS_PROVISION_CLI = path.join(ROOT, 'server/dist/cli/tds-provision.js');
const PASSPHRASE = 'test-passphrase-not-secret';

async function runCli(dataDir: string, args: string[], env: Record<string, string>): Promise<{ code: number | string; stdout: string; output: string }> {
  const p = startProcess(`tds-server ${args[0] ?? ''}`, process.execPath, [TDS_SERVER_CLI, ...args, '--data', dataDir], {
    env: { ...process.env, TDS_CA_PASSPHRASE: PASSPHRASE, ...env },
  });
  let stdout = '';
  p.child.stdout?.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  const code = await p.exited();
  return { code, stdout, output: p.output() };
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  if (!existsSync(TDS_SERVER_CLI)) throw new Error(`${TDS_SERVER_CLI} is missing: run "npm run build -w server" first`);
  const dir = tempDir('tds-server-');
  const dataDir = path.join(dir.path, 'data');
  const env = options.env ?? {};

  const cli = async (args: string[], o: { allowFailure?: boolean } = {}) => {
    const r = await runCli(dataDir, args, env);
    if (r.code !== 0 && !o.allowFailure) throw new Error(`tds-server ${args.join(' ')} failed (${r.code}):\n${r.output}`);
    return r;
  };
  const json = async <T>(args: string[]): Promise<T> => JSON.parse((await cli([...args, '--json'])).stdout) as T;

  // Accounts and tokens go straight into the database (WAL allows it next to a running server):
  // four CLI start-ups fewer per test server. `cli()` remains for tests of those commands.
  const storeConfig: DatabaseConfig = options.database ? { kind: 'postgres', url: options.database } : { kind: 'sqlite', file: path.join(dataDir, 'tds-server.db') };
  const makeAccount = async (name: string) => {
    const store = await openStore(storeConfig);
    const repo = store.repo;
    try {
      const audit = { at: new Date().toISOString(), accountId: null, actor: 'test-harness', action: 'account.create', object: null, sourceIp: null, result: 'ok' as const, detail: null };
      const account = await repo.createAccount(name, audit);
      const token = async (role: 'operator' | 'admin' | 'auditor') => (await createApiToken(repo, { accountId: account.id, role, label: `test ${role}` }, 'test-harness')).token;
      const [operator, admin, auditor] = [await token('operator'), await token('admin'), await token('auditor')];
      return { contaId: account.id, tokens: { operator, admin, auditor } };
    } finally {
      await store.close();
    }
  };

  let server: StartedProcess | undefined;
  let info: { url: string; api_url: string; port: number } | undefined;
  const serve = async (port: number): Promise<void> => {
    const args = ['serve', '--data', dataDir, '--host', '127.0.0.1', '--port', String(port), '--json'];
    if (options.mqttBroker) args.push('--mqtt-broker', options.mqttBroker);
    if (options.mqttPort) args.push('--mqtt-port', String(options.mqttPort));
    if (options.certValidityDays) args.push('--cert-validity-days', String(options.certValidityDays));
    if (options.authFailLimit) args.push('--auth-fail-limit', String(options.authFailLimit));
    if (options.noTls) args.push('--no-tls');
    args.push(...(options.extraServeArgs ?? []));
    server = startProcess('tds-server serve', process.execPath, [TDS_SERVER_CLI, ...args], {
      env: { ...process.env, TDS_CA_PASSPHRASE: PASSPHRASE, ...env },
    });
    const m = await server.waitForOutput(/^(\{"event":"listening".*\})$/m, 30_000);
    info = JSON.parse(m[1]!) as { url: string; api_url: string; port: number };
  };

  try {
    const initArgs = ['init'];
    if (options.caKeyType) initArgs.push('--key-type', options.caKeyType);
    if (options.deviceKeyType) initArgs.push('--device-key-type', options.deviceKeyType);
    if (options.domain) initArgs.push('--domain', options.domain);
    initArgs.push(...(options.extraInitArgs ?? []));
    if (options.database) initArgs.push('--database', options.database);
    const init = await json<{ ca_pem: string }>(initArgs);
    const main = await makeAccount('test account');
    await serve(0);
    const handle: TestServer = {
      url: info!.url,
      apiUrl: info!.api_url,
      caPem: init.ca_pem,
      contaId: main.contaId,
      tokens: main.tokens,
      dataDir,
      passphrase: PASSPHRASE,
      get pid() {
        return server!.pid;
      },
      get process() {
        return server!;
      },
      client(role = 'operator') {
        return new ApiClient({ baseUrl: handle.apiUrl, caPem: handle.caPem, ...(role ? { token: main.tokens[role] } : {}) });
      },
      cli,
      createAccount: makeAccount,
      async kill() {
        await server?.kill();
      },
      async restart() {
        await server?.stop();
        await serve(info!.port);
      },
      async stop() {
        await server?.stop();
        dir.remove();
      },
    };
    return handle;
  } catch (err) {
    await server?.stop();
    dir.remove();
    throw err;
  }
}
