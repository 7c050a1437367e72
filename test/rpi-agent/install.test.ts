/**
 * firmware/rpi/install.sh run directly (as the Pi job runs it over SSH) with an install prefix and
 * the `none` service manager: idempotent re-install, rollback of a fresh install, refusals that name
 * what to fix, and the agent's own Python unit tests.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend, type Backend } from '../support/backend.js';
import { tempDir } from '../support/temp.js';
import { requireTool } from '../support/tools.js';
import { agentPid, stopAgent } from '../pi/helpers.js';
import { ROOT, PYTHON } from './support.js';

const INSTALL = path.join(ROOT, 'firmware/rpi/install.sh');
const me = userInfo().username;
let backend: Backend;
let work: { path: string; remove(): void };
let prefix: string;

function sh(args: string[], env: Record<string, string> = {}): { code: number; out: string; err: string } {
  // PATH as on a Pi (no pyenv or other Pythons in front of Debian's).
  const r = spawnSync('sh', [INSTALL, ...args], { encoding: 'utf8', env: { ...process.env, PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', PYTHONDONTWRITEBYTECODE: '1', ...env } });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** Every file under the prefix with its mode and content hash (the agent's runtime files excluded). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = path.join(d, name);
      const rel = path.relative(dir, p);
      if (/^(run|var)\//.test(rel) || rel.includes('__pycache__') || rel.endsWith('identity.json')) continue;
      const st = statSync(p);
      if (st.isDirectory()) {
        out[rel + '/'] = (st.mode & 0o7777).toString(8);
        walk(p);
      } else out[rel] = `${(st.mode & 0o7777).toString(8)} ${createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 16)}`;
    }
  };
  walk(dir);
  return out;
}

beforeAll(async () => {
  requireTool('openssl', 'openssl');
  work = tempDir('tds-install-');
  prefix = path.join(work.path, 'pi');
  mkdirSync(prefix);
  backend = await startBackend({ broker: 'mosquitto' });
});

afterAll(async () => {
  await stopAgent(prefix);
  await backend?.stop();
  work?.remove();
});

describe('install.sh', () => {
  it('refuses systemd with a prefix, and a certificate that is not for the key made here', () => {
    const r = sh(['install', '--prefix', prefix, '--service-manager', 'systemd']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/systemd needs --prefix \//);
    const bad = sh(['keygen', '--prefix', prefix, '--cn', 'not-a-mac']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/device MAC/);
  });

  it('installs from keygen to a running agent, and a second run with the same inputs changes nothing', async () => {
    const mac = 'dc:a6:32:7e:10:01';
    const csr = sh(['keygen', '--prefix', prefix, '--cn', mac]);
    expect(csr.code, csr.err).toBe(0);
    expect(csr.out).toMatch(/BEGIN CERTIFICATE REQUEST/);
    const staged = path.join(prefix, 'etc/gateway-iot/.staging/client.key');
    expect(statSync(staged).mode & 0o777).toBe(0o600);
    const res = await backend.server.client('operator').provision({ mac_address: mac, codigo: 'INST-1', nome: 'install test', conta_id: backend.server.contaId, csr_pem: csr.out });
    const from = path.join(work.path, 'upload');
    mkdirSync(from);
    writeFileSync(path.join(from, 'client.crt'), res.certificate_pem);
    writeFileSync(path.join(from, 'ca.crt'), res.ca_pem);
    writeFileSync(
      path.join(from, 'config.json'),
      JSON.stringify({ mqtt: { host: backend.broker.host, port: backend.broker.port }, paths: { certs_dir: path.join(prefix, 'etc/gateway-iot/certs'), state_dir: path.join(prefix, 'var/lib/gateway-iot') } }),
    );
    const args = ['install', '--prefix', prefix, '--service-manager', 'none', '--user', me, '--python', 'python3', '--from', from, '--agent-from', path.join(ROOT, 'firmware/rpi')];
    const first = sh(args);
    expect(first.code, first.err).toBe(0);
    expect(first.out).toMatch(new RegExp(`INSTALL-OK mac=${mac}`));
    const pid1 = agentPid(prefix);
    expect(pid1).toBeDefined();
    // Bare "python3" was resolved to an absolute path for the unit.
    expect(readFileSync(path.join(prefix, 'etc/systemd/system/gateway-mqtt.service'), 'utf8')).toMatch(/^ExecStart=\/\S*python3 /m);
    expect(sh(['finalize', '--prefix', prefix]).code).toBe(0);
    const before = snapshot(prefix);

    const second = sh(args);
    expect(second.code, second.err).toBe(0);
    expect(snapshot(prefix)).toEqual({ ...before, 'etc/gateway-iot/.prev/': '700', 'etc/gateway-iot/.staging/': '700', ...prevFiles(before) });
    const pid2 = agentPid(prefix);
    expect(pid2).toBeDefined();
    expect(pid2).not.toBe(pid1); // restarted, and only one agent: the old PID is gone
    expect(existsSync(`/proc/${pid1}/cmdline`) && readFileSync(`/proc/${pid1}/cmdline`, 'utf8').includes('mqtt_client.py')).toBe(false);
    expect(sh(['service', 'status', '--prefix', prefix, '--service-manager', 'none', '--user', me]).out).toMatch(/service=active/);
    expect(sh(['finalize', '--prefix', prefix]).code).toBe(0);
    expect(snapshot(prefix)).toEqual(before);
  });

  it('rolls a fresh install back to nothing and stops its agent', () => {
    const other = path.join(work.path, 'pi-fresh');
    mkdirSync(other);
    const mac = 'dc:a6:32:7e:10:02';
    // A throwaway CA is enough here: the broker is never reached.
    const csr = sh(['keygen', '--prefix', other, '--cn', mac]);
    expect(csr.code).toBe(0);
    const ca = path.join(work.path, 'ca');
    mkdirSync(ca);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${ca}/ca.key`, '-out', `${ca}/ca.crt`, '-subj', '/CN=throwaway', '-days', '1'], { stdio: 'pipe' });
    writeFileSync(`${ca}/req.csr`, csr.out);
    const from = path.join(work.path, 'upload-fresh');
    mkdirSync(from);
    execFileSync('openssl', ['x509', '-req', '-in', `${ca}/req.csr`, '-CA', `${ca}/ca.crt`, '-CAkey', `${ca}/ca.key`, '-CAcreateserial', '-days', '1', '-out', `${from}/client.crt`], { stdio: 'pipe' });
    writeFileSync(`${from}/ca.crt`, readFileSync(`${ca}/ca.crt`));
    writeFileSync(`${from}/config.json`, JSON.stringify({ mqtt: { host: '127.0.0.1', port: 1 }, paths: { certs_dir: path.join(other, 'etc/gateway-iot/certs'), state_dir: path.join(other, 'var/lib/gateway-iot') } }));
    const r = sh(['install', '--prefix', other, '--service-manager', 'none', '--user', me, '--from', from, '--agent-from', path.join(ROOT, 'firmware/rpi')]);
    expect(r.code, r.err).toBe(0);
    expect(agentPid(other)).toBeDefined();
    const back = sh(['rollback', '--prefix', other, '--service-manager', 'none', '--user', me]);
    expect(back.code, back.err).toBe(0);
    expect(back.out).toMatch(/ROLLBACK-OK \(no previous identity/);
    expect(agentPid(other)).toBeUndefined();
    expect(readdirSync(path.join(other, 'etc/gateway-iot/certs'))).toEqual([]);
    expect(existsSync(path.join(other, 'etc/gateway-iot/config.json'))).toBe(false);
  });

  it("passes the agent's Python unit tests (config, buffer, certificate files with openssl)", () => {
    const r = spawnSync(PYTHON, ['-m', 'unittest', 'discover', '-s', 'tests', '-t', '.'], {
      cwd: path.join(ROOT, 'firmware/rpi'),
      encoding: 'utf8',
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Ran \d+ tests[\s\S]*OK/);
  });
});

/** What `.prev` holds between an install and its finalize: hard links of the previous files. */
function prevFiles(before: Record<string, string>): Record<string, string> {
  const map: Record<string, string> = {};
  const pick: Array<[string, string]> = [
    ['etc/gateway-iot/certs/client.key', 'client.key'],
    ['etc/gateway-iot/certs/client.crt', 'client.crt'],
    ['etc/gateway-iot/certs/ca.crt', 'ca.crt'],
    ['etc/gateway-iot/config.json', 'config.json'],
    ['etc/systemd/system/gateway-mqtt.service', 'gateway-mqtt.service'],
  ];
  for (const [src, name] of pick) if (before[src]) map[`etc/gateway-iot/.prev/${name}`] = before[src]!;
  // identity.json is linked too but excluded from snapshots (it carries the install time).
  const opt = Object.entries(before).filter(([k]) => k.startsWith('opt/gateway-iot'));
  for (const [k, v] of opt) map[k.replace('opt/gateway-iot', 'opt/.gateway-iot.prev')] = v;
  return map;
}
