import { execFileSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceQr, labelQr, parseClaimQr, topics, type BootstrapIssuedResponse } from '@tds/server/contract';
import { buildForChip, loadBundle } from '../../src/main/esp32/bundle.js';
import { nvsNamespace, readNvsImage } from '../../src/main/esp32/nvs/index.js';
import type { WebStation } from '../../src/main/web/web-station.js';
import { shortFingerprint } from '../../src/shared/claims.js';
import { ScriptedDevice } from '../../server/test/support/scripted-device.js';
import { startEsp32Sim, type Esp32Sim } from '../sim/esp32/launch.js';
import { freePort } from '../support/ports.js';
import { TDS_SERVER_CLI } from '../support/server.js';
import { tempDir } from '../support/temp.js';
import { requireTool } from '../support/tools.js';
import { download, launchBrowser, screenshot, type TestBrowser } from './support/browser.js';
import { fakeCameraArgs, pngToY4m } from './support/fake-camera.js';
import { BUNDLE_DIR, invoke, startTestStation } from './support/station.js';
import { fill, goTo, settingsTab } from './support/ui.js';

// Zero-touch onboarding through the station's UI in Chromium, against the real bundled server with
// its embedded MQTT broker: a board gets a birth identity on the Bench (ESP32 simulator), its label is
// printed, rasterised by Chromium and shown to the laptop's (fake) camera on the Claim screen; the
// board's request is played by the server tests' scripted device with the keys the board holds; the
// installer approves it and watches it come online. Then the open path (code + MAC typed, device QR
// through the scan field), a rejection, and the hostile cases: a wrong code, a reused label, a label
// QR of another MAC, and wrong codes until the lockout, each shown in words.
describe('E2E: the Claim screen (web mode, Chromium, fake camera, bundled server + embedded broker)', () => {
  const tmp = tempDir('tds-e2e-claim-');
  const dataDir = path.join(tmp.path, 'station');
  const caPassphrase = 'e2e claim CA passphrase, given at start';
  const mac = '24:6f:28:c1:a1:01';
  let brokerPort: number;
  let sim: Esp32Sim;
  let station: WebStation;
  let bench: TestBrowser;
  let camera: TestBrowser | undefined;
  const devices: ScriptedDevice[] = [];
  const mqttClients: MqttClient[] = [];
  let label = '';
  let bornDevice: ScriptedDevice;

  const start = () => startTestStation({ dataDir, bundledServer: true, caPassphrase, boards: [sim] });
  const scripted = async (m: string, apiUrl: string, caPem: string): Promise<ScriptedDevice> => {
    const d = await ScriptedDevice.create(m, { apiUrl, caPem });
    devices.push(d);
    return d;
  };
  /** The device's side after approval: poll until issued, then connect to the broker and publish as a gateway does. */
  const goOnline = async (d: ScriptedDevice): Promise<BootstrapIssuedResponse> => {
    let issued: BootstrapIssuedResponse | undefined;
    for (let i = 0; i < 60 && !issued; i++) {
      const p = await d.poll();
      if (p.status === 'issued') issued = p.body;
      else if (p.status === 'gone') throw new Error(`request gone: ${p.error}`);
      else await new Promise((r) => setTimeout(r, 1100));
    }
    if (!issued) throw new Error('never issued');
    const client = mqtt.connect({
      protocol: 'mqtts',
      host: '127.0.0.1',
      port: issued.mqtt_port,
      clientId: d.mac,
      ca: issued.ca_pem,
      cert: issued.certificate_pem,
      key: d.key.export({ type: 'pkcs8', format: 'pem' }).toString(),
      rejectUnauthorized: true,
      reconnectPeriod: 1000,
    });
    mqttClients.push(client);
    const send = (): void => {
      client.publish(topics.telemetry(d.mac), JSON.stringify({ timestamp: new Date().toISOString(), valor: 21.5, unidade: '°C', gateway_mac: d.mac, firmware_version: 'scripted' }));
    };
    client.on('connect', () => {
      client.publish(topics.status(d.mac), 'online', { retain: true, qos: 1 });
      send();
    });
    const timer = setInterval(send, 1000);
    client.on('close', () => undefined);
    client.once('end', () => clearInterval(timer));
    return issued;
  };
  const refusal = (page: TestBrowser['page']) => page.locator('[data-testid=claim-refusal]');
  /** As a keyboard-wedge barcode scanner does: the QR's text typed key by key, then Enter. */
  const scanField = async (page: TestBrowser['page'], text: string): Promise<void> => {
    const input = page.locator('#claim-scan-form [data-field="device.qr"]');
    await input.fill('');
    await input.focus();
    await page.keyboard.type(text, { delay: 2 });
    await page.keyboard.press('Enter');
  };
  const bootstrapApi = async (): Promise<{ apiUrl: string; caPem: string }> => {
    const s = await invoke(station, 'settings.get');
    const url = s.server.url!.replace(/\/+$/, '');
    return { apiUrl: url.endsWith('/api/v1') ? url : `${url}/api/v1`, caPem: s.broker.caPem! };
  };

  beforeAll(async () => {
    requireTool('zbarimg', 'zbar-tools');
    brokerPort = await freePort();
    sim = await startEsp32Sim({ mac });
    station = await start();
    await invoke(station, 'firstRun.run', { accountName: 'Claim factory', operator: 'Ivo Instalador', startBroker: true, brokerPort, deviceBrokerHost: '127.0.0.1' });
    // Open enrolment is off by default: the admin turns it on (and a short poll interval) and restarts.
    await station.close();
    execFileSync(process.execPath, [TDS_SERVER_CLI, 'zero-touch', '--data', path.join(dataDir, 'server'), '--open-enrolment', 'on', '--poll-seconds', '1'], { stdio: 'ignore' });
    station = await start();
    bench = await launchBrowser();
    bench.page.setDefaultTimeout(20_000);
    await bench.page.goto(station.url);
  }, 180_000);

  afterAll(async () => {
    for (const c of mqttClients) c.end(true);
    for (const d of devices) d.close();
    await camera?.close();
    await bench?.close();
    await station?.close();
    await sim?.stop();
    tmp.remove();
  });

  it('Bench: a profile with the birth identity gives the board its birth identity; its card says it goes online only once claimed; the label carries the claim QR', async () => {
    const { page } = bench;
    const s = await invoke(station, 'settings.get');
    await page.locator('.shell').waitFor();
    await settingsTab(page, 'profiles');
    await page.getByRole('button', { name: /New profile/ }).click();
    await fill(page, '#profile-form', { name: 'bench-born', accountId: String(s.server.accountId), brokerHost: '127.0.0.1', brokerPort: String(brokerPort) });
    await page.locator('#profile-form [data-field="esp32"]').check();
    await fill(page, '#profile-form', { 'esp32.bundlePath': BUNDLE_DIR, 'esp32.wifiSsid': 'field-wifi', 'esp32.wifiPassword': 'field-pass-123' });
    await page.locator('#profile-form [data-field="esp32.birthIdentity"]').check();
    await page.click('#profile-form button[type=submit]');
    await page.locator('[data-testid=profile-item]', { hasText: 'bench-born' }).waitFor({ timeout: 15_000 });
    expect((await invoke(station, 'profiles.list')).find((p) => p.name === 'bench-born')?.esp32?.birthIdentity).toBe(true);
    await invoke(station, 'settings.update', { activeProfile: 'bench-born' });

    await goTo(page, 'bench');
    const card = page.locator(`[data-testid=board-card][data-port="${sim.hostPath}"]`);
    await card.getByRole('button', { name: /^Provision( —|$)/ }).click();
    await expect.poll(() => card.getAttribute('data-state'), { timeout: 120_000, interval: 500 }).toMatch(/succeeded|failed/);
    expect(await card.getAttribute('data-state')).toBe('succeeded');
    expect(await card.locator('[data-testid=birth-note]').textContent()).toMatch(/does not go online here/);
    // The steps are in the card's details (the slot card shows its outcome only).
    await card.getByRole('button', { name: /^Details( —|$)/ }).click();
    expect(await card.getByTestId('board-details').textContent()).toContain('Get the birth identity');

    await card.getByRole('button', { name: /^Label( —|$)/ }).click();
    const png = await download(page, () => page.click('[data-testid=label-png]'), bench.downloads);
    await screenshot(page, 'claim-label', tmp.path);
    label = execFileSync('zbarimg', ['--raw', '-q', png], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    expect(parseClaimQr(label)).toMatchObject({ ok: true, kind: 'label', mac });
    await page.keyboard.press('Escape');
    // The secret is nowhere in what the station shows in its jobs or keeps in its log.
    const secret = (parseClaimQr(label) as { claimSecret: string }).claimSecret;
    expect(JSON.stringify(await invoke(station, 'jobs.list'))).not.toContain(secret);
    const job = (await invoke(station, 'jobs.list')).find((j) => j.mac === mac)!;
    expect(JSON.stringify(await invoke(station, 'jobs.log', { jobId: job.id }))).not.toContain(secret);
    expect(JSON.stringify(await invoke(station, 'log.get', { id: job.id }))).not.toContain(secret);

    // The board, in the field: it asks to join with what it holds (played by the scripted device).
    const part = buildForChip(await loadBundle(path.join(BUNDLE_DIR, 'manifest.json')), 'ESP32').dataPartition;
    const tds = nvsNamespace(readNvsImage(sim.readFlash(part.offset, part.size)), 'tds')!;
    expect(tds.cert_pem).toBeUndefined();
    bornDevice = await scripted(mac, String(tds.bs_url), String(tds.bs_ca));
    bornDevice.birth = { certificatePem: String(tds.birth_cert), key: createPrivateKey(String(tds.birth_key)) };
    await bornDevice.bootstrapAttested({ model: 'ESP32-D0WD-V3 rev3', firmware_version: '1.5.0' });
    camera = undefined;
    const y4m = path.join(tmp.path, 'label.y4m');
    pngToY4m(png, y4m, { widthFraction: 0.6 });
    camera = await launchBrowser({ args: fakeCameraArgs(y4m), permissions: ['camera'] });
    camera.page.setDefaultTimeout(20_000);
  }, 240_000);

  it('Claim: the camera reads the printed label; the preview shows what the server saw with focus on it; approval, then online on the broker', async () => {
    const page = camera!.page;
    await page.goto(station.url);
    await page.locator('.shell').waitFor();
    await page.keyboard.press('Alt+6');
    await page.locator('[data-screen="claim"][aria-current="page"]').waitFor();
    await page.click('[data-testid=claim-camera-start]');
    const preview = page.locator('[data-testid=claim-preview]');
    await preview.waitFor({ timeout: 30_000 });
    // Only the camera named the device (nothing was typed), and the server found the label's secret in what it read.
    // Focus moved to the preview's heading (keyboard and screen-reader users land on it).
    await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('claim-preview-title');
    expect(await page.locator('[data-testid=claim-mac]').textContent()).toBe(mac);
    expect(await page.locator('[data-testid=claim-fingerprint]').textContent()).toBe(shortFingerprint(bornDevice.request!.key_fingerprint));
    const text = await preview.textContent();
    expect(text).toMatch(/Bench-born: proved its birth identity/);
    expect(text).toContain('ESP32-D0WD-V3 rev3');
    expect(text).toContain('1.5.0');
    expect(text).toContain('127.0.0.1');
    await screenshot(page, 'claim-preview', tmp.path, { fullPage: true });
    // The code and name are suggested; the account is the station's.
    expect(await page.locator('#claim-form [data-field=gatewayCode]').inputValue()).toBe('GW-246f28c1a101');
    await page.locator('#claim-form [data-field=name]').fill('Gateway Norte');
    await page.locator('#claim-form button[type=submit]').click();
    const live = page.locator('[data-testid=claim-live]');
    await live.waitFor();
    await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('claim-live-title');
    expect(await live.getAttribute('data-state')).toBe('waiting');
    expect(await live.textContent()).toMatch(/Waiting for the device to fetch its certificate/);
    const issued = await goOnline(bornDevice);
    expect(issued).toMatchObject({ mac_address: mac, codigo: 'GW-246f28c1a101', mqtt_port: brokerPort });
    await expect.poll(() => live.getAttribute('data-state'), { timeout: 30_000, interval: 500 }).toBe('online');
    expect(await page.locator('[data-testid=claim-live-status]').textContent()).toContain(`The broker sees ${mac} online.`);
    await screenshot(page, 'claim-online', tmp.path, { fullPage: true });
    // The gateway is the account's, with the approved name.
    const gw = (await invoke(station, 'gateways.list', {})).results.find((g) => g.mac === mac);
    expect(gw).toMatchObject({ code: 'GW-246f28c1a101', name: 'Gateway Norte' });
  }, 120_000);

  it('open path: a wrong code is refused with the tries left; the right code + MAC previews; a reject reaches the device', async () => {
    const page = camera!.page;
    await page.getByRole('button', { name: 'Claim another device' }).click();
    const { apiUrl, caPem } = await bootstrapApi();
    const d = await scripted('02:c1:e2:00:00:01', apiUrl, caPem);
    const r = await d.bootstrapOpen({ model: 'Raspberry Pi 4 Model B Rev 1.5' });
    await page.locator('#claim-manual-form [data-field="device.mac"]').fill('02-C1-E2-00-00-01');
    const wrong = r.activation_code === 'ZZZZ-ZZZZ' ? 'YYYY-YYYY' : 'ZZZZ-ZZZZ';
    await page.locator('#claim-manual-form [data-field="device.code"]').fill(wrong);
    await page.locator('#claim-manual-form button[type=submit]').click();
    await expect.poll(() => refusal(page).getAttribute('data-reason')).toBe('wrong-code');
    expect(await refusal(page).textContent()).toMatch(/No request of 02:c1:e2:00:00:01 has this code.*4 tries left before this station is locked out/);
    // A code with a character outside the alphabet is refused in place, before the server counts it.
    await page.locator('#claim-manual-form [data-field="device.code"]').fill('K7M2-Q4TU');
    await page.locator('#claim-manual-form button[type=submit]').click();
    await expect.poll(() => page.locator('#claim-manual-form [data-field="device.code"]').getAttribute('aria-invalid')).toBe('true');
    await page.locator('#claim-manual-form [data-field="device.code"]').fill(r.activation_code!.toLowerCase());
    await page.locator('#claim-manual-form button[type=submit]').click();
    const preview = page.locator('[data-testid=claim-preview]');
    await preview.waitFor();
    expect(await preview.textContent()).toMatch(/Open enrolment: shows an activation code/);
    expect(await preview.getAttribute('data-bootstrap-id')).toBe(r.bootstrap_id);
    await page.getByRole('button', { name: 'Reject…' }).click();
    await page.locator('#claim-reject-form [data-field=reason]').fill('fingerprint differs from the device');
    await page.getByRole('button', { name: 'Reject this request' }).click();
    await page.locator('[data-testid=claim-rejected]').waitFor();
    expect(await page.locator('[data-testid=claim-rejected]').textContent()).toContain('fingerprint differs from the device');
    expect(await d.poll()).toMatchObject({ status: 'gone', code: 'rejected' });
  }, 60_000);

  it('open path through the scan field: the device QR (as a barcode scanner types it) previews; approval takes it online', async () => {
    const page = camera!.page;
    await page.getByRole('button', { name: 'Claim another device' }).click();
    const { apiUrl, caPem } = await bootstrapApi();
    const d = await scripted('02:c1:e2:00:00:02', apiUrl, caPem);
    const r = await d.bootstrapOpen();
    expect(r.qr_payload).toBe(deviceQr(d.mac, r.activation_code!));
    await scanField(page, r.qr_payload!);
    await page.locator('[data-testid=claim-preview]').waitFor();
    await page.locator('#claim-form [data-field=gatewayCode]').fill('GW-OPEN-02');
    await page.locator('#claim-form button[type=submit]').click();
    await page.locator('[data-testid=claim-live]').waitFor();
    await goOnline(d);
    await expect.poll(() => page.locator('[data-testid=claim-live]').getAttribute('data-state'), { timeout: 30_000, interval: 500 }).toBe('online');
  }, 60_000);

  it('hostile: a reused label, a label QR of another MAC, then wrong codes until the lockout, each said in words (also in Portuguese)', async () => {
    const page = camera!.page;
    await page.getByRole('button', { name: 'Claim another device' }).click();
    // The label claimed the board already: a claim secret works once.
    await scanField(page, label);
    await expect.poll(() => refusal(page).getAttribute('data-reason')).toBe('label-used');
    expect(await refusal(page).textContent()).toMatch(/This label was already used to claim the device/);
    // The same secret with another MAC (a label made for another board): not this MAC's secret.
    const secret = (parseClaimQr(label) as { claimSecret: string }).claimSecret;
    await scanField(page, labelQr('24:6f:28:c1:a1:02', secret));
    await expect.poll(() => refusal(page).getAttribute('data-reason')).toBe('wrong-secret');
    expect(await refusal(page).textContent()).toMatch(/does not match 24:6f:28:c1:a1:02.*tries? left/);
    // Keep guessing codes until the station's token is locked out.
    const guess = deviceQr('02:c1:e2:00:00:09', 'ZZZZZZZZ');
    let reason: string | null = null;
    for (let i = 0; i < 6 && reason !== 'locked-out'; i++) {
      await scanField(page, guess);
      await expect.poll(async () => (await refusal(page).count()) > 0).toBe(true);
      reason = await refusal(page).getAttribute('data-reason');
      expect(['wrong-code', 'not-asked', 'locked-out']).toContain(reason);
    }
    expect(reason).toBe('locked-out');
    expect(await refusal(page).textContent()).toMatch(/Too many wrong codes or claim secrets from this station: claiming is locked for 1[45] min more/);
    // The same in Portuguese.
    await invoke(station, 'settings.update', { language: 'pt-BR' });
    await page.locator('[data-screen="claim"]', { hasText: 'Ativar' }).waitFor();
    await scanField(page, guess);
    await expect.poll(() => refusal(page).textContent()).toMatch(/Códigos ou segredos errados demais vindos desta estação: a ativação está bloqueada por mais 1[45] min/);
    await invoke(station, 'settings.update', { language: 'en' });
  }, 90_000);
});
