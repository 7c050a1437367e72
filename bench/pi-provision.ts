/**
 * Raspberry Pi field provisioning benchmark (run: npx tsx bench/pi-provision.ts [--runs 5] [--trace]).
 *
 * Real peers on loopback: Debian's OpenSSH server as the Pi (install prefix in a temp folder,
 * service manager `none`), the issuance server, Mosquitto with the broker kit, the station monitor.
 * Measured:
 *  1. a first provisioning (agent files uploaded) — for reference;
 *  2. N re-provisionings of the same Pi with its agent files already there (the bundle hash matches,
 *     nothing is uploaded): time from "provision" (job submitted) to `online` seen by the monitor,
 *     and to the end of the job (backups dropped, old certificate superseded). Target ≤ 2.5 s;
 *  3. the agent's memory (VmRSS / VmHWM) after ~10 s of Modbus polling (pymodbus loaded, a socat
 *     pty pair with a pymodbus slave). Target ≤ 40 MB.
 * `--trace` also prints every remote command and SFTP upload with its time (where the time goes).
 * Needs the built server (npm run build -w server), openssh-server, mosquitto, socat.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { JobSnapshot } from '../src/shared/jobs.js';
import { JobQueue } from '../src/main/jobs/index.js';
import { BrokerMonitor } from '../src/main/monitor/broker-monitor.js';
import { HostKeyStore } from '../src/main/pi/host-key-store.js';
import { piProvisionJob, type PiJobSettings } from '../src/main/pi/pi-job.js';
import { SshSession } from '../src/main/pi/ssh-session.js';
import { ApiClientIssuer } from '../src/main/station/server-link.js';
import { startModbusSlave } from '../test/rpi-agent/support.js';
import { agentPid, stopAgent } from '../test/pi/helpers.js';
import { startBackend } from '../test/support/backend.js';
import { makeSshKeyPair, startSshd } from '../test/support/sshd.js';
import { tempDir } from '../test/support/temp.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, trace: { type: 'boolean', default: false } } });
const RUNS = Math.max(1, Number(values.runs));
if (values.trace) traceRemoteCalls();

/** Wraps the SSH session's remote calls to print each one's time (benchmark only). */
function traceRemoteCalls(): void {
  const exec = SshSession.prototype.exec;
  SshSession.prototype.exec = async function (this: SshSession, command, options) {
    const t0 = performance.now();
    try {
      return await exec.call(this, command, options);
    } finally {
      console.log(`    exec ${(performance.now() - t0).toFixed(0).padStart(5)} ms  ${command.replace(/\s+/g, ' ').slice(0, 100)}`);
    }
  };
  const writeFile = SshSession.prototype.writeFile;
  SshSession.prototype.writeFile = async function (this: SshSession, remotePath, data, mode) {
    const t0 = performance.now();
    try {
      return await writeFile.call(this, remotePath, data, mode);
    } finally {
      console.log(`    sftp ${(performance.now() - t0).toFixed(0).padStart(5)} ms  ${path.basename(remotePath)}`);
    }
  };
}
const me = userInfo().username;

const work = tempDir('tds-bench-pi-');
execFileSync('chmod', ['755', work.path]);
const prefix = path.join(work.path, 'pi');
execFileSync('mkdir', ['-p', prefix]);
const key = makeSshKeyPair(work.path, 'id_bench');
const [backend, sshd] = await Promise.all([startBackend({ broker: 'mosquitto', monitorName: 'bench-pi' }), startSshd()]);
sshd.authorize(me, key.publicKey);
const modbus = await startModbusSlave(work.path, { slaveId: 1, register: 100, start: 200 });
const monitor = await BrokerMonitor.connect({
  host: backend.broker.host,
  port: backend.broker.port,
  servername: backend.broker.servername,
  ca: backend.monitor.caPem,
  cert: backend.monitor.certPem,
  key: backend.monitor.keyPem,
});
const hostKeys = new HostKeyStore(path.join(work.path, 'known-hosts.json'));
const issuer = new ApiClientIssuer(backend.server.client('operator'));

