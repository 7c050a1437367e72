/**
 * Re-running `tds-server broker-kit` into the folder a running Mosquitto uses (to add --publish-dir
 * and --reload) must not break that broker. Regression: the re-run wrote a new broker.key as
 * root-only 0600; the next reload failed with "Unable to load server key file ... Permission
 * denied" and the TLS listener was dead.
 *
 * Set-up as on a Debian host: the kit installed the way its README says (root:mosquitto, key 0640),
 * Mosquitto started as root so it drops to the `mosquitto` user (it then re-reads its files on
 * SIGHUP as that user), the real server (compiled CLI) publishing revocations to the folder.
 * Needs root (to run Mosquitto the way Debian does and to give files to the mosquitto group).
 */
import { chmodSync, chownSync, copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProvisionResponse } from '../../src/contract/index.js';
import { startMosquitto, type RunningMosquitto } from '../../../test/support/mosquitto.js';
import { freePort } from '../../../test/support/ports.js';
import { startTestServer, TDS_SERVER_CLI, type TestServer } from '../../../test/support/server.js';
import { run } from '../support/run.js';
import { tempDir } from '../../../test/support/temp.js';
import { connect, end, refused, type Endpoint, type Identity } from './support/clients.js';
import { quiet } from './support/harness.js';

function account(name: string): { uid: number; gid: number } | undefined {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  return line ? { uid: Number(line.split(':')[2]), gid: Number(line.split(':')[3]) } : undefined;
}

const mosquittoUser = account('mosquitto');
const asRoot = process.getuid?.() === 0;

