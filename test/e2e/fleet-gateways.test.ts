import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { WebStation } from '../../src/main/web/web-station.js';
import { certSerial, provisionDevice, startAgent } from '../rpi-agent/support.js';
import { startBackend, type Backend } from '../support/backend.js';
import type { StartedProcess } from '../support/processes.js';
import { tempDir } from '../support/temp.js';
import { requireTool } from '../support/tools.js';
import { seriousViolations } from './support/axe-interim.js';
import { download, launchBrowser, screenshot, type TestBrowser } from './support/browser.js';
import { configureRemote, startTestStation } from './support/station.js';
import { goTo, saveAndWait, settingsTab } from './support/ui.js';

// The fleet over the years, in the Gateways screen: each certificate's expiry in words and the
// server's "expires within N days" filter, renewal with the same confirmations as revoke (the
// device asked over MQTT — the Pi agent, online or not yet — or a pending certificate handed over
// once, cancelled or confirmed), a revoked gateway shown as revoked with its reason in words, and
// each gateway's online history with its uptime. Real server, Mosquitto, the Pi agent as the
// device, the real core in web mode, Chromium; English and Portuguese.
const MAC = { agent: 'dc:a6:32:f1:00:01', offline: 'dc:a6:32:f1:00:02', revoked: 'dc:a6:32:f1:00:03', pending: 'dc:a6:32:f1:00:04' } as const;
const code = (mac: string): string => `GW-${mac.replace(/:/g, '')}`;
const norm = (s: string): string => s.replace(/:/g, '').toLowerCase().replace(/^0+/, '');

