/**
 * The Raspberry Pi field job end to end against real peers: Debian's OpenSSH server as the "Pi"
 * (install prefix in a temp folder, service manager `none`, so the agent runs as a detached process
 * the installer starts), the real issuance server, Debian's Mosquitto with the server's broker kit,
 * and the station's broker monitor waiting for `online`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { JobSnapshot } from '../../src/shared/jobs.js';
import { JobQueue } from '../../src/main/jobs/queue.js';
import type { JobLogLine } from '../../src/main/jobs/types.js';
import { BrokerMonitor } from '../../src/main/monitor/broker-monitor.js';
import { HostKeyStore } from '../../src/main/pi/host-key-store.js';
import { piProvisionJob, type PiJobInput, type PiJobSettings } from '../../src/main/pi/pi-job.js';
import { SecretInbox } from '../../src/main/pi/secret-inbox.js';
import { ApiClientIssuer } from '../../src/main/station/server-link.js';
import { startBackend, type Backend } from '../support/backend.js';
import { createTestUser, makeSshKeyPair, startSshd, type RunningSshd, type TestUser } from '../support/sshd.js';
import { tempDir } from '../support/temp.js';
import { isRoot } from '../support/tools.js';
import { agentPid, startTcpRelay, stopAgent } from './helpers.js';

const me = userInfo().username;
const root = isRoot();
if (!root) console.warn('[pi job] the sudo-with-password case is skipped: creating a test user with a password needs root');

let backend: Backend;
let sshd: RunningSshd;
let monitor: BrokerMonitor;
let work: { path: string; remove(): void };
let stationKey: { privateKeyFile: string; publicKey: string };
let hostKeys: HostKeyStore;
let testUser: TestUser | undefined;
const prefixes: string[] = [];

beforeAll(async () => {
  work = tempDir('tds-pi-job-');
  // The agent may run as the unprivileged test user: it must reach the install prefixes inside.
  execFileSync('chmod', ['755', work.path]);
  stationKey = makeSshKeyPair(work.path, 'id_station');
  if (root) testUser = createTestUser();
  [backend, sshd] = await Promise.all([startBackend({ broker: 'mosquitto' }), startSshd({ allowUsers: [me, ...(testUser ? [testUser.name] : [])] })]);
  sshd.authorize(me, stationKey.publicKey);
  monitor = await BrokerMonitor.connect({
    host: backend.broker.host,
    port: backend.broker.port,
    servername: backend.broker.servername,
    ca: backend.monitor.caPem,
    cert: backend.monitor.certPem,
    key: backend.monitor.keyPem,
  });
  hostKeys = new HostKeyStore(path.join(work.path, 'station', 'pi-known-hosts.json'));
});

afterEach(async () => {
  // Agents started on the "Pi" by the installer (service manager none): stopped by their PID file.
  for (const p of prefixes) await stopAgent(p);
});

afterAll(async () => {
  for (const p of prefixes) await stopAgent(p);
  await monitor?.close();
  await sshd?.stop();
  await backend?.stop();
  testUser?.remove();
  work?.remove();
});

function newPrefix(name: string): string {
  const p = path.join(work.path, name);
  execFileSync('mkdir', ['-p', '-m', '755', p]);
  prefixes.push(p);
  return p;
}

function settings(prefix: string, extra: Partial<PiJobSettings> = {}): PiJobSettings {
  return {
    contaId: backend.server.contaId,
    codigoTemplate: 'PI-{mac12}',
    nomeTemplate: 'Pi {mac12}',
    broker: { host: backend.broker.host, port: backend.broker.port },
    installPrefix: prefix,
    serviceManager: 'none',
    serviceUser: me,
    python: '/usr/bin/python3',
    onlineTimeoutMs: 30_000,
    agentConfig: { mqtt: { keepalive: 5, reconnect_min_s: 1, reconnect_max_s: 2 }, renewal: { renew_before_days: 0 } },
    operator: 'pi-test',
    stationId: 'pi-test-station',
    reprovision: 'stop',
    hostKeyPolicy: 'accept-new',
    ...extra,
  };
}

interface RunResult {
  snap: JobSnapshot;
  logs: JobLogLine[];
  updates: JobSnapshot[];
}

async function runJob(
  input: Omit<PiJobInput, 'issuer' | 'hostKeys' | 'monitor' | 'target'> & { target?: Partial<PiJobInput['target']> },
  hooks: { onUpdate?: (s: JobSnapshot, q: JobQueue) => void } = {},
): Promise<RunResult> {
  const queue = new JobQueue();
  const logs: JobLogLine[] = [];
  const updates: JobSnapshot[] = [];
  queue.onLog((l) => logs.push(l));
  queue.onUpdate((s) => {
    updates.push(s);
    hooks.onUpdate?.(s, queue);
  });
  const id = queue.submit(
    piProvisionJob({
      ...input,
      target: { host: sshd.host, port: sshd.port, username: me, auth: { method: 'key', privateKey: readFileSync(stationKey.privateKeyFile) }, ...input.target },
      issuer: new ApiClientIssuer(backend.server.client('operator')),
      hostKeys,
      monitor,
    }),
  );
  const snap = await queue.wait(id);
  return { snap, logs, updates };
}

const openssl = (...args: string[]): string => execFileSync('openssl', args, { encoding: 'utf8' });
const serialOf = (file: string): string => openssl('x509', '-noout', '-serial', '-in', file).trim().replace(/^serial=/, '').toLowerCase().replace(/^0+/, '');
const norm = (s: string): string => s.replace(/:/g, '').toLowerCase().replace(/^0+/, '');
const mode = (file: string): number => statSync(file).mode & 0o777;
const failed = (r: RunResult): string => `${JSON.stringify(r.snap.error)}\n${r.logs.map((l) => `[${l.step}] ${l.text}`).join('\n')}`;

describe('Pi job over SSH', () => {
  it('provisions a host from scratch: key made on the Pi, certificate, seed layout, agent, online', async () => {
    const prefix = newPrefix('pi-fresh');
    const r = await runJob({ settings: settings(prefix) });
    expect(r.snap.state, failed(r)).toBe('succeeded');
    const mac = r.snap.mac!;
    // The MAC is the one of the host's default-route interface (what probe.sh reads on a Pi).
    const iface = execFileSync('sh', ['-c', "ip -o route show default | sed -n 's/.* dev \\([^ ]*\\).*/\\1/p' | head -n1"], { encoding: 'utf8' }).trim();
    expect(mac).toBe(readFileSync(`/sys/class/net/${iface}/address`, 'utf8').trim().toLowerCase());
    expect(r.snap.steps.map((s) => `${s.name}:${s.status}`)).toEqual([
      'connect:done', 'probe:done', 'prepare:done', 'key:done', 'certificate:done', 'install:done', 'online:done', 'finalize:done',
    ]);

    // Seed layout, owners and modes.
    const etc = path.join(prefix, 'etc/gateway-iot');
    const certs = path.join(etc, 'certs');
    expect(mode(certs)).toBe(0o700);
    expect(mode(path.join(certs, 'client.key'))).toBe(0o600);
    expect(mode(path.join(certs, 'client.crt'))).toBe(0o644);
    expect(mode(path.join(certs, 'ca.crt'))).toBe(0o644);
    expect(statSync(path.join(certs, 'client.key')).uid).toBe(process.getuid!());
    expect(serialOf(path.join(certs, 'client.crt'))).toBe(norm(r.snap.certificateSerial!));
    expect(openssl('x509', '-noout', '-subject', '-nameopt', 'RFC2253', '-in', path.join(certs, 'client.crt'))).toContain(`CN=${mac}`);
    // The key on the Pi is the certificate's key, and it never travelled: no private key in the job's log.
    expect(openssl('pkey', '-in', path.join(certs, 'client.key'), '-pubout')).toBe(openssl('x509', '-noout', '-pubkey', '-in', path.join(certs, 'client.crt')));
    expect(r.logs.some((l) => l.text.includes('PRIVATE KEY'))).toBe(false);
    const config = JSON.parse(readFileSync(path.join(etc, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({ mqtt: { host: backend.broker.host, port: backend.broker.port }, paths: { certs_dir: certs }, gateway_code: r.snap.gatewayCode });
    const unit = readFileSync(path.join(prefix, 'etc/systemd/system/gateway-mqtt.service'), 'utf8');
    for (const line of [`User=${me}`, 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'PrivateTmp=yes', 'ReadWritePaths=/etc/gateway-iot/certs /var/lib/gateway-iot', 'ExecStart=/usr/bin/python3 /opt/gateway-iot/mqtt_client.py --config /etc/gateway-iot/config.json']) {
      expect(unit).toContain(line);
    }
    expect(existsSync(path.join(prefix, 'opt/gateway-iot/gateway_agent/agent.py'))).toBe(true);
    expect(existsSync(path.join(etc, '.prev'))).toBe(false);
    expect(existsSync(path.join(etc, '.staging'))).toBe(false);

    // The agent runs, and the server knows the gateway with this certificate active.
    expect(agentPid(prefix)).toBeDefined();
    expect(monitor.presence(mac).status).toBe('online');
    const detail = await backend.server.client('operator').getGateway(r.snap.gatewayId!);
    expect(norm(detail.active_certificate!.serial_number)).toBe(norm(r.snap.certificateSerial!));
    expect(detail.active_certificate!.key_origin).toBe('device');
    // The host key is pinned for the next time.
    expect((await hostKeys.get(sshd.host, sshd.port))?.fingerprint).toBe(sshd.hostKeyFingerprint);
  });

  it('refuses a host whose SSH key differs from the pinned one, before touching it', async () => {
    const prefix = newPrefix('pi-impostor');
    // The station pinned another machine's key for this address (e.g. the real Pi before a swap).
    const otherKey = path.join(work.path, 'other_host_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', otherKey]);
    const blob = Buffer.from(readFileSync(`${otherKey}.pub`, 'utf8').split(' ')[1]!, 'base64');
    const store = new HostKeyStore(path.join(work.path, 'impostor-known-hosts.json'));
    await store.pin(sshd.host, sshd.port, blob);
    const queue = new JobQueue();
    const id = queue.submit(
      piProvisionJob({
        target: { host: sshd.host, port: sshd.port, username: me, auth: { method: 'key', privateKey: readFileSync(stationKey.privateKeyFile) } },
        issuer: new ApiClientIssuer(backend.server.client('operator')),
        hostKeys: store,
        monitor,
        settings: settings(prefix, { mac: 'dc:a6:32:7e:01:01' }),
      }),
    );
    const snap = await queue.wait(id);
    expect(snap.state).toBe('failed');
    expect(snap.error?.code).toBe('SSH_HOST_KEY_CHANGED');
    expect(snap.error?.message).toMatch(/CHANGED/);
    expect(snap.steps.find((s) => s.name === 'probe')?.status).toBe('pending');
    expect(execFileSync('find', [prefix, '-mindepth', '1'], { encoding: 'utf8' })).toBe('');
    expect((await store.get(sshd.host, sshd.port))?.key).toBe(blob.toString('base64'));
  });

  it('keeps the previous identity and service when the SSH connection drops during the install', async () => {
    const prefix = newPrefix('pi-cut');
    const mac = 'dc:a6:32:7e:02:01';
    const first = await runJob({ settings: settings(prefix, { mac }) });
    expect(first.snap.state, failed(first)).toBe('succeeded');
    const certFile = path.join(prefix, 'etc/gateway-iot/certs/client.crt');
    const keyFile = path.join(prefix, 'etc/gateway-iot/certs/client.key');
    const before = { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), pid: agentPid(prefix), config: readFileSync(path.join(prefix, 'etc/gateway-iot/config.json'), 'utf8') };
    expect(before.pid).toBeDefined();

    const relay = await startTcpRelay(sshd.port);
    const store = new HostKeyStore(path.join(work.path, 'relay-known-hosts.json'));
    let cutAt = 0;
    try {
      const queue = new JobQueue();
      queue.onUpdate((s) => {
        // Wi-Fi drops the moment the job starts installing.
        if (!cutAt && s.steps.find((x) => x.name === 'install')?.status === 'running') {
          cutAt = Date.now();
          relay.cut();
        }
      });
      const id = queue.submit(
        piProvisionJob({
          target: { host: '127.0.0.1', port: relay.port, username: me, auth: { method: 'key', privateKey: readFileSync(stationKey.privateKeyFile) } },
          issuer: new ApiClientIssuer(backend.server.client('operator')),
          hostKeys: store,
          monitor,
          settings: settings(prefix, { mac, reprovision: 'replace' }),
        }),
      );
      const snap = await queue.wait(id);
      expect(snap.state).toBe('failed');
      expect(snap.error?.code).toBe('SSH_UNREACHABLE');
      expect(snap.error?.where).toMatch(/install/);
    } finally {
      await relay.close();
    }
    expect(cutAt).toBeGreaterThan(0);
    // Nothing switched on the Pi: same certificate, key, configuration, and the same agent process.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(readFileSync(certFile, 'utf8')).toBe(before.cert);
    expect(readFileSync(keyFile, 'utf8')).toBe(before.key);
    expect(readFileSync(path.join(prefix, 'etc/gateway-iot/config.json'), 'utf8')).toBe(before.config);
    expect(agentPid(prefix)).toBe(before.pid);
    expect(monitor.presence(mac).status).toBe('online');
  });

  it('re-provisions a provisioned Pi: new key and certificate, old certificate revoked, agent restarted', async () => {
    const prefix = newPrefix('pi-again');
    const mac = 'dc:a6:32:7e:03:01';
    const first = await runJob({ settings: settings(prefix, { mac }) });
    expect(first.snap.state, failed(first)).toBe('succeeded');
    const certFile = path.join(prefix, 'etc/gateway-iot/certs/client.crt');
    const oldKey = readFileSync(path.join(prefix, 'etc/gateway-iot/certs/client.key'), 'utf8');
    const oldPid = agentPid(prefix);
    // Without --replace the job stops and changes nothing.
    const refused = await runJob({ settings: settings(prefix, { mac }) });
    expect(refused.snap.error?.code).toBe('MAC_ALREADY_PROVISIONED');
    expect(agentPid(prefix)).toBe(oldPid);
    expect(serialOf(certFile)).toBe(norm(first.snap.certificateSerial!));

    const again = await runJob({ settings: settings(prefix, { mac, reprovision: 'replace' }) });
    expect(again.snap.state, failed(again)).toBe('succeeded');
    expect(again.snap.gatewayId).toBe(first.snap.gatewayId);
    expect(norm(again.snap.certificateSerial!)).not.toBe(norm(first.snap.certificateSerial!));
    expect(serialOf(certFile)).toBe(norm(again.snap.certificateSerial!));
    expect(readFileSync(path.join(prefix, 'etc/gateway-iot/certs/client.key'), 'utf8')).not.toBe(oldKey);
    expect(agentPid(prefix)).not.toBe(oldPid);
    // Agent files were already on the Pi with the same bundle: not uploaded again.
    expect(again.logs.some((l) => /agent files already installed/.test(l.text))).toBe(true);
    const detail = await backend.server.client('operator').getGateway(again.snap.gatewayId!);
    expect(norm(detail.active_certificate!.serial_number)).toBe(norm(again.snap.certificateSerial!));
    const old = detail.certificados.find((c) => norm(c.serial_number) === norm(first.snap.certificateSerial!));
    expect(old?.is_revoked).toBe(true);
    expect(existsSync(path.join(prefix, 'etc/gateway-iot/.prev'))).toBe(false);
  });
});

