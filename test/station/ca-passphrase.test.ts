import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CA_PASSPHRASE_ENV, CA_PASSPHRASE_FILE_ENV } from '../../src/main/settings/ca-passphrase.js';
import { startWebStation, type WebStation } from '../../src/main/web/web-station.js';
import { invoke, NO_DEVICES } from '../support/station-core.js';
import { freePort } from '../support/ports.js';
import { filesContaining, tempDir } from '../support/temp.js';
import { ensureRendererBuilt } from './renderer-build.js';

// Where no keychain is (a headless bench box, a desktop with its keyring locked), the bundled server's
// CA passphrase is never kept in plain text next to the CA key: the operator gives it at start, from a
// file outside the data folder (or the environment), and an older station's plain copy is moved out.
describe('the bundled server\'s CA passphrase without a keychain (web mode)', () => {
  const tmp = tempDir('tds-ca-pass-');
  const running: WebStation[] = [];
  const secretsDir = path.join(tmp.path, 'operator');
  mkdirSync(secretsDir, { mode: 0o700 });
  const passFile = path.join(secretsDir, 'ca-passphrase');
  const passphrase = 'a passphrase the operator keeps apart';
  writeFileSync(passFile, `${passphrase}\n`, { mode: 0o600 });

  const start = async (dataDir: string, env: NodeJS.ProcessEnv = {}): Promise<WebStation> => {
    const ws = await startWebStation({ dataDir, version: 'test', bundledServer: true, discovery: 'none', keychain: null, ...NO_DEVICES, rendererDir: ensureRendererBuilt(), env, log: () => undefined });
    running.push(ws);
    return ws;
  };
  const stop = async (ws: WebStation): Promise<void> => {
    running.splice(running.indexOf(ws), 1);
    await ws.close();
  };
  const firstRun = async (ws: WebStation) =>
    ws.core.call('firstRun.run', { accountName: 'Passphrase factory', operator: 'op', startBroker: false, brokerPort: await freePort(), deviceBrokerHost: '127.0.0.1' });

  afterEach(async () => {
    await Promise.all(running.splice(0).map((w) => w.close()));
  });
  afterAll(() => tmp.remove());

  it('refuses to make a CA whose passphrase it could only keep in plain text, and says what to do', async () => {
    const dataDir = path.join(tmp.path, 'none');
    const ws = await start(dataDir);
    expect((await invoke(ws, 'app.info')).secretStore).toBe('file');
    const r = await firstRun(ws);
    expect(r).toMatchObject({ ok: false, error: { code: 'NOT_CONFIGURED', message: expect.stringContaining('no unlocked keychain'), hint: expect.stringContaining(CA_PASSPHRASE_FILE_ENV) } });
    expect(existsSync(path.join(dataDir, 'server', 'ca.key.enc'))).toBe(false);
    const secrets = path.join(dataDir, 'secrets.json');
    if (existsSync(secrets)) expect(readFileSync(secrets, 'utf8')).not.toContain('caPassphrase');
  }, 60_000);

  it('takes the passphrase only from a private file outside the data folder', async () => {
    const dataDir = path.join(tmp.path, 'where');
    mkdirSync(dataDir, { recursive: true });
    const inside = path.join(dataDir, 'pass');
    writeFileSync(inside, passphrase, { mode: 0o600 });
    await expect(start(dataDir, { [CA_PASSPHRASE_FILE_ENV]: inside })).rejects.toThrow(/inside the data folder/);
    const loose = path.join(secretsDir, 'loose');
    writeFileSync(loose, passphrase);
    chmodSync(loose, 0o644);
    await expect(start(dataDir, { [CA_PASSPHRASE_FILE_ENV]: loose })).rejects.toThrow(/readable by others; chmod 600/);
    await expect(start(dataDir, { [CA_PASSPHRASE_FILE_ENV]: path.join(secretsDir, 'missing') })).rejects.toThrow(/does not exist/);
  }, 60_000);

  it('makes the CA with the given passphrase, writes it nowhere in the data folder nor into the core\'s argv or environment, and opens the CA with it again', async () => {
    const dataDir = path.join(tmp.path, 'given');
    // Given in this process's environment, as an operator would export it.
    process.env[CA_PASSPHRASE_ENV] = passphrase;
    let ws: WebStation;
    try {
      ws = await start(dataDir, process.env);
    } finally {
      delete process.env[CA_PASSPHRASE_ENV];
    }
    expect(await firstRun(ws)).toMatchObject({ ok: true });
    // The core got it in its start message: not in its command line, not in its environment.
    const core = ws.core.pid!;
    expect(readFileSync(`/proc/${core}/cmdline`).includes(Buffer.from(passphrase))).toBe(false);
    expect(readFileSync(`/proc/${core}/environ`).includes(Buffer.from(passphrase))).toBe(false);
    expect(existsSync(path.join(dataDir, 'server', 'ca.key.enc'))).toBe(true);
    expect(filesContaining(dataDir, passphrase)).toEqual([]);
    await stop(ws);
    ws = await start(dataDir, { [CA_PASSPHRASE_FILE_ENV]: passFile });
    expect((await invoke(ws, 'settings.get')).server.bundled?.running).toBe(true);
    await stop(ws);
    // Without it, the CA stays shut and the station says why.
    ws = await start(dataDir);
    expect((await invoke(ws, 'settings.get')).server.bundled?.running).toBe(false);
    expect(await ws.core.call('settings.setServer', { mode: 'bundled' })).toMatchObject({ ok: false, error: { code: 'NOT_CONFIGURED', message: expect.stringContaining('no unlocked keychain') } });
  }, 90_000);

  it('moves out the plain-text passphrase an older station kept next to the CA key', async () => {
    const dataDir = path.join(tmp.path, 'older');
    let ws = await start(dataDir, { [CA_PASSPHRASE_FILE_ENV]: passFile });
    expect(await firstRun(ws)).toMatchObject({ ok: true });
    await stop(ws);
    // What an older station did: the passphrase in the plain secrets file, next to the CA key.
    const secretsFile = path.join(dataDir, 'secrets.json');
    const old = JSON.parse(readFileSync(secretsFile, 'utf8')) as { version: 1; secrets: Record<string, string> };
    old.secrets['bundled.caPassphrase'] = passphrase;
    writeFileSync(secretsFile, JSON.stringify(old), { mode: 0o600 });

    // Not given: the station will not use the plain copy, and says how to move it out.
    ws = await start(dataDir);
    const refused = await ws.core.call('settings.setServer', { mode: 'bundled' });
    expect(refused).toMatchObject({ ok: false, error: { code: 'NOT_CONFIGURED', message: expect.stringContaining('in plain text'), hint: expect.stringContaining(CA_PASSPHRASE_FILE_ENV) } });
    await stop(ws);

    // Given, but different: refused, and the copy is kept (it may be the only one).
    const wrong = path.join(secretsDir, 'wrong');
    writeFileSync(wrong, 'not the passphrase of this CA', { mode: 0o600 });
    ws = await start(dataDir, { [CA_PASSPHRASE_FILE_ENV]: wrong });
    expect(await ws.core.call('settings.setServer', { mode: 'bundled' })).toMatchObject({ ok: false, error: { code: 'NOT_CONFIGURED', message: expect.stringContaining('differs') } });
    expect(readFileSync(secretsFile, 'utf8')).toContain(passphrase);
    await stop(ws);

    // Given and matching: the CA opens and the plain copy is deleted.
    ws = await start(dataDir, { [CA_PASSPHRASE_FILE_ENV]: passFile });
    expect((await invoke(ws, 'settings.get')).server.bundled?.running).toBe(true);
    expect(filesContaining(dataDir, passphrase)).toEqual([]);
  }, 120_000);
});
