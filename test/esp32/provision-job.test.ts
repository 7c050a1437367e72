import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProfileSchema } from '../../src/shared/profile.js';
import type { SerialLink, SerialLinkOpenOptions, SerialSignals } from '../../src/main/devices/serial-link.js';
import type { JobSnapshot } from '../../src/shared/jobs.js';
import { ApiClientIssuer } from '../../src/main/certs/api-client-issuer.js';
import { buildForChip, loadBundle, type FirmwareBundle } from '../../src/main/esp32/bundle.js';
import { nvsNamespace, readNvsImage } from '../../src/main/esp32/nvs/index.js';
import { esp32ProvisionJob, type Esp32JobSettings } from '../../src/main/esp32/provision-job.js';
import { esp32JobSettings } from '../../src/main/esp32/job-settings.js';
import { runHeadless } from '../../src/main/jobs/headless.js';
import { JobQueue } from '../../src/main/jobs/index.js';
import { StationLog } from '../../src/main/log/index.js';
import { BrokerMonitor } from '../../src/main/monitor/index.js';
import { startEsp32Sim, type Esp32Sim, type Esp32SimOptions } from '../sim/esp32/launch.js';
import { SimDeviceSource } from '../sim/esp32/sim-device-source.js';
import { startBackend, type Backend } from '../support/backend.js';
import type { TestServer } from '../support/server.js';
import { freePort } from '../support/ports.js';
import { startProcess } from '../support/processes.js';
import { controlChars } from '../support/control-chars.js';
import { tempDir } from '../support/temp.js';
import { crlSerials, crlVerdict, normSerial, WatchedIssuer } from '../pi/helpers.js';

// ESP32 bench jobs end to end: the simulator (ROM + stub + a firmware stand-in that reads tdscfg and
// connects over mTLS), the real issuance server, real Mosquitto with the server's broker kit, and
// the station's own monitor identity. One back end for the whole file.
const MANIFEST = path.resolve(import.meta.dirname, '../fixtures/bundle-arduino/manifest.json');

