import { execFileSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseClaimQr } from '@tds/server/contract';
import { ApiClientIssuer } from '../../src/main/certs/api-client-issuer.js';
import type { ClaimLabel } from '../../src/main/certs/birth-issuer.js';
import { buildForChip, loadBundle, type FirmwareBundle } from '../../src/main/esp32/bundle.js';
import { esp32JobSettings } from '../../src/main/esp32/job-settings.js';
import { nvsNamespace, readNvsImage } from '../../src/main/esp32/nvs/index.js';
import { esp32ProvisionJob, type Esp32JobSettings } from '../../src/main/esp32/provision-job.js';
import { JobQueue } from '../../src/main/jobs/index.js';
import { StationLog } from '../../src/main/log/index.js';
import { claimLabelPdf } from '../../src/main/station/labels.js';
import { ProfileSchema } from '../../src/shared/profile.js';
import { ScriptedDevice } from '../../server/test/support/scripted-device.js';
import { startEsp32Sim, type Esp32Sim } from '../sim/esp32/launch.js';
import { SimDeviceSource } from '../sim/esp32/sim-device-source.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { tempDir } from '../support/temp.js';
import { requireTool } from '../support/tools.js';

// The Bench's "birth identity" profile option against the ESP32 simulator and the real server: the
// board gets a birth certificate for its MAC (key made in the station's memory), the server's URL and
// CA, and no operational identity; the label's QR carries MAC + claim secret and decodes back; the
// claim secret is in no record the station keeps; what the board holds is enough to ask to join.
const MANIFEST = path.resolve(import.meta.dirname, '../fixtures/bundle-arduino/manifest.json');