describe.runIf(asRoot && mosquittoUser)('re-running broker-kit into the folder a running Mosquitto uses', () => {
  const mq = mosquittoUser!;
  const base = tempDir('tds-kit-rerun-');
  const live = path.join(base.path, 'etc-mosquitto-tds');
  const staging = path.join(base.path, 'staging');
  const state = path.join(base.path, 'var-lib-mosquitto');
  const pidFile = path.join(base.path, 'mosquitto.pid');
  let server: TestServer;
  let broker: RunningMosquitto;
  let ep: Endpoint;
  let port: number;
  const mode = (f: string): string => (statSync(path.join(live, f)).mode & 0o7777).toString(8);
  const owner = (f: string): string => `${statSync(path.join(live, f)).uid}:${statSync(path.join(live, f)).gid}`;
  const reloads = (): number => (broker.output().match(/Reloading config/g) ?? []).length;
  const device = async (n: number): Promise<ProvisionResponse & Identity & { mac: string }> => {
    const m = `a4:cf:12:21:00:0${n}`;
    const r = await server.client().provision({ mac_address: m, codigo: `KR-${n}`, nome: `kit rerun ${n}`, conta_id: server.contaId });
    return { ...r, mac: m, certPem: r.certificate_pem, keyPem: r.private_key_pem! };
  };
  const accepts = async (id: Identity, clientId: string): Promise<void> => {
    await end(await connect(ep, id, { clientId }));
  };
  const kit = (extra: string[], o: { allowFailure?: boolean } = {}) =>
    server.cli(
      ['broker-kit', '--host', 'localhost', '--alt-name', '127.0.0.1', '--port', String(port), '--bind', '127.0.0.1', '--install-dir', live, '--dynsec-state', path.join(state, 'dynsec.json'), ...extra],
      o,
    );

  beforeAll(async () => {
    chmodSync(base.path, 0o755); // the mosquitto user must be able to reach the broker folder
    port = await freePort();
    server = await startTestServer();
    ep = { host: '127.0.0.1', port, caPem: server.caPem };
    await kit(['--out', staging]);
    // Install as the kit's README says.
    mkdirSync(live, { mode: 0o750 });
    chownSync(live, 0, mq.gid);
    for (const f of ['ca.crt', 'broker.crt', 'crl.pem', 'acl.conf', 'broker.key']) {
      copyFileSync(path.join(staging, f), path.join(live, f));
      chownSync(path.join(live, f), 0, mq.gid);
      chmodSync(path.join(live, f), f === 'broker.key' ? 0o640 : 0o644);
    }
    mkdirSync(state, { mode: 0o700 });
    chownSync(state, mq.uid, mq.gid);
    copyFileSync(path.join(staging, 'dynamic-security.json'), path.join(state, 'dynsec.json'));
    chownSync(path.join(state, 'dynsec.json'), mq.uid, mq.gid);
    // conf.d drop-in + what Debian's main mosquitto.conf would add (logging); no `user` line: as root
    // Mosquitto drops to the `mosquitto` user, exactly as the Debian service does.
    const conf = path.join(base.path, 'mosquitto.conf');
    writeFileSync(conf, `log_dest stderr\nlog_type all\npersistence false\n${readFileSync(path.join(staging, 'mosquitto.conf'), 'utf8')}`, { mode: 0o644 });
    broker = await startMosquitto(conf, { pidFile });
    const status = readFileSync(`/proc/${broker.pid}/status`, 'utf8');
    expect(/^Uid:\s+(\d+)/m.exec(status)?.[1], 'Mosquitto must run as the mosquitto user for this test to mean anything').toBe(String(mq.uid));
  });
  afterAll(async () => {
    await broker?.stop();
    await server?.stop();
    base.remove();
  });

  it('keeps the broker key pair and every file\'s owner and mode, reloads, and the TLS listener accepts devices (also after the next publication)', async () => {
    const first = await device(1);
    await accepts(first, first.mac);
    const keyBefore = readFileSync(path.join(live, 'broker.key'), 'utf8');
    const before = reloads();

    const r = await kit(['--out', live, '--publish-dir', live, '--reload', `pidfile:${pidFile}`, '--json']);
    while (reloads() <= before) await quiet(20);
    await quiet(200);
    expect(broker.output()).not.toMatch(/Unable to load server key|Unable to load server certificate|Unable to load certificate revocation/);
    await accepts(first, first.mac);

    // The next publication (a revocation through the running server) reloads again: still fine.
    const second = await device(2);
    const reloadsBefore = reloads();
    await server.client('admin').revoke(second.gateway_id, 'keyCompromise');
    while (reloads() <= reloadsBefore) await quiet(20);
    await quiet(200);
    expect(await refused(ep, second, { clientId: second.mac, timeoutMs: 2_000 })).toBeTruthy();
    await accepts(first, first.mac);

    const out = JSON.parse(r.stdout) as { broker_key_kept: boolean; reloaded: boolean };
    expect(out).toMatchObject({ broker_key_kept: true, reloaded: true });
    expect(readFileSync(path.join(live, 'broker.key'), 'utf8')).toBe(keyBefore);
    for (const f of ['ca.crt', 'broker.crt', 'crl.pem', 'acl.conf']) {
      expect([f, owner(f), mode(f)]).toEqual([f, `0:${mq.gid}`, '644']);
    }
    expect(['broker.key', owner('broker.key'), mode('broker.key')]).toEqual(['broker.key', `0:${mq.gid}`, '640']);
  });

  it('a new key pair only with --rotate-broker-key; it keeps the old file\'s owner and mode and the broker loads it', async () => {
    const keyBefore = readFileSync(path.join(live, 'broker.key'), 'utf8');
    const before = reloads();
    const r = await kit(['--out', live, '--publish-dir', live, '--reload', `pidfile:${pidFile}`, '--rotate-broker-key', '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject({ broker_key_kept: false, reloaded: true });
    expect(readFileSync(path.join(live, 'broker.key'), 'utf8')).not.toBe(keyBefore);
    expect(['broker.key', owner('broker.key'), mode('broker.key')]).toEqual(['broker.key', `0:${mq.gid}`, '640']);
    while (reloads() <= before) await quiet(20);
    const d = await device(3);
    await accepts(d, d.mac);
  });

  it('refuses the reload, with the reason, when the broker could not read its files; nothing is replaced and the listener keeps working', async () => {
    const d = await device(4);
    chmodSync(path.join(live, 'broker.key'), 0o600); // as the old kit left it
    try {
      const files = ['acl.conf', 'crl.pem', 'ca.crt', 'broker.crt', 'mosquitto.conf'];
      const inodes = files.map((f) => statSync(path.join(live, f)).ino);
      const before = reloads();
      const r = await kit(['--out', live, '--publish-dir', live, '--reload', `pidfile:${pidFile}`], { allowFailure: true });
      expect(r.code).not.toBe(0);
      expect(r.output).toMatch(/broker reload refused.*broker\.key is not readable by the broker \(pid \d+/);
      // Not one file replaced (an atomic replacement would be a new inode).
      expect(files.map((f) => statSync(path.join(live, f)).ino)).toEqual(inodes);
      await quiet(300);
      expect(reloads()).toBe(before);
      await accepts(d, d.mac);
    } finally {
      chmodSync(path.join(live, 'broker.key'), 0o640);
    }
  });
});

describe('broker-kit options of the live-session cut-off', () => {
  it('refuses a relative or spaced plugin or state path before touching anything', async () => {
    const dir = tempDir('tds-kit-args-');
    try {
      for (const [flag, value] of [['--dynsec-plugin', 'mosquitto_dynamic_security.so'], ['--dynsec-state', '/var/lib/mosquitto/my state.json']]) {
        const r = await run(process.execPath, [TDS_SERVER_CLI, 'broker-kit', '--data', path.join(dir.path, 'data'), '--out', path.join(dir.path, 'kit'), '--host', 'localhost', flag!, value!], {
          env: { TDS_CA_PASSPHRASE: 'unused' },
        });
        expect(r.code).not.toBe(0);
        expect(r.output).toContain(`${flag} must be an absolute path without spaces`);
      }
    } finally {
      dir.remove();
    }
  });
});