const settings: PiJobSettings = {
  accountId: backend.server.contaId,
  codeTemplate: 'BENCH-{mac12}',
  nameTemplate: 'Bench {mac12}',
  broker: { host: backend.broker.host, port: backend.broker.port },
  installPrefix: prefix,
  serviceManager: 'none',
  serviceUser: me,
  python: '/usr/bin/python3',
  onlineTimeoutMs: 30_000,
  modbus: { port: modbus.port, timeout_s: 1, slaves: [{ slave: 1, register: 100, scale: 0.1, unit: '°C', interval: 1 }] },
  agentConfig: { mqtt: { keepalive: 30 }, renewal: { renew_before_days: 0 } },
  operator: 'bench',
  stationId: 'bench',
  reprovision: 'replace',
  hostKeyPolicy: 'accept-new',
  mac: 'dc:a6:32:be:00:01',
};

async function provisionOnce(): Promise<{ snap: JobSnapshot; onlineMs: number; totalMs: number; uploaded: boolean }> {
  const queue = new JobQueue();
  let onlineAt = 0;
  let uploaded = true;
  queue.onUpdate((s) => {
    if (!onlineAt && s.steps.find((x) => x.name === 'online')?.status === 'done') onlineAt = performance.now();
  });
  queue.onLog((l) => {
    if (/agent files already installed/.test(l.text)) uploaded = false;
  });
  const t0 = performance.now();
  const id = queue.submit(
    piProvisionJob({
      target: { host: sshd.host, port: sshd.port, username: me, auth: { method: 'key', privateKey: readFileSync(key.privateKeyFile) } },
      issuer,
      monitor,
      hostKeys,
      settings,
    }),
  );
  const snap = await queue.wait(id);
  const t1 = performance.now();
  if (snap.state !== 'succeeded') throw new Error(`provisioning failed: ${JSON.stringify(snap.error)}`);
  return { snap, onlineMs: onlineAt - t0, totalMs: t1 - t0, uploaded };
}

const stepTimes = (s: JobSnapshot): string =>
  s.steps.map((x) => `${x.name} ${x.startedAt && x.endedAt ? Date.parse(x.endedAt) - Date.parse(x.startedAt) : 0}`).join(', ');

try {
  const cold = await provisionOnce();
  console.log(`first provisioning (agent files uploaded: ${cold.uploaded}): online after ${(cold.onlineMs / 1000).toFixed(2)} s, job ${(cold.totalMs / 1000).toFixed(2)} s`);
  console.log(`  steps (ms): ${stepTimes(cold.snap)}`);
  const online: number[] = [];
  const total: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const r = await provisionOnce();
    if (r.uploaded) throw new Error('agent files were uploaded again: the cache did not work');
    online.push(r.onlineMs);
    total.push(r.totalMs);
    console.log(`re-provisioning ${i + 1}/${RUNS} (agent cached): online after ${(r.onlineMs / 1000).toFixed(2)} s, job ${(r.totalMs / 1000).toFixed(2)} s — ${stepTimes(r.snap)}`);
  }
  const sorted = [...online].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  console.log(
    `provision → online, agent cached: median ${(median / 1000).toFixed(2)} s, max ${(sorted[sorted.length - 1]! / 1000).toFixed(2)} s over ${RUNS} runs (target ≤ 2.5 s); whole job median ${(
      [...total].sort((a, b) => a - b)[Math.floor(total.length / 2)]! / 1000
    ).toFixed(2)} s`,
  );

  // Agent memory after a while of Modbus polling and publishing.
  await new Promise((r) => setTimeout(r, 10_000));
  const pid = agentPid(prefix);
  if (!pid) throw new Error('the agent is not running');
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  const reads = (modbus.slave.output().match(/READ \d+/g) ?? []).length;
  console.log(`agent memory after ~10 s (${reads} Modbus reads so far): VmRSS ${(kb('VmRSS') / 1024).toFixed(1)} MB, peak VmHWM ${(kb('VmHWM') / 1024).toFixed(1)} MB (target ≤ 40 MB)`);
} finally {
  await stopAgent(prefix);
  await monitor.close();
  await modbus.stop();
  await sshd.stop();
  await backend.stop();
  work.remove();
}
