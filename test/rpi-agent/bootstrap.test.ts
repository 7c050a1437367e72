/**
 * The Pi agent's zero-touch onboarding (docs/zero-touch.md §7.2) as a process against the real server
 * (open enrolment on) and Debian's Mosquitto running the server's broker kit: the open path with the
 * agent started directly (a restart mid-poll included), the attested path from an "SD image" installed
 * by install.sh with a birth identity. The test plays the installer through the claim API.
 *
 * The MAC comes from `bootstrap.interface`: each agent runs in a private mount namespace whose
 * /sys/class/net is a folder with that interface's `address`, so the test chooses the MAC without
 * touching the machine's network.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '@tds/server/contract';
import { startBackend, type Backend } from '../support/backend.js';
import { startProcess, type StartedProcess } from '../support/processes.js';
import { tempDir } from '../support/temp.js';
import { requireTool } from '../support/tools.js';
import { agentPid, stopAgent } from '../pi/helpers.js';
import { AGENT, PYTHON, ROOT, Recorder } from './support.js';
import { decodeTextQr, qrBlock } from './text-qr.js';

const INSTALL = path.join(ROOT, 'firmware/rpi/install.sh');
const IFACE = 'tdszt0';
const asRoot = process.getuid?.() === 0;
let backend: Backend;
let recorder: Recorder;
let work: { path: string; remove(): void };
let agent: StartedProcess | undefined;
let prefix: string | undefined;

/** `argv` in a private mount namespace where /sys/class/net holds one interface with `mac`. */
function withMac(mac: string, argv: string[]): { command: string; args: string[] } {
  const net = path.join(work.path, `net-${mac.replace(/:/g, '')}`);
  mkdirSync(path.join(net, IFACE), { recursive: true });
  writeFileSync(path.join(net, IFACE, 'address'), `${mac}\n`);
  const unshare = requireTool('unshare', 'util-linux');
  // As root: a mount namespace only; otherwise a user namespace too (root inside it may bind-mount).
  return { command: unshare, args: [...(asRoot ? ['-m'] : ['-r', '-m']), 'sh', '-c', 'mount --bind "$1" /sys/class/net && shift && exec "$@"', 'sh', net, ...argv] };
}

function startAgent(mac: string, configFile: string): StartedProcess {
  const { command, args } = withMac(mac, [PYTHON, AGENT, '--config', configFile]);
  return startProcess('gateway-agent', command, args, { env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
}

function openssl(args: string[], input?: string): string {
  return execFileSync('openssl', args, { encoding: 'utf8', ...(input === undefined ? {} : { input }) });
}

const fingerprint = (keyFile: string) => createHash('sha256').update(execFileSync('openssl', ['pkey', '-in', keyFile, '-pubout', '-outform', 'DER'])).digest('hex');
const mode = (file: string) => (statSync(file).mode & 0o777).toString(8);

async function online(mac: string, since: number): Promise<void> {
  await recorder.waitFor((m) => m.topic === topics.status(mac) && m.payload === 'online' && !m.retain && m.at >= since, 30_000, `${mac} online`);
}

beforeAll(async () => {
  requireTool('openssl', 'openssl');
  requireTool('mosquitto', 'mosquitto');
  work = tempDir('tds-agent-zt-');
  backend = await startBackend({ broker: 'mosquitto', serverIdentity: true, server: { extraServeArgs: ['--open-enrolment'] } });
  recorder = await Recorder.connect(backend, backend.serverIdentity!, ['tds_new/devices/+/status']);
  writeFileSync(path.join(work.path, 'bootstrap-ca.crt'), backend.server.caPem);
});

afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  if (prefix) await stopAgent(prefix);
  prefix = undefined;
});

afterAll(async () => {
  await recorder?.close();
  await backend?.stop();
  work?.remove();
});