describe('E2E: gateways — expiry, renewal, revoked in words, online history (web mode, Chromium)', () => {
  const tmp = tempDir('tds-e2e-fleet-');
  const shots = tempDir('tds-e2e-fleet-shots-');
  let backend: Backend;
  let station: WebStation;
  let b: TestBrowser;
  let agent: StartedProcess | undefined;
  let agentConfig: string;
  const certsDir = (mac: string): string => path.join(tmp.path, 'certs', mac.replace(/:/g, ''));

  async function serverGateway(mac: string) {
    const client = backend.server.client('operator');
    try {
      const id = (await client.listGateways({ mac })).results[0]!.id;
      return await client.getGateway(id);
    } finally {
      client.close();
    }
  }

  async function openGateway(page: Page, mac: string): Promise<void> {
    await goTo(page, 'gateways');
    await page.getByRole('button', { name: /^(Refresh|Atualizar)$/ }).click();
    await page.locator(`tr[data-mac="${mac}"] button.link`).click();
    await page.locator('[data-testid=gateway-detail]', { hasText: code(mac) }).waitFor();
    // The detail takes the focus when it opens.
    await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('gw-detail-title');
  }

  /** Until the server sees the agent online (or offline); usable in hooks, where expect.poll is not. */
  const agentOnline = async (online: boolean): Promise<void> => {
    const deadline = Date.now() + 30_000;
    while ((await serverGateway(MAC.agent)).is_online !== online) {
      if (Date.now() > deadline) throw new Error(`the agent did not go ${online ? 'online' : 'offline'}:\n${agent?.output().slice(-2000) ?? ''}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };

  beforeAll(async () => {
    requireTool('mosquitto', 'mosquitto');
    requireTool('openssl', 'openssl');
    // Short-lived certificates: the renewal sweep's window (a fifth: 4 days) still leaves them alone.
    backend = await startBackend({ broker: 'mosquitto', server: { certValidityDays: 20 } });
    for (const mac of Object.values(MAC)) await provisionDevice(backend, certsDir(mac), mac);
    agentConfig = path.join(tmp.path, 'agent.json');
    writeFileSync(
      agentConfig,
      JSON.stringify({
        mqtt: { host: backend.broker.host, port: backend.broker.port, keepalive: 5, reconnect_min_s: 1, reconnect_max_s: 2 },
        paths: { certs_dir: certsDir(MAC.agent), state_dir: path.join(tmp.path, 'agent-state') },
        firmware_version: 'fleet-e2e-1',
        renewal: { renew_before_days: 0 },
      }),
    );
    agent = startAgent(agentConfig);
    await agentOnline(true);
    station = await startTestStation({ dataDir: tmp.path + '/station' });
    b = await launchBrowser();
    await b.page.goto(station.url);
    await configureRemote(b.page, backend);
  }, 180_000);

  afterAll(async () => {
    await b?.close();
    await station?.close();
    await agent?.stop();
    await backend?.stop();
    tmp.remove();
    shots.remove();
  });

  it('shows each certificate’s expiry in words and as a date, and filters "expires within N days" on the server', async () => {
    const { page } = b;
    await goTo(page, 'gateways');
    const rows = page.locator('[data-testid=gw-table] tbody tr');
    await expect.poll(() => rows.count(), { timeout: 15_000 }).toBe(4);
    // 20-day certificates: "in 19 days (12/24/2026)" — the largest unit that fits, then the date.
    for (const mac of Object.values(MAC)) {
      const expires = page.locator(`tr[data-mac="${mac}"] td:nth-child(6) time`);
      expect(await expires.textContent()).toMatch(/^in (19|20) days \(\d{1,2}\/\d{1,2}\/\d{2,4}\)$/);
      const at = (await serverGateway(mac)).active_certificate!.expires_at;
      expect(await expires.getAttribute('datetime')).toBe(at);
    }
    await expect.poll(() => page.locator(`tr[data-mac="${MAC.agent}"] [data-state]`).getAttribute('data-state'), { timeout: 20_000 }).toBe('online');
    expect(await page.locator(`tr[data-mac="${MAC.offline}"] [data-state]`).getAttribute('data-state')).toBe('offline');

    // The filter is the server's: none within 10 days, all four within 30.
    await page.fill('[data-field=expiresWithinDays]', '10');
    await page.keyboard.press('Enter');
    await page.getByText('No gateway has a certificate expiring within 10 days.').waitFor();
    await page.fill('[data-field=expiresWithinDays]', '30');
    await page.keyboard.press('Enter');
    await expect.poll(() => rows.count()).toBe(4);
    expect(await page.getByText('Showing gateways whose certificate expires within 30 days.').isVisible()).toBe(true);
    // Bad input is refused in place, with the range.
    await page.fill('[data-field=expiresWithinDays]', '0');
    await page.keyboard.press('Enter');
    await page.locator('#gw-filters .field__error', { hasText: 'Enter a whole number from 1 to 36500.' }).waitFor();
    await page.fill('[data-field=expiresWithinDays]', '');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('#gw-filters .field__error').count()).toBe(0);
  });

  it('revokes with a reason: the gateway reads as revoked and why, in the list and the detail, not as offline', async () => {
    const { page } = b;
    await openGateway(page, MAC.revoked);
    await page.getByRole('button', { name: 'Revoke certificate…' }).click();
    const dialog = page.locator('dialog[open]');
    // The dialog takes the focus (its first field), in-app, never the browser's confirm().
    await expect.poll(() => page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.field)).toBe('reason');
    await page.selectOption('dialog [data-field=reason]', 'keyCompromise');
    await dialog.getByRole('button', { name: 'Revoke', exact: true }).click();
    await page.locator('[data-testid=gateway-message]', { hasText: 'Certificate revoked' }).waitFor({ timeout: 15_000 });
    // The revoke button is gone: focus goes back to the detail's heading.
    await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('gw-detail-title');
    expect(await page.locator('[data-testid=gateway-state]').textContent()).toMatch(/^ Revoked on \d{1,2}\/\d{1,2}\/\d{2,4}: Key compromised$/);
    expect(await page.locator('[data-testid=gateway-state] [data-state]').getAttribute('data-state')).toBe('revoked');
    await page.getByRole('button', { name: 'Refresh', exact: true }).click();
    const row = page.locator(`tr[data-mac="${MAC.revoked}"]`);
    await expect.poll(() => row.locator('[data-state]').textContent()).toBe(' Revoked: Key compromised');
    expect(await row.getAttribute('data-online')).toBe('false');
    // The server agrees, and the expiry filter leaves a gateway without an active certificate out.
    expect((await serverGateway(MAC.revoked)).active_certificate).toBeNull();
    await page.fill('[data-field=expiresWithinDays]', '30');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('[data-testid=gw-table] tbody tr').count()).toBe(3);
    await page.fill('[data-field=expiresWithinDays]', '');
    await page.keyboard.press('Enter');
  });

  it('renews an online gateway by asking the device: it makes a new key, and the old certificate is revoked only after its ack', async () => {
    const { page } = b;
    const before = (await serverGateway(MAC.agent)).active_certificate!.serial_number;
    await openGateway(page, MAC.agent);
    await page.getByRole('button', { name: 'Renew certificate…' }).click();
    const dialog = page.locator('dialog[open]');
    // Focus on the first choice; "ask the device" is the default.
    await expect.poll(() => page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.value)).toBe('deliver');
    expect(await dialog.getByRole('radio', { name: /Ask the device for a new key now/ }).isChecked()).toBe(true);
    await dialog.getByRole('button', { name: 'Renew', exact: true }).click();
    await page.locator('[data-testid=gateway-message]', { hasText: 'The device was asked for a new key' }).waitFor({ timeout: 15_000 });
    // The agent renews itself: a new key, a certificate for it, reconnect, ack; then the old one is revoked.
    await expect.poll(async () => norm((await serverGateway(MAC.agent)).active_certificate?.serial_number ?? ''), { timeout: 45_000 }).not.toBe(norm(before));
    const after = await serverGateway(MAC.agent);
    expect(norm(certSerial(path.join(certsDir(MAC.agent), 'client.crt')))).toBe(norm(after.active_certificate!.serial_number));
    expect(after.certificados.find((c) => c.serial_number === before)?.status).toBe('revoked');
    await openGateway(page, MAC.agent);
    const old = page.locator(`[data-testid=gateway-certificates] tr[data-serial="${before}"]`);
    expect(await old.locator('td:last-child').textContent()).toMatch(/^revoked .+: Superseded \(its renewal was confirmed\)$/);
    expect(await page.locator('[data-testid=renewal-delivery]').count()).toBe(0);
    await agentOnline(true);
  }, 90_000);

  it('renews an offline gateway: the renewal waits for the device, and the detail says so', async () => {
    const { page } = b;
    await openGateway(page, MAC.offline);
    await page.getByRole('button', { name: 'Renew certificate…' }).click();
    await page.locator('dialog[open]').getByRole('button', { name: 'Renew', exact: true }).click();
    await page.locator('[data-testid=gateway-message]', { hasText: 'The gateway is offline: it will be asked when it next comes online.' }).waitFor({ timeout: 15_000 });
    const waiting = page.locator('[data-testid=renewal-delivery]');
    await waiting.waitFor();
    const d = (await serverGateway(MAC.offline)).renewal_delivery!;
    expect(d.attempts).toBe(0);
    expect(await waiting.textContent()).toContain(`Certificate ${d.pending_serial_number} replaces ${d.replaces_serial_number} once the device confirms it`);
    expect(await waiting.textContent()).toContain('The device has not been asked yet');
    // The pending certificate is listed as such, and no second renewal is offered meanwhile.
    expect(await page.locator(`tr[data-serial="${d.pending_serial_number}"] td:last-child`).textContent()).toMatch(/^pending: waits for confirmation/);
    expect(await page.getByRole('button', { name: 'Renew certificate…' }).count()).toBe(0);
    // The device confirms it itself: it can be cancelled here, not confirmed by hand.
    expect(await page.getByRole('button', { name: `Confirm certificate ${d.pending_serial_number}` }).count()).toBe(0);
    expect(await page.getByRole('button', { name: `Cancel certificate ${d.pending_serial_number}` }).count()).toBe(1);
  });

  it('makes a pending certificate handed over once as a ZIP; cancelled, then made again and confirmed', async () => {
    const { page } = b;
    const first = (await serverGateway(MAC.pending)).active_certificate!.serial_number;
    const renewPending = async (): Promise<{ serial: string; zip: string }> => {
      await page.getByRole('button', { name: 'Renew certificate…' }).click();
      const dialog = page.locator('dialog[open]');
      await dialog.getByRole('radio', { name: /Make a pending certificate/ }).check();
      const zip = await download(page, () => dialog.getByRole('button', { name: 'Renew', exact: true }).click(), b.downloads);
      await page.locator('[data-testid=gateway-message]', { hasText: 'A pending certificate was made' }).waitFor();
      const serial = (await serverGateway(MAC.pending)).certificados.find((c) => c.status === 'pending')!.serial_number;
      return { serial, zip };
    };
    await openGateway(page, MAC.pending);
    const one = await renewPending();
    // The ZIP: the pending certificate, its key (made by the server, returned once), the CA.
    const out = path.join(tmp.path, 'unzipped');
    mkdirSync(out);
    execFileSync('python3', ['-c', 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])', one.zip, out]);
    expect(norm(certSerial(path.join(out, 'client.crt')))).toBe(norm(one.serial));
    const pub = (args: string[]): string => execFileSync('openssl', args, { encoding: 'utf8' });
    expect(pub(['pkey', '-in', path.join(out, 'client.key'), '-pubout'])).toBe(pub(['x509', '-in', path.join(out, 'client.crt'), '-noout', '-pubkey']));
    expect(readFileSync(path.join(out, 'ca.crt'), 'utf8')).toBe(backend.server.caPem);
    // The current certificate stays active meanwhile.
    expect((await serverGateway(MAC.pending)).active_certificate!.serial_number).toBe(first);

    // Cancel: asks first (Cancel has the focus), then the pending one is revoked; the current one stays.
    const cancel = page.getByRole('button', { name: `Cancel certificate ${one.serial}` });
    await cancel.click();
    const ask = page.locator('dialog[open]');
    await expect.poll(() => page.evaluate(() => document.activeElement?.textContent)).toBe('Cancel');
    await ask.getByRole('button', { name: 'Cancel', exact: true }).click();
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe(`Cancel certificate ${one.serial}`);
    expect((await serverGateway(MAC.pending)).certificados.find((c) => c.serial_number === one.serial)?.status).toBe('pending');
    await cancel.click();
    await page.locator('dialog[open] .btn--danger').click();
    await page.locator('[data-testid=gateway-message]', { hasText: 'The pending certificate was cancelled.' }).waitFor();
    expect(await page.locator(`tr[data-serial="${one.serial}"] td:last-child`).textContent()).toMatch(/: Taken out of service \(the renewal was cancelled\)$/);

    // Made again and confirmed: it becomes active, the first one is revoked (superseded).
    const two = await renewPending();
    await page.getByRole('button', { name: `Confirm certificate ${two.serial}` }).click();
    await page.locator('dialog[open]').getByRole('button', { name: 'Confirm', exact: true }).click();
    await page.locator('[data-testid=gateway-message]', { hasText: 'The new certificate is active; the previous one is revoked.' }).waitFor();
    const g = await serverGateway(MAC.pending);
    expect(g.active_certificate!.serial_number).toBe(two.serial);
    expect(g.certificados.find((c) => c.serial_number === first)).toMatchObject({ status: 'revoked', revoke_reason: 'superseded: successor confirmed' });
    expect(await page.locator(`tr[data-serial="${first}"] td:last-child`).textContent()).toMatch(/: Superseded \(its renewal was confirmed\)$/);
  });

  it('shows each gateway’s online history: a timeline, the uptime, the latest changes', async () => {
    const { page } = b;
    // The device goes away and comes back: two more transitions on the server.
    await agent!.stop();
    await agentOnline(false);
    // The server keeps whole seconds: away long enough to be a stretch of its own.
    await new Promise((r) => setTimeout(r, 2500));
    agent = startAgent(agentConfig);
    await agentOnline(true);
    await openGateway(page, MAC.agent);
    const panel = page.locator('[data-testid=gateway-presence]');
    const changes = panel.locator('[data-testid=presence-changes] li');
    await expect.poll(() => changes.count(), { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
    expect(await changes.nth(0).textContent()).toMatch(/ — Came online$/);
    expect(await changes.nth(1).textContent()).toMatch(/ — Went offline$/);
    // A minute or two online in a 7-day window (the time before the history counts as offline): a small share, not 0.
    const uptimeText = (await panel.locator('[data-testid=presence-uptime]').textContent()) ?? '';
    const uptime = /^Online ([\d.]+)% of the time \((\d+) (s|min) in the last 7 days\)$/.exec(uptimeText);
    expect(uptime, uptimeText).not.toBeNull();
    expect(Number(uptime![1])).toBeGreaterThan(0);
    expect(Number(uptime![1])).toBeLessThan(1);
    const bar = panel.locator('svg[role=img]');
    expect(await bar.getAttribute('aria-label')).toMatch(/^Online and offline from .+ to .+: online [\d.]+%$/);
    // Unknown before the history began, then online, offline, online again.
    const states = await bar.locator('rect').evaluateAll((rs) => rs.map((r) => r.getAttribute('data-online')));
    expect(states.slice(-3)).toEqual(['true', 'false', 'true']);
    await screenshot(page, 'gateway-detail', shots.path, { fullPage: true });
    await page.selectOption('[data-field=presenceWindow]', '1');
    await expect.poll(() => panel.locator('[data-testid=presence-uptime]').textContent()).toMatch(/ in the last 24 hours\)$/);
  }, 90_000);

  it('in Portuguese: states, expiry, reasons, renewal and history in words and in the locale', async () => {
    const { page } = b;
    await settingsTab(page, 'general');
    await page.selectOption('#general-form [data-field=language]', 'pt-BR');
    await saveAndWait(page, 'general-form');
    await goTo(page, 'gateways');
    await expect.poll(() => page.locator(`tr[data-mac="${MAC.revoked}"] [data-state]`).textContent()).toBe(' Revogado: Chave comprometida');
    expect(await page.locator(`tr[data-mac="${MAC.pending}"] td:nth-child(6) time`).textContent()).toMatch(/^em (19|20) dias \(\d{2}\/\d{2}\/\d{4}\)$/);
    await page.fill('[data-field=expiresWithinDays]', '10');
    await page.keyboard.press('Enter');
    await page.getByText('Nenhum gateway tem certificado expirando em até 10 dias.').waitFor();
    await page.fill('[data-field=expiresWithinDays]', '');
    await page.keyboard.press('Enter');
    await openGateway(page, MAC.revoked);
    expect(await page.locator('[data-testid=gateway-state]').textContent()).toMatch(/^ Revogado em \d{2}\/\d{2}\/\d{4}: Chave comprometida$/);
    await openGateway(page, MAC.offline);
    expect(await page.locator('[data-testid=renewal-delivery]').textContent()).toContain('Uma renovação aguarda o dispositivo');
    await openGateway(page, MAC.pending);
    expect(await page.locator('[data-testid=gateway-certificates]').textContent()).toContain('Retirado de operação (a renovação foi cancelada)');
    await page.getByRole('button', { name: 'Renovar certificado…' }).click();
    const dialog = page.locator('dialog[open]');
    expect(await dialog.getByRole('radio', { name: /Pedir agora uma nova chave ao dispositivo/ }).isChecked()).toBe(true);
    await dialog.getByRole('button', { name: 'Cancelar', exact: true }).click();
    await expect.poll(() => page.evaluate(() => document.activeElement?.textContent)).toBe('Renovar certificado…');
    await openGateway(page, MAC.agent);
    const uptime = await page.locator('[data-testid=presence-uptime]').textContent();
    expect(uptime).toMatch(/^Online [\d,]+\s?% do tempo \(\d+ (s|min) nos últimos 7 dias\)$/);
    expect(await page.locator('[data-testid=presence-changes] li').first().textContent()).toMatch(/^\d{2}\/\d{2}\/\d{4}.* — Ficou online$/);
  });

  it('has no serious accessibility violations on the list, the detail and the renewal dialog, in both languages', async () => {
    const { page } = b;
    for (const lang of ['pt-BR', 'en'] as const) {
      await settingsTab(page, 'general');
      await page.selectOption('#general-form [data-field=language]', lang);
      await saveAndWait(page, 'general-form');
      await goTo(page, 'gateways');
      await page.locator('[data-testid=gw-table]').waitFor();
      expect(await seriousViolations(page), `${lang} list`).toEqual([]);
      await openGateway(page, MAC.pending);
      await page.locator('[data-testid=presence-uptime]').waitFor();
      expect(await seriousViolations(page), `${lang} detail`).toEqual([]);
      await page.locator('[data-testid=gateway-detail] .actions .btn').nth(1).click();
      await page.locator('dialog[open]').waitFor();
      expect(await seriousViolations(page, 'dialog[open]'), `${lang} renewal dialog`).toEqual([]);
      await page.keyboard.press('Escape');
    }
  });
});
