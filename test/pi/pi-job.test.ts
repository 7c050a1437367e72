/**
 * The Raspberry Pi field job end to end against real peers: Debian's OpenSSH server as the "Pi"
 * (install prefix in a temp folder, service manager `none`, so the agent runs as a detached process
 * the installer starts), the real issuance server, Debian's Mosquitto with the server's broker kit,
 * and the station's broker monitor waiting for `online`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { JobSnapshot } from '../../src/shared/jobs.js';
import { ApiClientIssuer } from '../../src/main/certs/api-client-issuer.js';
import { JobQueue } from '../../src/main/jobs/queue.js';
import type { JobLogLine } from '../../src/main/jobs/types.js';
import { StationLog } from '../../src/main/log/station-log.js';
import { BrokerMonitor } from '../../src/main/monitor/broker-monitor.js';
import { HostKeyStore } from '../../src/main/pi/host-key-store.js';
import { piProvisionJob, type PiJobInput, type PiJobSettings } from '../../src/main/pi/pi-job.js';
import { startBackend, type Backend } from '../support/backend.js';
import { freePort } from '../support/ports.js';
import { createTestUser, makeSshKeyPair, startSshd, type RunningSshd, type TestUser } from '../support/sshd.js';
import { tempDir } from '../support/temp.js';
import { isRoot } from '../support/tools.js';
import { agentPid, crlSerials, crlVerdict, normSerial, startTcpRelay, stopAgent, WatchedIssuer } from './helpers.js';

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
    accountId: backend.server.contaId,
    codeTemplate: 'PI-{mac12}',
    nameTemplate: 'Pi {mac12}',
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
  input: Omit<PiJobInput, 'issuer' | 'hostKeys' | 'monitor' | 'target'> & { target?: Partial<PiJobInput['target']>; issuer?: ApiClientIssuer },
  hooks: { onUpdate?: (s: JobSnapshot, q: JobQueue) => void; log?: StationLog } = {},
): Promise<RunResult> {
  const queue = new JobQueue();
  hooks.log?.attach(queue);
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
      issuer: input.issuer ?? new ApiClientIssuer(backend.server.client('operator')),
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

  it('keeps the previous identity when the SSH connection drops during a re-provision: files, service, and the old certificate in force', async () => {
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
    const lines: JobLogLine[] = [];
    let snap: JobSnapshot;
    try {
      const queue = new JobQueue();
      queue.onLog((l) => lines.push(l));
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
      snap = await queue.wait(id);
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

    // On the server the old certificate is still the active one and passes the CRL check; the
    // pending successor the job got was cancelled (revoked, listed in the CRL).
    const pendingSerial = snap.certificateSerial!;
    expect(norm(pendingSerial)).not.toBe(norm(first.snap.certificateSerial!));
    const client = backend.server.client('operator');
    const detail = await client.getGateway(first.snap.gatewayId!);
    expect(norm(detail.active_certificate!.serial_number)).toBe(norm(first.snap.certificateSerial!));
    expect(detail.certificados.find((c) => norm(c.serial_number) === norm(pendingSerial))).toMatchObject({ is_revoked: true, status: 'revoked', revoke_reason: expect.stringMatching(/cessationOfOperation/) });
    const crl = await client.getCrlPem();
    expect(crlVerdict(before.cert, backend.server.caPem, crl)).toBe('valid');
    expect(crlSerials(crl)).toContain(normSerial(pendingSerial));
    expect(lines.some((l) => l.text.includes(`pending certificate ${pendingSerial} cancelled`))).toBe(true);
  });

  it('rolls a re-provisioned Pi back and cancels the pending certificate when the new identity never comes online', async () => {
    const prefix = newPrefix('pi-rollback');
    const mac = 'dc:a6:32:7e:05:01';
    const first = await runJob({ settings: settings(prefix, { mac }) });
    expect(first.snap.state, failed(first)).toBe('succeeded');
    const certFile = path.join(prefix, 'etc/gateway-iot/certs/client.crt');
    const oldCert = readFileSync(certFile, 'utf8');
    // The new configuration points the agent at a port where no broker listens: it never comes online.
    const closed = await freePort();
    const r = await runJob({ settings: settings(prefix, { mac, reprovision: 'replace', broker: { host: backend.broker.host, port: closed }, onlineTimeoutMs: 5_000 }) });
    expect(r.snap.state).toBe('failed');
    expect(r.snap.error?.code).toBe('BROKER_NEVER_SAW_DEVICE');
    const pendingSerial = r.snap.certificateSerial!;
    expect(norm(pendingSerial)).not.toBe(norm(first.snap.certificateSerial!));
    // The Pi is back on its previous certificate and configuration, and online again with it.
    expect(readFileSync(certFile, 'utf8')).toBe(oldCert);
    expect(JSON.parse(readFileSync(path.join(prefix, 'etc/gateway-iot/config.json'), 'utf8')).mqtt.port).toBe(backend.broker.port);
    await monitor.waitForOnline(mac, { timeoutMs: 20_000, since: Date.parse(r.snap.endedAt!) - 10_000 });
    // The server: old certificate active and valid, the pending one cancelled.
    const client = backend.server.client('operator');
    const detail = await client.getGateway(first.snap.gatewayId!);
    expect(norm(detail.active_certificate!.serial_number)).toBe(norm(first.snap.certificateSerial!));
    expect(detail.certificados.find((c) => norm(c.serial_number) === norm(pendingSerial))).toMatchObject({ is_revoked: true, status: 'revoked' });
    const crl = await client.getCrlPem();
    expect(crlVerdict(oldCert, backend.server.caPem, crl)).toBe('valid');
    expect(crlSerials(crl)).toContain(normSerial(pendingSerial));
    expect(r.logs.some((l) => /rolling back to the previous identity/.test(l.text))).toBe(true);
  });

  it('re-provisions a provisioned Pi: new key and certificate; the old one stays valid until the Pi is online with the new one', async () => {
    const prefix = newPrefix('pi-again');
    const mac = 'dc:a6:32:7e:03:01';
    const first = await runJob({ settings: settings(prefix, { mac }) });
    expect(first.snap.state, failed(first)).toBe('succeeded');
    const certFile = path.join(prefix, 'etc/gateway-iot/certs/client.crt');
    const oldCert = readFileSync(certFile, 'utf8');
    const oldKey = readFileSync(path.join(prefix, 'etc/gateway-iot/certs/client.key'), 'utf8');
    const oldPid = agentPid(prefix);
    // Without --replace the job stops and changes nothing.
    const refused = await runJob({ settings: settings(prefix, { mac }) });
    expect(refused.snap.state).toBe('skipped');
    expect(refused.snap.error?.code).toBe('MAC_ALREADY_PROVISIONED');
    expect(agentPid(prefix)).toBe(oldPid);
    expect(serialOf(certFile)).toBe(norm(first.snap.certificateSerial!));

    // Look at the world at the moment the job confirms the new certificate.
    const client = backend.server.client('operator');
    const issuer = new WatchedIssuer(client);
    let atConfirm: { oldOnCrl: string; active: string; pending: string | undefined; onPi: string; liveOnlineAt: number | undefined } | undefined;
    issuer.onConfirm = async (gatewayId, serial) => {
      const [crl, detail] = await Promise.all([client.getCrlPem(), client.getGateway(gatewayId)]);
      atConfirm = {
        oldOnCrl: crlVerdict(oldCert, backend.server.caPem, crl),
        active: norm(detail.active_certificate!.serial_number),
        pending: detail.certificados.find((c) => norm(c.serial_number) === norm(serial))?.status,
        onPi: serialOf(certFile),
        liveOnlineAt: monitor.presence(mac).lastLiveOnlineAt,
      };
    };
    const tmpFolders = (): string[] => readdirSync(path.join(sshd.dir, 'tmp')).filter((n) => n.startsWith('tds-pi.'));
    const foldersBefore = tmpFolders();
    const again = await runJob({ settings: settings(prefix, { mac, reprovision: 'replace' }), issuer });
    expect(again.snap.state, failed(again)).toBe('succeeded');
    expect(again.snap.gatewayId).toBe(first.snap.gatewayId);
    const newSerial = norm(again.snap.certificateSerial!);
    expect(newSerial).not.toBe(norm(first.snap.certificateSerial!));
    // Until then: the old certificate passed the CRL check and was the active one, the new one was
    // pending, installed on the Pi, and the Pi had come online (live status) after the install began.
    const installStart = Date.parse(again.snap.steps.find((st) => st.name === 'install')!.startedAt!);
    expect(atConfirm).toMatchObject({ oldOnCrl: 'valid', active: norm(first.snap.certificateSerial!), pending: 'pending', onPi: newSerial });
    expect(atConfirm!.liveOnlineAt).toBeGreaterThanOrEqual(installStart);
    expect(issuer.confirmed.map(norm)).toEqual([newSerial]);
    // After: the old certificate is revoked (superseded) and refused by the CRL check; the new one is active.
    expect(serialOf(certFile)).toBe(newSerial);
    expect(readFileSync(path.join(prefix, 'etc/gateway-iot/certs/client.key'), 'utf8')).not.toBe(oldKey);
    expect(agentPid(prefix)).not.toBe(oldPid);
    // Agent files were already on the Pi with the same bundle: not uploaded again; the probe found the
    // Debian packages, so the installer's own check did not run; the agent's bytecode was reused.
    expect(again.logs.some((l) => /agent files already installed/.test(l.text))).toBe(true);
    expect(again.logs.some((l) => /Debian packages the agent needs are installed \(checked by the probe\)/.test(l.text))).toBe(true);
    expect(existsSync(path.join(prefix, 'opt/gateway-iot/gateway_agent/__pycache__'))).toBe(true);
    // The install step's private folder (certificate, CA, config) is gone with the step.
    expect(tmpFolders()).toEqual(foldersBefore);
    const detail = await client.getGateway(again.snap.gatewayId!);
    expect(norm(detail.active_certificate!.serial_number)).toBe(newSerial);
    const old = detail.certificados.find((c) => norm(c.serial_number) === norm(first.snap.certificateSerial!));
    expect(old).toMatchObject({ is_revoked: true, revoke_reason: expect.stringMatching(/^superseded/) });
    const crl = await client.getCrlPem();
    expect(crlVerdict(oldCert, backend.server.caPem, crl)).toBe('revoked');
    expect(crlVerdict(readFileSync(certFile, 'utf8'), backend.server.caPem, crl)).toBe('valid');
    expect(existsSync(path.join(prefix, 'etc/gateway-iot/.prev'))).toBe(false);
  });
});

describe.skipIf(!root)('sudo with a password (test user, needs root)', () => {
  it('asks for the sudo password as a secret question, retries after a wrong one, installs as root, never records it', async () => {
    const user = testUser!;
    const prefix = newPrefix('pi-sudo');
    const asked: string[] = [];
    const dbDir = path.join(work.path, 'sudo-station');
    const log = StationLog.open(path.join(dbDir, 'station-log.sqlite'), { stationId: 'pi-test-station' });
    let r: RunResult;
    try {
      r = await runJob(
        {
          target: { username: user.name, auth: { method: 'password', password: user.password } },
          settings: settings(prefix, { mac: 'dc:a6:32:7e:04:01', serviceUser: user.name }),
        },
        {
          log,
          onUpdate: (s, queue) => {
            const q = s.question;
            if (s.state !== 'waiting-input' || !q || asked.includes(q.id)) return;
            asked.push(q.id);
            expect(q).toMatchObject({ kind: 'sudo-password', secret: true });
            // First a wrong password, then the right one: the secret goes beside the choice.
            queue.answer(s.id, q.id, 'submit', { secret: asked.length === 1 ? 'wrong-password' : user.password });
          },
        },
      );
    } finally {
      log.close();
    }
    expect(r.snap.state, failed(r)).toBe('succeeded');
    expect(asked.length).toBe(2);
    const certs = path.join(prefix, 'etc/gateway-iot/certs');
    const uid = Number(execFileSync('id', ['-u', user.name], { encoding: 'utf8' }).trim());
    expect(statSync(path.join(certs, 'client.key')).uid).toBe(uid);
    expect(statSync(path.join(prefix, 'opt/gateway-iot/mqtt_client.py')).uid).toBe(0); // installed by root via sudo
    const pid = agentPid(prefix)!;
    expect(readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(new RegExp(`^Uid:\\s+${uid}\\s`, 'm'));
    const everything = JSON.stringify(r.logs) + JSON.stringify(r.updates);
    expect(everything).toContain('(with a secret, not shown)');
    const db = Buffer.concat(readdirSync(dbDir).map((f) => readFileSync(path.join(dbDir, f))));
    expect(db.length).toBeGreaterThan(0);
    for (const secret of [user.password, 'wrong-password']) {
      expect(everything).not.toContain(secret);
      expect(db.includes(Buffer.from(secret))).toBe(false);
    }
  });
});