describe.skipIf(!root)('sudo with a password (test user, needs root)', () => {
  it('asks for the sudo password, retries after a wrong one, installs as root, never logs it', async () => {
    const user = testUser!;
    const prefix = newPrefix('pi-sudo');
    const inbox = new SecretInbox();
    const asked: string[] = [];
    const r = await runJob(
      {
        target: { username: user.name, auth: { method: 'password', password: user.password } },
        secrets: inbox,
        settings: settings(prefix, { mac: 'dc:a6:32:7e:04:01', serviceUser: user.name }),
      },
      {
        onUpdate: (s, queue) => {
          const q = s.question;
          if (s.state !== 'waiting-input' || !q || asked.includes(q.id)) return;
          asked.push(q.id);
          expect(q.kind).toBe('sudo-password');
          // First a wrong password, then the right one (the UI puts the secret beside the answer).
          inbox.put(s.id, 'sudo-password', asked.length === 1 ? 'wrong-password' : user.password);
          queue.answer(s.id, q.id, 'submit');
        },
      },
    );
    expect(r.snap.state, failed(r)).toBe('succeeded');
    expect(asked.length).toBe(2);
    const certs = path.join(prefix, 'etc/gateway-iot/certs');
    const uid = Number(execFileSync('id', ['-u', user.name], { encoding: 'utf8' }).trim());
    expect(statSync(path.join(certs, 'client.key')).uid).toBe(uid);
    expect(statSync(path.join(prefix, 'opt/gateway-iot/mqtt_client.py')).uid).toBe(0); // installed by root via sudo
    const pid = agentPid(prefix)!;
    expect(readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(new RegExp(`^Uid:\\s+${uid}\\s`, 'm'));
    const everything = JSON.stringify(r.logs) + JSON.stringify(r.updates);
    expect(everything).not.toContain(user.password);
    expect(everything).not.toContain('wrong-password');
  });
});