describe('ESP32 provisioning job (simulator + real server + real broker)', () => {
  let backend: Backend;
  let server: TestServer;
  let monitor: BrokerMonitor;
  let issuer: ApiClientIssuer;
  let bundle: FirmwareBundle;
  let log: StationLog;
  const dir = tempDir('tds-esp32-job-');
  const sims: Esp32Sim[] = [];
  const source = new SimDeviceSource();
  const queue = new JobQueue({ concurrency: 8 });

  const connectMonitor = (): Promise<BrokerMonitor> =>
    BrokerMonitor.connect({ host: backend.broker.host, port: backend.broker.port, ca: backend.monitor.caPem, cert: backend.monitor.certPem, key: backend.monitor.keyPem });

  beforeAll(async () => {
    backend = await startBackend({ broker: 'mosquitto', monitorName: 'esp32-test' });
    server = backend.server;
    monitor = await connectMonitor();
    issuer = new ApiClientIssuer(server.client('operator'));
    bundle = await loadBundle(MANIFEST);
    log = StationLog.open(path.join(dir.path, 'station-log.sqlite'), { stationId: 'bench-test' });
    log.attach(queue);
  }, 180_000);

  afterAll(async () => {
    await queue.shutdown();
    source.close();
    await Promise.all(sims.map((s) => s.stop()));
    log?.close();
    issuer?.close();
    await monitor?.close();
    await backend?.stop();
    dir.remove();
  });

  async function board(mac: string, options: Esp32SimOptions = {}): Promise<Esp32Sim> {
    const sim = await startEsp32Sim({ mac, ...options });
    sims.push(sim);
    await source.add(sim);
    return sim;
  }

  function profile() {
    return ProfileSchema.parse({
      name: 'test bench',
      accountId: server.contaId,
      codeTemplate: 'GW-{mac12}',
      brokerHost: backend.broker.host,
      brokerPort: backend.broker.port,
      esp32: { bundlePath: MANIFEST, wifiSsid: 'bench', onlineTimeoutSec: 10 },
    });
  }

  function settings(overrides: Partial<Esp32JobSettings> = {}): Esp32JobSettings {
    return esp32JobSettings(profile(), 'bench-pass', { operator: 'tester', stationId: 'bench-test', reprovision: 'stop' }, { bootLogMs: 800, ...overrides });
  }

  /** What `tds-station esp32 provision` runs: one job per board on the headless runner. */
  async function provisionPorts(options: {
    ports: string[];
    issuer: ApiClientIssuer;
    reprovision: Esp32JobSettings['reprovision'];
    concurrency?: number;
    answer?: (job: JobSnapshot, q: NonNullable<JobSnapshot['question']>) => Promise<string>;
  }): Promise<{ jobs: JobSnapshot[] }> {
    const devices = await source.list();
    const jobs = options.ports.map((port, i) => {
      const device = devices.find((d) => d.path === port)!;
      const s = settings({ reprovision: options.reprovision, bootLogMs: 500 });
      return esp32ProvisionJob({ device, openLink: () => source.link(device), bundle, issuer: options.issuer, monitor, settings: s, seq: i + 1 });
    });
    return {
      jobs: await runHeadless({ jobs, log, ...(options.concurrency ? { concurrency: options.concurrency } : {}), ...(options.answer ? { answer: options.answer } : {}) }),
    };
  }

  async function submit(sim: Esp32Sim, overrides: Partial<Esp32JobSettings> = {}): Promise<string> {
    const device = (await source.list()).find((d) => d.path === sim.hostPath)!;
    return queue.submit(esp32ProvisionJob({ device, openLink: () => source.link(device), bundle, issuer, monitor, settings: settings(overrides) }));
  }

  async function activeSerial(mac: string): Promise<string | undefined> {
    const page = await server.client('operator').listGateways({ mac });
    return page.results[0]?.active_certificate?.serial_number;
  }

  it('refuses a board whose chip does not match the bundle, before asking for a certificate', async () => {
    const sim = await board('24:6f:28:bb:00:01', { chip: 'esp32s3' });
    const final = await queue.wait(await submit(sim));
    expect(final.state).toBe('failed');
    expect(final.error).toMatchObject({ code: 'WRONG_CHIP', where: 'probe', message: expect.stringMatching(/ESP32-S3.*is for ESP32/) });
    expect(final.steps.find((s) => s.name === 'certificate')?.status).toBe('pending');
    expect(await activeSerial('24:6f:28:bb:00:01')).toBeUndefined();
  });

  it('refuses a board whose flash is smaller than the partition table needs', async () => {
    const sim = await board('24:6f:28:bb:00:02', { flashSize: '2MB' });
    const final = await queue.wait(await submit(sim));
    expect(final.error).toMatchObject({ code: 'FLASH_TOO_SMALL', message: expect.stringMatching(/2MB.*needs 4MB/) });
    expect(final.facts?.flash).toBe('2MB');
  });

  it('says the issuance server cannot be reached when it checks the MAC (probe step), and flashes nothing', async () => {
    const mac = '24:6f:28:bb:00:0a';
    const sim = await board(mac);
    const closedPort = await freePort();
    const down = ApiClientIssuer.fromOptions({ baseUrl: `https://127.0.0.1:${closedPort}/api/v1`, caPem: server.caPem, token: server.tokens.operator, timeoutMs: 5_000 });
    try {
      const device = (await source.list()).find((d) => d.path === sim.hostPath)!;
      const final = await queue.wait(queue.submit(esp32ProvisionJob({ device, openLink: () => source.link(device), bundle, issuer: down, monitor, settings: settings() })));
      expect(final.state).toBe('failed');
      expect(final.error).toMatchObject({ code: 'SERVER_UNREACHABLE', where: 'probe', message: expect.stringContaining(`127.0.0.1:${closedPort}`), hint: expect.stringMatching(/server URL/) });
      expect(final.steps.find((st) => st.name === 'flash')?.status).toBe('pending');
      expect(final.steps.find((st) => st.name === 'certificate')?.status).toBe('pending');
    } finally {
      down.close();
    }
    expect(await activeSerial(mac)).toBeUndefined();
  }, 60_000);

  it('unplug mid-flash fails cleanly, the log says where; the retry succeeds with a fresh certificate', async () => {
    const mac = '24:6f:28:bb:00:03';
    const sim = await board(mac, { faults: ['unplug-at-byte=300000'] });
    const first = await queue.wait(await submit(sim));
    expect(first.state).toBe('failed');
    expect(first.error?.code).toBe('PORT_GONE');
    expect(first.error?.where).toMatch(/^flash: app\.bin at 0x10000, \d+ of 742192 bytes written$/);
    const row = log.get(first.id)!;
    expect(row).toMatchObject({ result: 'failed', errorCode: 'PORT_GONE', mac, certSerial: first.certificateSerial });
    expect(row.errorWhere).toBe(first.error!.where);
    expect(log.steps(first.id).find((s) => s.name === 'flash')).toMatchObject({ status: 'failed', detail: expect.stringContaining('bytes written') });
    const oldSerial = first.certificateSerial!;
    expect(await activeSerial(mac)).toBe(oldSerial);

    await sim.sendControl('FAULT clear');
    await sim.sendControl('PLUG');
    for (let i = 0; i < 100 && !(await source.list()).some((d) => d.path === sim.hostPath); i++) await new Promise((r) => setTimeout(r, 20));
    const retry = await queue.wait(queue.retry(first.id));
    expect({ state: retry.state, error: retry.error }).toEqual({ state: 'succeeded', error: undefined });
    expect(retry.retryOf).toBe(first.id);
    expect(retry.certificateSerial).not.toBe(oldSerial);
    expect(await activeSerial(mac)).toBe(retry.certificateSerial);
    expect(retry.steps.map((s) => s.status)).toEqual(['done', 'done', 'done', 'done', 'done', 'done', 'done']);
    expect(monitor.presence(mac).status).toBe('online');
    await sim.waitForLog(/tds: mqtt connected/, 10_000);

    // What the board holds is this job's data, for this board.
    const part = buildForChip(bundle, 'ESP32').dataPartition;
    const tds = nvsNamespace(readNvsImage(sim.readFlash(part.offset, part.size)), 'tds')!;
    expect(tds).toMatchObject({
      mac,
      gw_code: 'GW-246f28bb0003',
      wifi_ssid: 'bench',
      wifi_pass: 'bench-pass',
      mqtt_host: backend.broker.host,
      mqtt_port: backend.broker.port,
      cfg_ver: 1,
      prov_by: 'tester@bench-test',
    });
    expect(String(tds.cert_pem)).toContain('BEGIN CERTIFICATE');
    expect(String(tds.key_pem)).toContain('BEGIN PRIVATE KEY');
  }, 120_000);

  it('a cancel mid-flash stops the flash at once and frees the port; the retry replaces the unused certificate without asking', async () => {
    const mac = '24:6f:28:bb:00:0c';
    // 100 ms per erased sector: app.bin alone takes ~18 s, so the cancel lands mid-write.
    const sim = await board(mac, { faults: ['slow-erase=100'] });
    const id = await submit(sim, { reprovision: 'ask' });
    for (let i = 0; i < 400 && !(queue.get(id)?.steps.find((st) => st.name === 'flash')?.progress ?? 0); i++) await new Promise((r) => setTimeout(r, 50));
    const flashStep = () => queue.get(id)!.steps.find((st) => st.name === 'flash')!;
    expect(flashStep().status).toBe('running');
    const t0 = Date.now();
    queue.cancel(id);
    const first = await queue.wait(id);
    const stopMs = Date.now() - t0;
    expect(first.state).toBe('cancelled');
    expect(first.error).toMatchObject({ code: 'CANCELLED', where: 'flash' });
    // The session outlives the probe step that opened it; the cancel must still reach esptool.
    expect(stopMs).toBeLessThan(5_000);
    expect(flashStep().progress ?? 0).toBeLessThan(1);
    expect(log.lines(id).map((l) => l.text).join('\n')).not.toMatch(/tdscfg: MD5 verified/);
    const unused = first.certificateSerial!;
    expect(await activeSerial(mac)).toBe(unused);

    // The port is free again right away (no leftover open from esptool-js), and the retry does not
    // ask about the certificate the board never received: it replaces it.
    await sim.sendControl('FAULT clear');
    const retry = await queue.wait(queue.retry(first.id));
    expect({ state: retry.state, error: retry.error, question: retry.question }).toEqual({ state: 'succeeded', error: undefined, question: undefined });
    expect(retry.certificateSerial).not.toBe(unused);
    expect(await activeSerial(mac)).toBe(retry.certificateSerial);
    expect(log.lines(retry.id).map((l) => l.text).join('\n')).toMatch(new RegExp(`${unused}.*never reached the board: replacing it`));
  }, 120_000);

  it('catches an MD5 mismatch', async () => {
    const sim = await board('24:6f:28:bb:00:04', { faults: ['md5-mismatch=once'] });
    const final = await queue.wait(await submit(sim));
    expect(final.error).toMatchObject({ code: 'FLASH_VERIFY_FAILED', where: expect.stringMatching(/^flash: bootloader\.bin at 0x1000/) });
  });

  it('asks, right after reading the MAC, before re-provisioning a MAC with an active certificate: stop skips the board (left running its firmware, nothing written); replace revokes the old one only once the board is online with the new one', async () => {
    const mac = '24:6f:28:bb:00:05';
    const sim = await board(mac);
    const port = sim.hostPath;
    const client = server.client('operator');
    const watched = new WatchedIssuer(client);
    const run = (answer: string, jobIssuer: ApiClientIssuer = issuer) =>
      provisionPorts({
        ports: [port],
        issuer: jobIssuer,
        reprovision: 'ask',
        answer: async (job, q) => {
          asked.push({ job, q });
          return answer;
        },
      });
    const asked: Array<{ job: JobSnapshot; q: NonNullable<JobSnapshot['question']> }> = [];
    const first = await run('stop');
    expect({ state: first.jobs[0]!.state, error: first.jobs[0]!.error }).toEqual({ state: 'succeeded', error: undefined });
    expect(asked).toHaveLength(0);
    const serial = first.jobs[0]!.certificateSerial!;
    const part = buildForChip(bundle, 'ESP32').dataPartition;
    const oldCert = String(nvsNamespace(readNvsImage(sim.readFlash(part.offset, part.size)), 'tds')!.cert_pem);

    const flashBefore = sim.readFlash(0, 0x400000);
    const count = (re: RegExp): number => sim.output().match(re)?.length ?? 0;
    const bootsBefore = count(/boot: flash \(SPI_FAST_FLASH_BOOT\)/g);
    const onlineBefore = count(/mqtt connected/g);
    const stopped = await run('stop');
    expect(asked).toHaveLength(1);
    expect(asked[0]!.q).toMatchObject({ kind: 'reprovision', choices: ['replace', 'stop'], facts: expect.objectContaining({ serial, mac }) });
    // Asked while probing: no certificate was requested and nothing was written.
    expect(asked[0]!.job.steps.map((st) => `${st.name}:${st.status}`)).toEqual(['probe:running', 'certificate:pending', 'factory-data:pending', 'flash:pending', 'reboot:pending', 'boot-log:pending', 'online:pending']);
    const skipped = stopped.jobs[0]!;
    expect({ state: skipped.state, code: skipped.error?.code, text: skipped.error?.text }).toEqual({ state: 'skipped', code: 'MAC_ALREADY_PROVISIONED', text: { key: 'core:identity.error.stoppedBoard', params: { mac, serial } } });
    expect(skipped.steps.every((st) => st.status === 'skipped')).toBe(true);
    expect(log.get(skipped.id)?.result).toBe('skipped');
    expect(Buffer.compare(sim.readFlash(0, 0x400000), flashBefore)).toBe(0);
    expect(await activeSerial(mac)).toBe(serial);
    // The board was not left in its bootloader: it was reset into its firmware and runs again.
    await expect.poll(() => count(/boot: flash \(SPI_FAST_FLASH_BOOT\)/g), { timeout: 10_000 }).toBeGreaterThan(bootsBefore);
    await expect.poll(() => count(/mqtt connected/g), { timeout: 15_000 }).toBeGreaterThan(onlineBefore);

    // At the moment the job confirms: the board holds the new certificate and came online (live)
    // after its reboot, while the old certificate is still the active one and passes the CRL check.
    let atConfirm: { oldOnCrl: string; active: string | undefined; pending: string | undefined; onBoard: string; liveOnlineAt: number | undefined } | undefined;
    watched.onConfirm = async (gatewayId, newSerial) => {
      const [crl, detail] = await Promise.all([client.getCrlPem(), client.getGateway(gatewayId)]);
      atConfirm = {
        oldOnCrl: crlVerdict(oldCert, server.caPem, crl),
        active: detail.active_certificate?.serial_number,
        pending: detail.certificados.find((c) => c.serial_number === newSerial)?.status,
        onBoard: new X509Certificate(String(nvsNamespace(readNvsImage(sim.readFlash(part.offset, part.size)), 'tds')!.cert_pem)).serialNumber,
        liveOnlineAt: monitor.presence(mac).lastLiveOnlineAt,
      };
    };
    const replaced = await run('replace', watched);
    const job = replaced.jobs[0]!;
    expect({ state: job.state, error: job.error }).toEqual({ state: 'succeeded', error: undefined });
    expect(job.certificateSerial).not.toBe(serial);
    const rebootAt = Date.parse(job.steps.find((st) => st.name === 'reboot')!.startedAt!);
    expect(atConfirm).toMatchObject({ oldOnCrl: 'valid', active: serial, pending: 'pending' });
    expect(normSerial(atConfirm!.onBoard)).toBe(normSerial(job.certificateSerial!));
    expect(atConfirm!.liveOnlineAt).toBeGreaterThanOrEqual(rebootAt);
    expect(watched.confirmed).toEqual([job.certificateSerial]);
    // After: the new certificate is active, the old one revoked (superseded) and refused by the CRL check.
    expect(await activeSerial(mac)).toBe(job.certificateSerial);
    const detail = await client.getGateway(job.gatewayId!);
    expect(detail.certificados.find((c) => c.serial_number === serial)).toMatchObject({ is_revoked: true, revoke_reason: expect.stringMatching(/^superseded/) });
    expect(crlVerdict(oldCert, server.caPem, await client.getCrlPem())).toBe('revoked');
  }, 120_000);

  it('a replacement that fails mid-flash leaves the old certificate in force and cancels the pending one', async () => {
    const mac = '24:6f:28:bb:00:0a';
    const oldBoard = await board(mac);
    const first = await queue.wait(await submit(oldBoard));
    expect({ state: first.state, error: first.error }).toEqual({ state: 'succeeded', error: undefined });
    const oldSerial = first.certificateSerial!;
    // The same board on another port (say, moved to another hub), unplugged half-way through the app.
    const again = await board(mac, { faults: ['unplug-at-byte=300000'] });
    const watched = new WatchedIssuer(server.client('operator'));
    const device = (await source.list()).find((d) => d.path === again.hostPath)!;
    const id = queue.submit(esp32ProvisionJob({ device, openLink: () => source.link(device), bundle, issuer: watched, monitor, settings: settings({ reprovision: 'replace' }) }));
    const failed = await queue.wait(id);
    // (where: "flash: app.bin at 0x10000, …", or just "flash" when the unplug is first seen as a
    // write failure and the reconnect at a lower rate finds the port gone)
    expect(failed.error, log.lines(id).map((l) => `[${l.step}] ${l.text}`).join('\n')).toMatchObject({ code: 'PORT_GONE', where: expect.stringMatching(/^flash/) });
    expect(failed.steps.find((st) => st.name === 'flash')?.status).toBe('failed');
    const pendingSerial = failed.certificateSerial!;
    expect(pendingSerial).not.toBe(oldSerial);
    expect(watched.cancelled).toEqual([pendingSerial]);
    expect(watched.confirmed).toEqual([]);
    const client = server.client('operator');
    expect(await activeSerial(mac)).toBe(oldSerial);
    const detail = await client.getGateway(first.gatewayId!);
    expect(detail.certificados.find((c) => c.serial_number === pendingSerial)).toMatchObject({ is_revoked: true, status: 'revoked' });
    // The board that holds the old certificate still passes the CRL check (and is still connected).
    const part = buildForChip(bundle, 'ESP32').dataPartition;
    const oldCert = String(nvsNamespace(readNvsImage(oldBoard.readFlash(part.offset, part.size)), 'tds')!.cert_pem);
    expect(normSerial(new X509Certificate(oldCert).serialNumber)).toBe(normSerial(oldSerial));
    const crl = await client.getCrlPem();
    expect(crlVerdict(oldCert, server.caPem, crl)).toBe('valid');
    expect(crlSerials(crl)).toContain(normSerial(pendingSerial));
    expect(monitor.presence(mac).status).toBe('online');
    expect(log.lines(id).some((l) => l.text.includes(`pending certificate ${pendingSerial} cancelled`))).toBe(true);
  }, 120_000);

  it('provisions 8 boards in parallel, each online with its own certificate', async () => {
    const macs = Array.from({ length: 8 }, (_, i) => `24:6f:28:cc:00:${(i + 1).toString(16).padStart(2, '0')}`);
    const boards = await Promise.all(macs.map((mac) => board(mac)));
    const result = await provisionPorts({
      ports: boards.map((b) => b.hostPath),
      issuer,
      reprovision: 'stop',
      concurrency: 8,
    });
    for (const j of result.jobs) expect({ port: j.target, state: j.state, error: j.error }).toEqual({ port: j.target, state: 'succeeded', error: undefined });
    expect(result.jobs.map((j) => j.mac).sort()).toEqual(macs);
    const serials = result.jobs.map((j) => j.certificateSerial!);
    expect(new Set(serials).size).toBe(8);
    const part = buildForChip(bundle, 'ESP32').dataPartition;
    for (const [i, b] of boards.entries()) {
      const job = result.jobs.find((j) => j.target === b.hostPath)!;
      expect(job.mac).toBe(macs[i]);
      // The board holds a certificate for its own MAC with the serial the job recorded, and used it.
      const tds = nvsNamespace(readNvsImage(b.readFlash(part.offset, part.size)), 'tds')!;
      const cert = new X509Certificate(String(tds.cert_pem));
      expect(cert.subject).toContain(`CN=${macs[i]}`);
      expect(BigInt(`0x${cert.serialNumber}`)).toBe(BigInt(`0x${job.certificateSerial}`));
      expect(cert.checkPrivateKey(createPrivateKey(String(tds.key_pem)))).toBe(true);
      await b.waitForLog(/tds: mqtt connected/, 10_000);
      expect(monitor.presence(macs[i]!).status).toBe('online');
      expect(await activeSerial(macs[i]!)).toBe(job.certificateSerial);
    }
    expect(log.query({ result: 'succeeded', operator: 'tester' }).filter((r) => macs.includes(r.mac!))).toHaveLength(8);
  }, 180_000);

  it('fails clearly, with the boot log attached, when the broker never sees the device', async () => {
    const mac = '24:6f:28:bb:00:06';
    const sim = await board(mac);
    const closedPort = await freePort();
    const id = await submit(sim, { broker: { host: '127.0.0.1', port: closedPort }, onlineTimeoutMs: 4000 });
    const final = await queue.wait(id);
    expect(final.state).toBe('failed');
    expect(final.error).toMatchObject({ code: 'BROKER_NEVER_SAW_DEVICE', where: expect.stringMatching(/^online/), hint: expect.stringMatching(/boot log/) });
    expect(final.error?.attachment?.label).toContain(mac);
    expect(final.error?.attachment?.text).toMatch(/SPI_FAST_FLASH_BOOT/);
    expect(final.error?.attachment?.text).toMatch(new RegExp(`mqtt: connecting to mqtts://127\\.0\\.0\\.1:${closedPort}`));
    expect(log.attachment(id)?.text).toBe(final.error?.attachment?.text);
    expect(log.steps(id).map((s) => s.status)).toEqual(['done', 'done', 'done', 'done', 'done', 'done', 'failed']);
  }, 60_000);

  it('escapes a boot log that tries to clear the terminal, overwrite a line and reverse text, in the job log and the stored station log', async () => {
    const mac = '24:6f:28:bb:00:0b';
    const sim = await board(mac);
    // The firmware prints the SSID it was given ("wifi: connecting to …"): a hostile name puts a clear
    // screen, a cursor jump, a carriage return over the line and a right-to-left override in the boot log.
    const ssid = 'lab\x1b[2J\x1b[1;1H\rFLASH OK\u202Egnp.exe';
    const escaped = 'lab\\x1b[2J\\x1b[1;1H\\rFLASH OK\\u202egnp.exe';
    const all: Array<{ jobId: string; text: string }> = [];
    const off = queue.onLog((l) => all.push(l));
    const closedPort = await freePort();
    const id = await submit(sim, { wifi: { ssid, password: 'bench-pass' }, broker: { host: '127.0.0.1', port: closedPort }, onlineTimeoutMs: 3000 });
    const final = await queue.wait(id);
    off();
    const live = all.filter((l) => l.jobId === id).map((l) => l.text);
    // The board really sent the raw sequence on its UART.
    const uart = await sim.waitForLog(/wifi: connecting to "lab[^"]*gnp\.exe"/, 5_000);
    expect(uart[0]).toBe(`wifi: connecting to "${ssid}"`);
    expect(final.error?.code).toBe('BROKER_NEVER_SAW_DEVICE');
    const line = `wifi: connecting to "${escaped}"`;
    const stored = log.lines(id).map((l) => l.text);
    expect(live.some((t) => t.startsWith('[device] ') && t.includes(line))).toBe(true);
    expect(stored.some((t) => t.startsWith('[device] ') && t.includes(line))).toBe(true);
    expect(final.error?.attachment?.text).toContain(line);
    expect(log.attachment(id)?.text).toContain(line);
    for (const t of [...live, ...stored, ...log.steps(id).map((st) => st.detail ?? ''), ...final.steps.map((st) => st.detail ?? '')]) expect(controlChars(t)).toEqual([]);
    for (const t of [final.error?.attachment?.text ?? '', log.attachment(id)?.text ?? '']) expect(controlChars(t, { allowLf: true })).toEqual([]);
  }, 60_000);

  it('manual reset mode: asks the operator to hold BOOT, and goes online after EN is pressed', async () => {
    const mac = '24:6f:28:bb:00:08';
    const sim = await board(mac, { resetCircuit: 'none' });
    const device = (await source.list()).find((d) => d.path === sim.hostPath)!;
    expect(device.resetMode).toBe('manual');
    const id = queue.submit(
      esp32ProvisionJob({ device, openLink: () => source.link(device), bundle, issuer, monitor, settings: settings({ resetMode: 'manual' }) }),
    );
    let pressedAfterFlash = false;
    const off = queue.onUpdate((snap) => {
      if (snap.id !== id) return;
      if (snap.question?.kind === 'manual-boot') {
        const qid = snap.question.id;
        // The operator's hands: hold BOOT, tap EN, release BOOT, then confirm.
        void (async () => {
          await sim.sendControl('BOOT=hold');
          await sim.sendControl('RESET');
          await sim.sendControl('BOOT=release');
          queue.answer(id, qid, 'ready');
        })();
      }
      if (!pressedAfterFlash && snap.steps.find((st) => st.name === 'reboot')?.status === 'done') {
        pressedAfterFlash = true;
        void sim.sendControl('RESET'); // no auto-reset circuit: the operator taps EN
      }
    });
    const final = await queue.wait(id);
    off();
    expect(final.error).toBeUndefined();
    expect(final.state).toBe('succeeded');
    expect(final.steps.find((st) => st.name === 'reboot')?.detail).toMatch(/press EN/);
    expect(log.lines(id).some((l) => /waiting for the operator: Put the board .* in download mode/.test(l.text))).toBe(true);
  }, 60_000);

  it('steps down to the next rate (460800 on a CP2102) when the board keeps rejecting blocks at 921600', async () => {
    const sim = await board('24:6f:28:bb:00:09');
    const id = await submit(sim);
    // Arm the fault once the job is flashing: three rejected blocks exhaust esptool's retries.
    const off = queue.onUpdate((snap) => {
      if (snap.id === id && snap.steps.find((st) => st.name === 'flash')?.status === 'running') {
        off();
        void sim.sendControl('FAULT bad-checksum=3');
      }
    });
    const final = await queue.wait(id);
    expect(final.error).toBeUndefined();
    expect(final.state).toBe('succeeded');
    expect(log.lines(id).some((l) => /flashing at 921600 baud failed .*reconnecting at 460800 baud/.test(l.text))).toBe(true);
    expect(final.steps.find((st) => st.name === 'flash')?.detail).toMatch(/at 460800 baud, MD5 verified$/);
  }, 90_000);

  it('a serial link whose output stops moving mid-flash is detected, and the job reconnects and finishes', async () => {
    const mac = '24:6f:28:bb:00:0d';
    const sim = await board(mac);
    const device = (await source.list()).find((d) => d.path === sim.hostPath)!;
    // A wedged USB link: after 60 kB at 921600 a write never completes (no error, no timeout) until
    // the port is closed and opened again.
    const link = new StallingLink(source.link(device), 60_000);
    const id = queue.submit(esp32ProvisionJob({ device, openLink: () => link, bundle, issuer, monitor, settings: settings() }));
    const final = await queue.wait(id);
    expect({ state: final.state, error: final.error }).toEqual({ state: 'succeeded', error: undefined });
    expect(link.stalls).toBe(1);
    const text = log.lines(id).map((l) => l.text).join('\n');
    expect(text).toMatch(/the serial link stopped moving: block \d+ of \d+ of app\.bin got neither an answer nor a timeout within 13 s/);
    expect(text).toMatch(/reconnecting at 460800 baud/);
    expect(final.steps.find((st) => st.name === 'flash')?.status).toBe('done');
    expect(monitor.presence(mac).status).toBe('online');
  }, 120_000);

  it('runs from the compiled CLI: list, probe, provision with a JSON summary and the station log', async () => {
    const cli = path.resolve(import.meta.dirname, '../../dist/station/main/cli/index.js');
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run "npm run build" first`);
    const mac = '24:6f:28:bb:00:07';
    const sim = await board(mac);
    // The CLI watches the broker with this file's monitor identity, and the broker makes the client id
    // the certificate's name: two sessions with one identity take each other over. Close ours meanwhile.
    await monitor.close();
    try {
      await cliRuns(cli, mac, sim);
    } finally {
      monitor = await connectMonitor();
    }
  }, 120_000);

  async function cliRuns(cli: string, mac: string, sim: Esp32Sim): Promise<void> {
    const profileFile = path.join(dir.path, 'profile.json');
    writeFileSync(
      profileFile,
      JSON.stringify({
        name: 'cli bench',
        server: { url: server.url, token: { env: 'TDS_TEST_TOKEN' }, caPem: server.caPem },
        accountId: server.contaId,
        codeTemplate: 'CLI-{mac12}',
        nameTemplate: 'CLI {mac12}',
        brokerHost: backend.broker.host,
        brokerPort: backend.broker.port,
        monitor: { certFile: 'monitor.crt', keyFile: 'monitor.key', caFile: 'ca.crt' },
        esp32: { bundlePath: MANIFEST, wifiSsid: 'bench', wifiPassword: { env: 'TDS_TEST_WIFI' }, onlineTimeoutSec: 20 },
        operator: 'cli-op',
      }),
    );
    writeFileSync(path.join(dir.path, 'monitor.crt'), backend.monitor.certPem);
    writeFileSync(path.join(dir.path, 'monitor.key'), backend.monitor.keyPem, { mode: 0o600 });
    writeFileSync(path.join(dir.path, 'ca.crt'), backend.monitor.caPem);
    const env = {
      ...process.env,
      TDS_DEVICE_SOURCE: path.resolve(import.meta.dirname, 'support/sim-source-module.ts'),
      TDS_SIM_BOARDS: JSON.stringify([{ hostPath: sim.hostPath, controlPath: sim.controlPath, mac }]),
      TDS_TEST_TOKEN: server.tokens.operator,
      TDS_TEST_WIFI: 'cli-wifi-pass',
    };
    const station = async (args: string[]): Promise<{ code: number | string; stdout: string; output: string }> => {
      const p = startProcess('tds-station', process.execPath, ['--import', 'tsx', cli, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      p.child.stdout?.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
      const code = await p.exited();
      return { code, stdout, output: p.output() };
    };

    const list = await station(['esp32', 'list', '--json']);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ path: sim.hostPath, bridge: 'Silicon Labs CP210x', likelyEsp32: true })]);

    const probe = await station(['esp32', 'probe', '--port', sim.hostPath, '--json']);
    expect(probe.code).toBe(0);
    // The speed is the bridge's top rung (a CP210x: 921600) unless capped.
    expect(JSON.parse(probe.stdout)).toMatchObject({ port: sim.hostPath, chipFamily: 'ESP32', mac, flashSize: '4MB', crystalMhz: 40, baud: 921600 });
    const capped = await station(['esp32', 'probe', '--port', sim.hostPath, '--max-baud', '460800', '--json']);
    expect(JSON.parse(capped.stdout)).toMatchObject({ mac, baud: 460800 });

    const logDb = path.join(dir.path, 'cli-log.sqlite');
    const run = await station(['esp32', 'provision', '--port', sim.hostPath, '--profile', profileFile, '--log-db', logDb, '--station-id', 'cli-bench', '--on-active-cert', 'stop']);
    expect(run.code, run.output).toBe(0);
    const summary = JSON.parse(run.stdout) as { succeeded: number; jobs: Array<{ state: string; mac: string; certificateSerial: string; gatewayCode: string; steps: Array<{ name: string; status: string }> }> };
    expect(summary.succeeded).toBe(1);
    expect(summary.jobs[0]).toMatchObject({ state: 'succeeded', mac, gatewayCode: 'CLI-246f28bb0007' });
    expect(summary.jobs[0]!.steps.map((st) => st.status)).toEqual(Array(7).fill('done'));
    expect(run.output).toMatch(/flash \d+%/);
    expect(await activeSerial(mac)).toBe(summary.jobs[0]!.certificateSerial);
    const cliLog = StationLog.open(logDb, { stationId: 'cli-bench' });
    try {
      expect(cliLog.query({ mac })).toEqual([expect.objectContaining({ result: 'succeeded', operator: 'cli-op', stationId: 'cli-bench', certSerial: summary.jobs[0]!.certificateSerial })]);
    } finally {
      cliLog.close();
    }
    // The speed that worked on the port and the bundle's sector digests are kept next to the station log.
    const rates = JSON.parse(readFileSync(path.join(dir.path, 'esp32-port-rates.json'), 'utf8')) as { ports: Record<string, { worked?: number }> };
    expect(Object.entries(rates.ports)).toEqual([[expect.stringContaining(sim.hostPath), expect.objectContaining({ worked: 921600 })]]);
    expect(readdirSync(path.join(dir.path, 'esp32-images'))).toEqual([`${bundle.sha256}-esp32.json`]);
    const part = buildForChip(bundle, 'ESP32').dataPartition;
    expect(nvsNamespace(readNvsImage(sim.readFlash(part.offset, part.size)), 'tds')?.wifi_pass).toBe('cli-wifi-pass');

    // Same MAC again, non-interactive, "stop": exit code 1 and the reason in the summary.
    const again = await station(['esp32', 'provision', '--port', sim.hostPath, '--profile', profileFile, '--log-db', logDb, '--on-active-cert', 'stop', '--quiet']);
    expect(again.code, again.output).toBe(1);
    expect(again.stdout, again.output).not.toBe('');
    expect(JSON.parse(again.stdout).jobs[0].error.code).toBe('MAC_ALREADY_PROVISIONED');
  }

  it('keeps no key material in the station log', async () => {
    // Every board provisioned above holds its station-made key; none of it may be in the log files.
    const part = buildForChip(bundle, 'ESP32').dataPartition;
    const keys = sims
      .map((s) => {
        try {
          return nvsNamespace(readNvsImage(s.readFlash(part.offset, part.size)), 'tds')?.key_pem;
        } catch {
          return undefined;
        }
      })
      .filter((k): k is string => typeof k === 'string');
    expect(keys.length).toBeGreaterThanOrEqual(2);
    const bytes = Buffer.concat(
      readdirSync(dir.path)
        .filter((f) => f.startsWith('station-log.sqlite'))
        .map((f) => readFileSync(path.join(dir.path, f))),
    );
    expect(bytes.length).toBeGreaterThan(0);
    for (const pem of keys) {
      const body = pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
      const der = Buffer.from(body, 'base64');
      for (const line of pem.split('\n').filter((l) => l.length >= 40)) expect(bytes.includes(Buffer.from(line))).toBe(false);
      expect(bytes.includes(der.subarray(der.length - 40))).toBe(false);
    }
    expect(bytes.includes(Buffer.from('PRIVATE KEY'))).toBe(false);
  });
});

/** Test double of a wedged USB link: past `stallAfter` bytes a write hangs until the port is reopened. */
class StallingLink implements SerialLink {
  stalls = 0;
  private sent = 0;
  private armed = true;
  constructor(
    private readonly inner: SerialLink,
    private readonly stallAfter: number,
  ) {}
  get path(): string {
    return this.inner.path;
  }
  get isOpen(): boolean {
    return this.inner.isOpen;
  }
  open(options: SerialLinkOpenOptions): Promise<void> {
    return this.inner.open(options);
  }
  write(data: Uint8Array): Promise<void> {
    this.sent += data.length;
    if (this.armed && this.sent > this.stallAfter) {
      this.armed = false;
      this.stalls++;
      return new Promise<void>(() => undefined);
    }
    return this.inner.write(data);
  }
  onData(listener: (chunk: Uint8Array) => void): () => void {
    return this.inner.onData(listener);
  }
  onClose(listener: (error?: Error) => void): () => void {
    return this.inner.onClose(listener);
  }
  setSignals(signals: SerialSignals): Promise<void> {
    return this.inner.setSignals(signals);
  }
  setBaudRate(baudRate: number): Promise<void> {
    return this.inner.setBaudRate(baudRate);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