describe('ESP32 bench job with a birth identity (simulator + real server)', () => {
  let server: TestServer;
  let issuer: ApiClientIssuer;
  let bundle: FirmwareBundle;
  let log: StationLog;
  const dir = tempDir('tds-birth-job-');
  const sims: Esp32Sim[] = [];
  const devices: ScriptedDevice[] = [];
  const source = new SimDeviceSource();
  const queue = new JobQueue({ concurrency: 4 });
  const labels = new Map<string, ClaimLabel>();

  beforeAll(async () => {
    server = await startTestServer({ mqttBroker: '127.0.0.1', mqttPort: 8883 });
    issuer = new ApiClientIssuer(server.client('operator'), 'station', server.caPem);
    bundle = await loadBundle(MANIFEST);
    log = StationLog.open(path.join(dir.path, 'station-log.sqlite'), { stationId: 'birth-bench' });
    log.attach(queue);
  }, 60_000);

  afterAll(async () => {
    await queue.shutdown();
    source.close();
    for (const d of devices) d.close();
    await Promise.all(sims.map((s) => s.stop()));
    log?.close();
    issuer?.close();
    await server?.stop();
    dir.remove();
  });

  const settings = (overrides: Partial<Esp32JobSettings> = {}): Esp32JobSettings =>
    esp32JobSettings(
      ProfileSchema.parse({
        name: 'bench-born',
        accountId: server.contaId,
        brokerHost: '127.0.0.1',
        esp32: { bundlePath: MANIFEST, wifiSsid: 'field-wifi', birthIdentity: true },
      }),
      'field-pass-123',
      { operator: 'tester', stationId: 'birth-bench', reprovision: 'ask' },
      { bootLogMs: 800, ...overrides },
    );

  async function submit(sim: Esp32Sim): Promise<string> {
    const device = (await source.list()).find((d) => d.path === sim.hostPath)!;
    return queue.submit(
      esp32ProvisionJob({ device, openLink: () => source.link(device), bundle, issuer, birth: { issuer, label: (id, l) => labels.set(id, l) }, settings: settings() }),
    );
  }

  const tdscfg = (sim: Esp32Sim) => {
    const part = buildForChip(bundle, 'ESP32').dataPartition;
    return nvsNamespace(readNvsImage(sim.readFlash(part.offset, part.size)), 'tds')!;
  };

  it('writes the birth identity, the server URL and CA into NVS (no operational identity), the board boots into onboarding, and the label QR decodes to MAC + claim secret', async () => {
    requireTool('zbarimg', 'zbar-tools');
    requireTool('pdftoppm', 'poppler-utils');
    const mac = '24:6f:28:b1:00:01';
    const sim = await startEsp32Sim({ mac });
    sims.push(sim);
    await source.add(sim);
    const job = await queue.wait(await submit(sim));
    expect({ state: job.state, error: job.error }).toEqual({ state: 'succeeded', error: undefined });
    expect(job.steps.map((s) => `${s.name}:${s.status}`)).toEqual(['probe:done', 'birth-identity:done', 'factory-data:done', 'flash:done', 'reboot:done', 'boot-log:done']);
    expect(job.steps.find((s) => s.name === 'boot-log')?.detail).toMatch(/asks https:\/\/127\.0\.0\.1:\d+\/api\/v1 to join; it goes online only in the field/);
    expect(job.facts).toMatchObject({ identity: 'birth', bootstrapUrl: server.apiUrl });
    // No operational certificate was asked for.
    expect(job.certificateSerial).toBeUndefined();
    expect((await server.client('operator').listGateways({ mac })).results).toEqual([]);

    // The board's configuration partition: birth identity + where to ask; nothing operational.
    const tds = tdscfg(sim);
    expect(tds).toMatchObject({ mac, bs_url: server.apiUrl, bs_ca: server.caPem, wifi_ssid: 'field-wifi', wifi_pass: 'field-pass-123', cfg_ver: 1, prov_by: 'tester@birth-bench' });
    for (const k of ['cert_pem', 'key_pem', 'gw_code', 'mqtt_host', 'mqtt_port']) expect(tds[k], k).toBeUndefined();
    const birthCert = new X509Certificate(String(tds.birth_cert));
    const birthCa = new X509Certificate(await server.client(null).getBirthCaPem());
    expect(birthCert.subject).toMatch(new RegExp(`CN=${mac}`));
    expect(birthCert.verify(birthCa.publicKey)).toBe(true);
    expect(birthCert.verify(new X509Certificate(server.caPem).publicKey)).toBe(false);
    const birthKey = createPrivateKey(String(tds.birth_key));
    expect(birthCert.checkPrivateKey(birthKey)).toBe(true);
    expect(job.facts?.birthSerial).toMatch(/^[0-9A-F]{8,}$/i);
    // The simulated firmware saw a usable birth identity and started onboarding.
    await sim.waitForLog(/bootstrap: no operational identity; onboarding through https:\/\/127\.0\.0\.1/, 5_000);

    // The label: its QR decodes (independent reader, after printing to PDF and rasterising) to MAC + secret.
    const label = labels.get(job.id)!;
    expect(label).toMatchObject({ mac, birthSerial: job.facts?.birthSerial });
    const pdf = path.join(dir.path, 'claim-label.pdf');
    writeFileSync(pdf, await claimLabelPdf(label));
    execFileSync('pdftoppm', ['-r', '600', '-png', '-singlefile', pdf, path.join(dir.path, 'claim-label')]);
    const decoded = execFileSync('zbarimg', ['--raw', '-q', path.join(dir.path, 'claim-label.png')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    expect(decoded).toBe(label.labelQr);
    expect(parseClaimQr(decoded)).toEqual({ ok: true, kind: 'label', mac, claimSecret: label.claimSecret });
    const text = execFileSync('pdftotext', [pdf, '-'], { encoding: 'utf8' });
    expect(text.replace(/\s+/g, '')).toContain(label.claimSecret);

    // The claim secret is in no record the station keeps: not the job, its log lines, nor the log database.
    expect(JSON.stringify(queue.get(job.id))).not.toContain(label.claimSecret);
    expect(JSON.stringify(log.lines(job.id))).not.toContain(label.claimSecret);
    expect(readFileSync(path.join(dir.path, 'station-log.sqlite')).includes(Buffer.from(label.claimSecret))).toBe(false);

    // What the board holds is enough to ask to join (attested path), and the label then claims it.
    const d = await ScriptedDevice.create(mac, { apiUrl: String(tds.bs_url), caPem: String(tds.bs_ca) });
    devices.push(d);
    d.birth = { certificatePem: String(tds.birth_cert), key: birthKey };
    const asked = await d.bootstrapAttested();
    expect(asked).toMatchObject({ status: 'pending', path: 'attested', mac_address: mac });
    const preview = await server.client('operator').claimPreview({ qr: decoded });
    expect(preview).toMatchObject({ bootstrap_id: asked.bootstrap_id, birth_serial_number: job.facts?.birthSerial });
  }, 120_000);

  it('a board that has a birth identity already: the job asks, "replace" gives it a new one and voids the old label', async () => {
    const mac = '24:6f:28:b1:00:01';
    const sim = sims[0]!;
    const first = labels.get([...labels.keys()][0]!)!;
    const id = await submit(sim);
    for (let i = 0; i < 600 && !queue.get(id)?.question; i++) await new Promise((r) => setTimeout(r, 50));
    const q = queue.get(id)!.question!;
    expect(q).toMatchObject({ kind: 'reprovision', choices: ['replace', 'stop'], facts: { mac, identity: 'birth' } });
    expect(q.message).toMatch(/already has a birth identity/);
    queue.answer(id, q.id, 'replace');
    const job = await queue.wait(id);
    expect(job.state).toBe('succeeded');
    const second = labels.get(id)!;
    expect(second.claimSecret).not.toBe(first.claimSecret);
    expect(String(tdscfg(sim).birth_cert)).not.toBe('');
    // The old label no longer claims anything: its secret is not this MAC's any more.
    const old = await server.client('operator').claimPreview({ qr: first.labelQr }).then(() => 'claimed', (e: { status?: number }) => e.status);
    expect(old).toBe(404);
  }, 120_000);

  it('a board unplugged mid-flash: the birth identity that never reached it is revoked, so the retry needs no question', async () => {
    const mac = '24:6f:28:b1:00:02';
    const sim = await startEsp32Sim({ mac, faults: ['unplug-at-byte=300000'] });
    sims.push(sim);
    await source.add(sim);
    const first = await queue.wait(await submit(sim));
    expect(first.error).toMatchObject({ code: 'PORT_GONE' });
    expect(log.lines(first.id).map((l) => l.text).join('\n')).toMatch(/birth certificate \w+ revoked: it never reached the board/);
    expect(labels.has(first.id)).toBe(false);
    await sim.sendControl('FAULT clear');
    await sim.sendControl('PLUG');
    for (let i = 0; i < 100 && !(await source.list()).some((d) => d.path === sim.hostPath); i++) await new Promise((r) => setTimeout(r, 20));
    const retry = await queue.wait(queue.retry(first.id));
    expect({ state: retry.state, question: retry.question, error: retry.error }).toEqual({ state: 'succeeded', question: undefined, error: undefined });
    expect(labels.get(retry.id)?.mac).toBe(mac);
  }, 120_000);
});