describe('Pi agent: zero-touch onboarding', () => {
  it('open path: code + text QR on its console and in its log, a restart resumes the same request, claimed with code + MAC, online with the files in place', async () => {
    const mac = 'dc:a6:32:7a:00:01';
    const dir = path.join(work.path, 'open');
    const certs = path.join(dir, 'certs');
    const state = path.join(dir, 'state');
    const consoleFile = path.join(dir, 'tty1');
    mkdirSync(dir);
    writeFileSync(consoleFile, '');
    const configFile = path.join(dir, 'config.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        bootstrap: { server_url: backend.server.apiUrl, ca_file: path.join(work.path, 'bootstrap-ca.crt'), interface: IFACE, model: 'Raspberry Pi 4 Model B Rev 1.5', console: consoleFile },
        paths: { certs_dir: certs, state_dir: state },
        firmware_version: 'zt-agent-1',
        renewal: { renew_before_days: 0 },
      }),
    );
    agent = startAgent(mac, configFile);
    const m = await agent.waitForOutput(/activation code\s+([0-9A-Z]{4}-[0-9A-Z]{4})/, 30_000);
    const code = m[1]!;
    const payload = `TDS:C1:${mac.replace(/:/g, '').toUpperCase()}:${code.replace('-', '')}`;
    // The block ends with the payload in clear, in the log and then on the console.
    await agent.waitForOutput(new RegExp(`gateway\\.bootstrap:\\s+${payload}`), 10_000);
    for (let i = 0; i < 100 && !readFileSync(consoleFile, 'utf8').includes(payload); i++) await new Promise((res) => setTimeout(res, 50));
    // The key was made here (0600) and the request is remembered.
    expect(mode(path.join(certs, 'bootstrap.key'))).toBe('600');
    const saved = JSON.parse(readFileSync(path.join(state, 'bootstrap.json'), 'utf8')) as { bootstrap_id: string; activation_code: string };
    expect(saved.activation_code).toBe(code);
    const fp = fingerprint(path.join(certs, 'bootstrap.key'));
    const grouped = `${fp.slice(0, 4)} ${fp.slice(4, 8)} ${fp.slice(8, 12)} ${fp.slice(12, 16)}`;
    // Console and log both show the code, the fingerprint and a QR that a camera reads as the device QR.
    const shown = readFileSync(consoleFile, 'utf8');
    expect(shown).toContain(code);
    expect(shown).toContain(grouped);
    expect(decodeTextQr(qrBlock(shown), dir)).toBe(payload);
    const logged = agent.output().split('\n').map((l) => l.replace(/^.*gateway\.bootstrap: /, '')).join('\n');
    expect(decodeTextQr(qrBlock(logged), dir)).toBe(payload);
    expect(logged).toContain(grouped);

    // A restart mid-poll: the same request and code, not a new one.
    await agent.stop();
    agent = startAgent(mac, configFile);
    await agent.waitForOutput(new RegExp(`resuming request ${saved.bootstrap_id}`), 20_000);
    await agent.waitForOutput(new RegExp(`activation code\\s+${code}`), 20_000);

    const operator = backend.server.client('operator');
    const preview = await operator.claimPreview({ mac_address: mac, activation_code: code });
    expect(preview).toMatchObject({ bootstrap_id: saved.bootstrap_id, path: 'open', key_fingerprint: fp, model: 'Raspberry Pi 4 Model B Rev 1.5', firmware_version: 'zt-agent-1' });
    const since = Date.now();
    const claim = await operator.claim({ mac_address: mac, activation_code: code, conta_id: backend.server.contaId, codigo: 'ZT-PI-OPEN', nome: 'Open-path Pi', bootstrap_id: preview.bootstrap_id });
    await online(mac, since);
    // Installed with the right modes; the key is the one made here; the broker came from the server.
    expect(mode(path.join(certs, 'client.key'))).toBe('600');
    expect(mode(path.join(certs, 'client.crt'))).toBe('644');
    expect(mode(path.join(certs, 'ca.crt'))).toBe('644');
    expect(fingerprint(path.join(certs, 'client.key'))).toBe(fp);
    expect(openssl(['x509', '-noout', '-serial', '-in', path.join(certs, 'client.crt')]).trim().replace(/^serial=/, '').toUpperCase()).toBe(claim.serial_number.toUpperCase());
    expect(openssl(['verify', '-CAfile', path.join(certs, 'ca.crt'), path.join(certs, 'client.crt')])).toContain('OK');
    expect(JSON.parse(readFileSync(path.join(state, 'broker.json'), 'utf8'))).toEqual({ mqtt_broker: '127.0.0.1', mqtt_port: backend.broker.port, codigo: 'ZT-PI-OPEN' });
    expect(existsSync(path.join(certs, 'bootstrap.key'))).toBe(false);
    expect(existsSync(path.join(state, 'bootstrap.json'))).toBe(false);
    expect(readFileSync(consoleFile, 'utf8')).toContain('claimed, certificate installed');
    // A later start runs the ordinary agent with the same identity (no bootstrap).
    await agent.stop();
    const again = Date.now();
    agent = startAgent(mac, configFile);
    await online(mac, again);
    expect(agent.output()).not.toMatch(/onboarding through/);
  });

  it('attested path: an image installed by install.sh with a birth identity onboards at its first start; claimed by the label QR', async () => {
    const mac = 'dc:a6:32:7a:00:02';
    const dir = path.join(work.path, 'image');
    const from = path.join(dir, 'from');
    prefix = path.join(dir, 'pi');
    mkdirSync(from, { recursive: true });
    mkdirSync(prefix);
    // The bench: a birth key and CSR made on the Pi, the birth certificate from the server.
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path.join(from, 'birth.key')]);
    chmodSync(path.join(from, 'birth.key'), 0o600);
    const csr = openssl(['req', '-new', '-sha256', '-key', path.join(from, 'birth.key'), '-subj', `/CN=${mac}`]);
    const birth = await backend.server.client('operator').issueBirthIdentity({ mac_address: mac, csr_pem: csr, model: 'Raspberry Pi 4 Model B' });
    writeFileSync(path.join(from, 'birth.crt'), birth.birth_certificate_pem);
    writeFileSync(path.join(from, 'bootstrap-ca.crt'), backend.server.caPem);
    const etc = path.join(prefix, 'etc/gateway-iot');
    writeFileSync(
      path.join(from, 'config.json'),
      JSON.stringify({
        bootstrap: {
          server_url: backend.server.apiUrl,
          ca_file: path.join(etc, 'bootstrap-ca.crt'),
          interface: IFACE,
          birth_cert_file: path.join(etc, 'certs/birth.crt'),
          birth_key_file: path.join(etc, 'certs/birth.key'),
          console: null,
        },
        paths: { certs_dir: path.join(etc, 'certs'), state_dir: path.join(prefix, 'var/lib/gateway-iot') },
        renewal: { renew_before_days: 0 },
      }),
    );
    const user = userInfo().username;
    const { command, args } = withMac(mac, ['sh', INSTALL, 'install', '--prefix', prefix, '--service-manager', 'none', '--user', user, '--python', PYTHON, '--from', from, '--agent-from', path.join(ROOT, 'firmware/rpi')]);
    const r = spawnSync(command, args, { encoding: 'utf8', env: { ...process.env, PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', PYTHONDONTWRITEBYTECODE: '1' } });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/INSTALL-OK mac= serial=/);
    expect(mode(path.join(etc, 'certs/birth.key'))).toBe('600');
    expect(mode(path.join(etc, 'bootstrap-ca.crt'))).toBe('644');
    expect(agentPid(prefix)).toBeGreaterThan(0);
    const log = path.join(prefix, 'var/log/gateway-iot/agent.log');
    const deadline = Date.now() + 30_000;
    while (!/scan the QR on its label/.test(existsSync(log) ? readFileSync(log, 'utf8') : '')) {
      if (Date.now() > deadline) throw new Error(`the agent never showed that it waits:\n${existsSync(log) ? readFileSync(log, 'utf8') : '(no log)'}`);
      await new Promise((res) => setTimeout(res, 200));
    }
    const operator = backend.server.client('operator');
    const preview = await operator.claimPreview({ qr: birth.label_qr });
    expect(preview).toMatchObject({ path: 'attested', mac_address: mac, birth_serial_number: birth.serial_number, key_fingerprint: fingerprint(path.join(etc, 'certs/bootstrap.key')) });
    const since = Date.now();
    await operator.claim({ qr: birth.label_qr, conta_id: backend.server.contaId, codigo: 'ZT-PI-BENCH', nome: 'Bench-born Pi' });
    await online(mac, since);
    expect(mode(path.join(etc, 'certs/client.key'))).toBe('600');
    expect(fingerprint(path.join(etc, 'certs/client.key'))).not.toBe(fingerprint(path.join(etc, 'certs/birth.key')));
    expect(existsSync(path.join(etc, 'certs/bootstrap.key'))).toBe(false);
  });
});
