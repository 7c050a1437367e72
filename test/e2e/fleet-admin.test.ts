import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { ApiClient } from '@tds/server';
import type { WebStation } from '../../src/main/web/web-station.js';
import { startBackend, type Backend } from '../support/backend.js';
import { tempDir } from '../support/temp.js';
import { expectAccessible } from './support/axe.js';
import { download, launchBrowser, screenshot, type TestBrowser } from './support/browser.js';
import { configureRemote, startTestStation } from './support/station.js';
import { fill, goTo, saveAndWait, settingsTab } from './support/ui.js';

// The admin console in the station, against the real server with its Mosquitto kit: shown only to
// admin tokens (the core asks the server which role its token has); the audit log with its filters,
// pages and the server's CSV export; accounts; API tokens (the secret shown once, with copy) and
// their revocation; the CRL's state and its publication to the broker, the broker kit's state. What
// the server refuses an account's admin (403) reads as words. English and Portuguese.
describe('E2E: the Admin screen (web mode, Chromium)', () => {
  const tmp = tempDir('tds-e2e-admin-');
  const shots = tempDir('tds-e2e-admin-shots-');
  let backend: Backend;
  let station: WebStation;
  let b: TestBrowser;
  let serverAdminToken: string;
  let auditorTokenId: number;
  const macs = ['02:ad:e2:00:00:01', '02:ad:e2:00:00:02'];

  const asServerAdmin = (): ApiClient => new ApiClient({ baseUrl: backend.server.apiUrl, caPem: backend.server.caPem, token: serverAdminToken });

  /** Settings → Server with another token for the same server, as an admin would paste it. */
  async function useToken(page: Page, token: string): Promise<void> {
    await settingsTab(page, 'server');
    await fill(page, '#server-form', { token });
    await saveAndWait(page, 'server-form');
  }

  async function adminTab(page: Page, tab: 'audit' | 'accounts' | 'tokens' | 'server'): Promise<void> {
    await goTo(page, 'admin');
    await page.click(`#admin-tab-${tab}`);
  }

  beforeAll(async () => {
    backend = await startBackend({ broker: 'mosquitto' });
    const made = JSON.parse((await backend.server.cli(['token', 'create', '--account', String(backend.server.contaId), '--role', 'admin', '--server-admin', '--label', 'console', '--json'])).stdout) as { token: string };
    serverAdminToken = made.token;
    // Events to read: two gateways, one revoked, and 55 refusals (an auditor may not provision).
    const op = backend.server.client('operator');
    for (const [i, mac] of macs.entries()) await op.provision({ mac_address: mac, codigo: `ADM-${i + 1}`, nome: `admin e2e ${i + 1}`, conta_id: backend.server.contaId });
    await op.revoke((await op.listGateways({ mac: macs[1] })).results[0]!.id, 'keyCompromise');
    op.close();
    const auditor = backend.server.client('auditor');
    auditorTokenId = (await auditor.whoami()).token_id;
    for (let i = 0; i < 55; i++) {
      await auditor.provision({ mac_address: `02:ad:e2:00:01:${String(i).padStart(2, '0')}`, codigo: `X${i}`, nome: 'refused', conta_id: backend.server.contaId }).catch(() => undefined);
    }
    auditor.close();
    station = await startTestStation({ dataDir: tmp.path });
    b = await launchBrowser();
    await b.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(station.url).origin });
    await b.page.goto(station.url);
    await configureRemote(b.page, backend);
  }, 180_000);

  afterAll(async () => {
    await b?.close();
    await station?.close();
    await backend?.stop();
    tmp.remove();
    shots.remove();
  });

  it('is shown only to an admin token: the core asks the server which role the station’s token has', async () => {
    const { page } = b;
    // The operator token of configureRemote: no Admin screen (five screens and Claim), and #admin leads to the Bench.
    await goTo(page, 'gateways');
    expect(await page.locator('nav [data-screen]').count()).toBe(6);
    await page.evaluate(() => (location.hash = '#admin'));
    await page.locator('[data-screen="bench"][aria-current="page"]').waitFor();
    await useToken(page, serverAdminToken);
    await page.locator('nav [data-screen="admin"]').waitFor({ timeout: 10_000 });
    expect(await page.locator('nav [data-screen="admin"]').getAttribute('aria-keyshortcuts')).toBe('Alt+7');
    await goTo(page, 'admin');
    expect(await page.locator('#admin-title + p').textContent()).toContain('This token administers the whole server (every account).');
  });

  it('audit log: filters by time, who, what, gateway and result; pages; the server’s CSV export', async () => {
    const { page } = b;
    await adminTab(page, 'audit');
    const rows = page.locator('[data-testid=audit-table] tbody tr');
    await expect.poll(() => rows.count()).toBe(50);
    await screenshot(page, 'admin', shots.path);
    // Refused only: 55 of them, two pages.
    await page.selectOption('#audit-filters [data-field=result]', 'denied');
    await page.click('#audit-filters button[type=submit]');
    await expect.poll(() => page.locator('[data-testid=audit-count]').textContent()).toBe('55 events');
    expect(await page.locator('[data-testid=audit-page]').textContent()).toBe('Page 1 of 2');
    expect(await rows.evaluateAll((rs) => rs.every((r) => r.getAttribute('data-result') === 'denied'))).toBe(true);
    expect(await rows.first().locator('td:nth-child(3)').textContent()).toBe('Provisioning refused');
    expect(await rows.first().locator('td:nth-child(2)').textContent()).toBe(`Token ${auditorTokenId} · test auditor`);
    expect(await rows.first().locator('td:nth-child(5)').textContent()).toBe('Refused');
    await page.getByRole('button', { name: 'Next page' }).click();
    await expect.poll(() => page.locator('[data-testid=audit-page]').textContent()).toBe('Page 2 of 2');
    await expect.poll(() => rows.count()).toBe(5);

    // The CSV is the server's export of the same filter: 55 rows, every one refused.
    const file = await download(page, () => page.click('[data-testid=audit-export]'), b.downloads);
    const csv = readFileSync(file, 'utf8').trim().split('\n');
    expect(csv[0]).toBe('id,at,conta_id,actor,action,object,source_ip,result,detail');
    expect(csv).toHaveLength(56);
    expect(csv.slice(1).every((l) => l.includes(',provision.denied,') && l.includes(',denied,'))).toBe(true);
    await page.locator('#audit-filters [role=status]', { hasText: '55 events exported.' }).waitFor();

    // Who and what, on one gateway (by its code): its provisioning and its revocation.
    await page.selectOption('#audit-filters [data-field=result]', '');
    await page.selectOption('#audit-filters [data-field=action]', 'certificate.revoke');
    await page.fill('#audit-filters [data-field=gatewayCode]', 'ADM-2');
    await page.click('#audit-filters button[type=submit]');
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().locator('td:nth-child(3)').textContent()).toBe('Certificate revoked');
    expect(await rows.first().locator('td:nth-child(6)').textContent()).toContain('keyCompromise');
    // A gateway code the account does not have, and dates the wrong way round: said under the field.
    await page.fill('#audit-filters [data-field=gatewayCode]', 'NOPE-1');
    await page.click('#audit-filters button[type=submit]');
    await page.locator('#audit-filters .field__error', { hasText: 'No gateway has this code in this account.' }).waitFor();
    await page.fill('#audit-filters [data-field=gatewayCode]', '');
    // Dates are typed in the UI language's order (English: month/day/year).
    await page.fill('#audit-filters [data-field=from]', '12/05/2026');
    await page.fill('#audit-filters [data-field=to]', '12/01/2026');
    await page.click('#audit-filters button[type=submit]');
    await page.locator('#audit-filters .field__error', { hasText: 'The start date is after the end date.' }).waitFor();
    await expect.poll(() => page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.field)).toBe('to');
    // Today only, by the server admin's own token (its whoami is not audited; switching tokens is not either).
    const today = new Date();
    const day = `${String(today.getMonth() + 1).padStart(2, '0')}/${String(today.getDate()).padStart(2, '0')}/${today.getFullYear()}`;
    await page.fill('#audit-filters [data-field=from]', day);
    await page.fill('#audit-filters [data-field=to]', day);
    await page.selectOption('#audit-filters [data-field=action]', '');
    await page.selectOption('#audit-filters [data-field=who]', `token:${auditorTokenId}`);
    await page.click('#audit-filters button[type=submit]');
    await expect.poll(() => page.locator('[data-testid=audit-count]').textContent()).toBe('55 events');
  });

  it('accounts: listed, created and renamed by a server admin; a name the server would refuse is refused in place', async () => {
    const { page } = b;
    await adminTab(page, 'accounts');
    await page.locator('[data-testid=accounts-table]').waitFor();
    await page.getByRole('button', { name: 'New account…' }).click();
    const dialog = page.locator('dialog[open]');
    await expect.poll(() => page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.field)).toBe('name');
    await dialog.locator('[data-field=name]').fill('Filial \u202eSul');
    await dialog.getByRole('button', { name: 'Create account' }).click();
    await dialog.locator('.field__error', { hasText: 'Use 1 to 100 printable characters' }).waitFor();
    await dialog.locator('[data-field=name]').fill('Filial Sul');
    await dialog.getByRole('button', { name: 'Create account' }).click();
    await page.locator('[role=status]', { hasText: 'Account Filial Sul created.' }).waitFor();
    const c = asServerAdmin();
    const created = (await c.listAccounts()).find((a) => a.name === 'Filial Sul')!;
    expect(created).toBeDefined();
    await page.getByRole('button', { name: 'Rename account Filial Sul' }).click();
    await page.locator('dialog[open] [data-field=name]').fill('Filial Sul 2');
    await page.locator('dialog[open]').getByRole('button', { name: 'Rename', exact: true }).click();
    await page.locator('[role=status]', { hasText: 'Account renamed to Filial Sul 2.' }).waitFor();
    // Focus back on the row's button that opened the dialog (it carries the account's new name now).
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toMatch(/^Rename account Filial Sul/);
    expect((await c.listAccounts()).find((a) => a.id === created.id)?.name).toBe('Filial Sul 2');
    c.close();
  });

  it('API tokens: made with a role, the secret shown once with a copy button; revoked after an in-app question', async () => {
    const { page } = b;
    await adminTab(page, 'tokens');
    await page.locator('[data-testid=tokens-table]').waitFor();
    await page.getByRole('button', { name: 'New token…' }).click();
    // The options are the roles' names; what the chosen role may do is the field's description.
    const role = page.locator('dialog[open] [data-field=role]');
    await page.selectOption('dialog[open] [data-field=role]', 'auditor');
    const description = async (): Promise<string> => {
      const ids = ((await role.getAttribute('aria-describedby')) ?? '').split(' ').filter(Boolean);
      return (await Promise.all(ids.map((id) => page.locator(`[id="${id}"]`).textContent()))).join(' ');
    };
    await expect.poll(description).toContain('reads gateways and the audit log');
    await page.selectOption('dialog[open] [data-field=role]', 'operator');
    await expect.poll(description).toContain('provisions, renews and revokes gateways');
    expect(await role.locator('option').allTextContents()).not.toContainEqual(expect.stringContaining(':'));
    await page.fill('dialog[open] [data-field=label]', 'bench 2');
    await page.locator('dialog[open]').getByRole('button', { name: 'Create token' }).click();
    const secretDialog = page.locator('dialog[open]', { hasText: 'You will not see it again' });
    await secretDialog.waitFor();
    const secret = (await secretDialog.locator('[data-testid=token-secret]').textContent())!;
    expect(secret).toMatch(/^tds_[A-Za-z0-9_-]{40,}$/);
    // Focus on Copy; the clipboard then holds the secret.
    await expect.poll(() => page.evaluate(() => document.activeElement?.textContent)).toBe('Copy');
    await page.keyboard.press('Enter');
    await secretDialog.locator('[role=status]', { hasText: 'Copied.' }).waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
    await secretDialog.getByRole('button', { name: 'I have copied it' }).click();
    expect(await page.content()).not.toContain(secret);
    // The token works, with the role asked for; the list never shows a secret.
    const made = new ApiClient({ baseUrl: backend.server.apiUrl, caPem: backend.server.caPem, token: secret });
    const who = await made.whoami();
    expect(who).toMatchObject({ role: 'operator', conta_id: backend.server.contaId, server_admin: false });
    const row = page.locator(`[data-testid=tokens-table] tr[data-token="${who.token_id}"]`);
    await row.waitFor();
    expect(await row.textContent()).toContain('bench 2');

    const revoke = page.getByRole('button', { name: `Revoke token ${who.token_id} (bench 2)` });
    await revoke.click();
    const ask = page.locator('dialog[open]', { hasText: 'is refused from now on' });
    await expect.poll(() => page.evaluate(() => document.activeElement?.textContent)).toBe('Cancel');
    await ask.locator('[data-testid=confirm-ok]').click();
    await page.locator('[role=status]', { hasText: `Token ${who.token_id} revoked.` }).waitFor();
    await expect(made.whoami()).rejects.toMatchObject({ status: 401 });
    made.close();
    await expect.poll(() => row.textContent()).toMatch(/Revoked /);
  });

  it('CRL and brokers: the list’s number and validity, its last publication to Mosquitto, the broker kit', async () => {
    const { page } = b;
    await adminTab(page, 'server');
    const crl = page.locator('[data-testid=crl-state]');
    const c = asServerAdmin();
    const state = await c.crlState();
    await expect.poll(() => crl.locator('[data-testid=crl-number]').textContent()).toBe(String(state.crl_number));
    expect(await crl.getAttribute('data-urgency')).toBe('ok');
    expect(await crl.locator('[data-testid=crl-warning]').count()).toBe(0);
    const published = state.publications!.mosquitto!;
    expect(await crl.locator('[data-broker=mosquitto]').textContent()).toMatch(new RegExp(`^list ${published.crl_number} published `));
    expect(await crl.locator('[data-broker=embedded]').textContent()).toBe('never published');
    const broker = page.locator('[data-testid=broker-state]');
    expect(await broker.locator('[data-testid=kit-configured]').textContent()).toBe('Set up');
    expect(await broker.locator('[data-testid=mqtt-client]').textContent()).toBe('connected');
    const host = (await c.brokerState()).mosquitto.host;
    await expect.poll(() => broker.textContent()).toContain(`${host}:`);
    c.close();
  });

  it('an account’s admin (not a server admin): what the server refuses reads as words', async () => {
    const { page } = b;
    await useToken(page, backend.server.tokens.admin);
    await adminTab(page, 'server');
    await page.locator('[data-testid=admin-forbidden]', { hasText: 'Only a server admin token sees the brokers’ state.' }).waitFor();
    await expect.poll(() => page.locator('[data-testid=crl-state]').textContent()).toContain('Only a server admin token sees the publications.');
    await adminTab(page, 'accounts');
    await page.locator('[data-testid=accounts-table]').waitFor();
    expect(await page.getByRole('button', { name: 'New account…' }).count()).toBe(0);
    expect(await page.getByText('Only a server admin token creates accounts.').isVisible()).toBe(true);
    expect(await page.locator('[data-testid=accounts-table] tbody tr').count()).toBe(1);
  });

  it('in Portuguese, with no serious accessibility violation on any tab in either language', async () => {
    const { page } = b;
    await useToken(page, serverAdminToken);
    for (const lang of ['pt-BR', 'en'] as const) {
      await settingsTab(page, 'general');
      await page.selectOption('#general-form [data-field=language]', lang);
      await saveAndWait(page, 'general-form');
      await goTo(page, 'admin');
      for (const tab of ['audit', 'accounts', 'tokens', 'server'] as const) {
        await page.click(`#admin-tab-${tab}`);
        await page.locator(`#admin-panel-${tab} .table, #admin-panel-${tab} .card`).first().waitFor();
        await expectAccessible(page, `${lang} ${tab}`);
      }
      if (lang === 'pt-BR') {
        expect(await page.locator('nav [data-screen="admin"]').textContent()).toBe('Administração');
        expect(await page.locator('#admin-tab-server').textContent()).toBe('LCR e brokers');
        await page.click('#admin-tab-audit');
        // The account admin's refused look at the brokers is in the log too: the auditor's refusals only.
        await page.selectOption('#audit-filters [data-field=result]', 'denied');
        await page.selectOption('#audit-filters [data-field=who]', `token:${auditorTokenId}`);
        await page.click('#audit-filters button[type=submit]');
        await expect.poll(() => page.locator('[data-testid=audit-count]').textContent()).toBe('55 eventos');
        expect(await page.locator('#audit-filters [data-field=who] option:checked').textContent()).toBe(`Token ${auditorTokenId} · test auditor`);
        const first = page.locator('[data-testid=audit-table] tbody tr').first();
        expect(await first.locator('td:nth-child(3)').textContent()).toBe('Provisionamento recusado');
        expect(await first.locator('td:nth-child(5)').textContent()).toBe('Recusado');
        expect(await first.locator('td:nth-child(1)').textContent()).toMatch(/^\d{2}\/\d{2}\/\d{4}, \d{2}:\d{2}:\d{2}$/);
        await page.click('#admin-tab-tokens');
        await page.getByRole('button', { name: 'Novo token…' }).click();
        await expectAccessible(page, 'pt-BR new token dialog', 'dialog[open]');
        await page.keyboard.press('Escape');
        await expect.poll(() => page.evaluate(() => document.activeElement?.textContent)).toBe('Novo token…');
      }
    }
  });
});
