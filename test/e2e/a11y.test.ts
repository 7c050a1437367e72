import { userInfo } from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebStation } from '../../src/main/web/web-station.js';
import { startEsp32Sim, type Esp32Sim } from '../sim/esp32/launch.js';
import { freePort } from '../support/ports.js';
import { makeSshKeyPair, startSshd, type RunningSshd } from '../support/sshd.js';
import { tempDir } from '../support/temp.js';
import { expectAccessible } from './support/axe.js';
import { launchBrowser, type TestBrowser } from './support/browser.js';
import { BUNDLE_DIR, invoke, startTestStation } from './support/station.js';
import { fill, goTo } from './support/ui.js';

/**
 * Every screen, in English and in Portuguese, through axe-core (no serious or critical WCAG 2.x A/AA
 * violation) at the smallest layout the station supports, 1024×700: the header on one row, no
 * sideways scroll. A screen's further states (a dialog, a question, a form with errors) are rows of
 * STATES: add yours there. The station runs its bundled server, whose server-admin token gives it the
 * Admin screen: the header carries all seven screens in every state.
 */

interface State {
  name: string;
  /** Brings the page into the state (from any screen). */
  open: (page: Page) => Promise<void>;
  /** Only part of the page to scan (default: all of it). */
  include?: string;
  /** Puts the page back (close a dialog). */
  close?: (page: Page) => Promise<void>;
}

const screen = (s: 'bench' | 'field' | 'gateways' | 'log' | 'settings' | 'claim' | 'admin') => async (page: Page) => {
  await goTo(page, s);
  await page.locator('main .screen').first().waitFor();
  // Lazy screens load their data on arrival: wait until nothing says "Loading…".
  await page.waitForFunction(() => !document.querySelector('main')?.textContent?.match(/Loading…|Carregando…/));
};

const settingsTab = (tab: 'general' | 'server' | 'broker' | 'profiles' | 'backup') => async (page: Page) => {
  await screen('settings')(page);
  await page.click(`#tab-${tab}`);
};

const adminTab = (tab: 'audit' | 'accounts' | 'tokens' | 'server') => async (page: Page) => {
  await screen('admin')(page);
  await page.click(`#admin-tab-${tab}`);
  await page.locator(`#admin-panel-${tab} .table, #admin-panel-${tab} .card`).first().waitFor();
  await page.waitForFunction(() => !document.querySelector('main')?.textContent?.match(/Loading…|Carregando…/));
};

const firstCard = (page: Page) => page.locator('[data-testid=board-card]').first();
/** A card button by its visible words, in either language. */
const cardButton = (page: Page, en: string, pt: string) => firstCard(page).getByRole('button', { name: new RegExp(`^(${en}|${pt})( —|$)`) });
const closeDialog = async (page: Page) => {
  await page.keyboard.press('Escape');
  await page.locator('dialog[open]').waitFor({ state: 'detached' });
};

/** The "Pi" of the Field states: Debian's OpenSSH on loopback, logged in to with a key file. */
const pi = { port: 0, user: '', keyFile: '' };
const piRow = (page: Page) => page.locator('[data-testid=pi-target]').first();
/** Opens the sign-in dialog of the Pi's Check (its second button), filled in. */
const openCheck = async (page: Page) => {
  await screen('field')(page);
  await piRow(page).locator('.actions button').nth(1).click();
  await page.locator('dialog[open] #creds-form').waitFor();
  await fill(page, 'dialog[open]', { username: pi.user });
  await page.selectOption('dialog[open] [data-field="auth.method"]', 'keyFile');
  await fill(page, 'dialog[open]', { 'auth.path': pi.keyFile });
};
/** Starts a check of the Pi and waits for its host-key question (the key is not pinned). */
const hostKeyQuestion = async (page: Page) => {
  await openCheck(page);
  await page.click('dialog[open] #creds-form button[type=submit]');
  await page.locator('dialog[open]').waitFor({ state: 'detached' });
  await page.locator('[data-testid=pi-job][data-state=waiting-input] [data-question-kind=host-key]').waitFor({ timeout: 30_000 });
};
const piJobEnded = (page: Page, state: string) => page.locator(`[data-testid=pi-job][data-state=${state}]`).first().waitFor({ timeout: 60_000 });

export const STATES: State[] = [
  { name: 'Bench', open: screen('bench') },
  {
    name: 'Bench, options and a board’s details',
    open: async (page) => {
      await screen('bench')(page);
      await page.getByRole('button', { name: /^(Options|Opções)$/ }).click();
      await cardButton(page, 'Details', 'Detalhes').click();
      await firstCard(page).getByTestId('board-details').waitFor();
    },
    close: async (page) => {
      await page.getByRole('button', { name: /^(Options|Opções)$/ }).click();
      await cardButton(page, 'Hide details', 'Ocultar detalhes').click();
    },
  },
  {
    name: 'Bench, naming a slot',
    open: async (page) => {
      await screen('bench')(page);
      await cardButton(page, 'Name slot|Rename slot', 'Nomear posição|Renomear posição').click();
      await page.locator('.slot-name').waitFor();
    },
    close: async (page) => {
      await page.locator('.slot-name').getByRole('button', { name: /^(Cancel|Cancelar)$/ }).click();
    },
  },
  {
    name: 'Bench, serial console panel',
    open: async (page) => {
      await screen('bench')(page);
      await cardButton(page, 'Console', 'Console').click();
      await page.locator('dialog[open] [data-testid=console]').waitFor();
    },
    close: closeDialog,
  },
  {
    name: 'Bench, label dialog',
    open: async (page) => {
      await screen('bench')(page);
      await cardButton(page, 'Label', 'Etiqueta').click();
      await page.locator('dialog[open] img.label-preview').waitFor();
    },
    close: closeDialog,
  },
  {
    name: 'Bench, boards asking whether to replace (one answer for all)',
    open: async (page) => {
      await screen('bench')(page);
      for (const card of await page.locator('[data-testid=board-card]').all()) {
        await card.getByRole('button', { name: /^(Provision again|Provisionar de novo|Provision|Provisionar)( —|$)/ }).click();
      }
      await page.getByTestId('bulk-answer').waitFor({ timeout: 60_000 });
    },
    close: async (page) => {
      await page.getByTestId('bulk-answer').getByRole('button', { name: /^(Replace all|Substituir todas)$/ }).click();
      await page.locator('[data-testid=board-card][data-state=succeeded]').nth(1).waitFor({ timeout: 120_000 });
    },
  },
  {
    name: 'Bench, a board that was stopped (skipped: already provisioned)',
    open: async (page) => {
      await screen('bench')(page);
      await cardButton(page, 'Provision again', 'Provisionar de novo').click();
      await firstCard(page).locator('[data-question-kind=reprovision]').getByRole('button', { name: /^(Stop|Parar)\b/ }).click();
      await page.locator('[data-testid=board-card][data-state=skipped]').waitFor({ timeout: 30_000 });
    },
    close: async (page) => {
      await cardButton(page, 'Provision again', 'Provisionar de novo').click();
      await firstCard(page).locator('[data-question-kind=reprovision]').getByRole('button', { name: /^(Replace|Substituir)\b/ }).click();
      await page.locator('[data-testid=board-card][data-state=succeeded]').nth(1).waitFor({ timeout: 120_000 });
    },
  },
  { name: 'Field', open: screen('field') },
  { name: 'Field, the sign-in dialog of a check', open: openCheck, close: closeDialog },
  {
    name: 'Field, the host-key question',
    open: hostKeyQuestion,
    close: async (page) => {
      await page.locator('[data-question-kind=host-key]').getByRole('button', { name: /^(Reject and stop|Recusar e parar)/ }).click();
      await piJobEnded(page, 'failed');
    },
  },
  {
    name: 'Field, a check’s findings',
    open: async (page) => {
      await hostKeyQuestion(page);
      await page.locator('[data-question-kind=host-key]').getByRole('button', { name: /^(Accept and continue|Aceitar e continuar)/ }).click();
      await page.locator('[data-testid=pi-job][data-state=succeeded] [data-testid=probe-facts]').waitFor({ timeout: 60_000 });
    },
    // The next language's run asks about the host key again.
    close: async (page) => {
      await page.getByRole('button', { name: /^(Forget the host key of|Esquecer a chave do host de)/ }).first().click();
      await page.locator('dialog[open][role=alertdialog] [data-testid=confirm-ok]').click();
      await page.getByTestId('field-notice').waitFor();
    },
  },
  { name: 'Gateways', open: screen('gateways') },
  {
    name: 'Gateways, a gateway’s details',
    open: async (page) => {
      await screen('gateways')(page);
      await page.locator('[data-testid=gw-table] tbody tr button.link').first().click();
      await page.getByTestId('gateway-detail').waitFor();
      await page.waitForFunction(() => !document.querySelector('main')?.textContent?.match(/Loading…|Carregando…/));
    },
  },
  { name: 'Log', open: screen('log') },
  {
    name: 'Log, filters refused (From after To)',
    open: async (page) => {
      await screen('log')(page);
      // 02/01 is after 01/01 in either order of day and month.
      await fill(page, '#log-filters', { q: 'a11y', from: '02/01/2026', to: '01/01/2026' });
      await page.click('#log-filters button[type=submit]');
      await page.locator('#log-filters [data-field=to][aria-invalid=true]').waitFor();
    },
    close: async (page) => {
      await page.locator('#log-filters button[type=button]').first().click();
    },
  },
  {
    name: 'Log, a job’s detail',
    open: async (page) => {
      await screen('log')(page);
      await page.locator('table button.link').first().click();
      await page.getByTestId('job-detail').waitFor();
    },
    close: async (page) => {
      await page.getByTestId('job-detail').locator('.detail__head button.btn').last().click();
    },
  },
  { name: 'Settings → Station', open: settingsTab('general') },
  { name: 'Settings → Server', open: settingsTab('server') },
  { name: 'Settings → Broker', open: settingsTab('broker') },
  { name: 'Settings → Profiles', open: settingsTab('profiles') },
  {
    name: 'Settings → Profiles, a profile being edited',
    open: async (page) => {
      await settingsTab('profiles')(page);
      await page.locator('[data-testid=profile-item]').first().getByRole('button', { name: /^(Edit|Editar)/ }).click();
      await page.locator('#profile-form').waitFor();
    },
    close: async (page) => {
      await page.locator('#profile-form').getByRole('button', { name: /^(Cancel|Cancelar)$/ }).click();
    },
  },
  {
    name: 'Settings → Profiles, delete confirmation',
    open: async (page) => {
      await settingsTab('profiles')(page);
      await page.locator('[data-testid=profile-item]').first().getByRole('button', { name: /Delete|Excluir/ }).click();
      await page.locator('dialog[open]').waitFor();
    },
    close: async (page) => {
      await page.locator('[data-testid=confirm-cancel]').click();
      await page.locator('dialog[open]').waitFor({ state: 'detached' });
    },
  },
  {
    name: 'Settings → Backup',
    open: async (page) => {
      await settingsTab('backup')(page);
      await page.locator('#backup-form').waitFor();
    },
  },
  {
    name: 'Claim',
    open: async (page) => {
      await screen('claim')(page);
      await page.getByTestId('claim-screen').waitFor();
    },
  },
  { name: 'Admin → Audit log', open: adminTab('audit') },
  { name: 'Admin → Accounts', open: adminTab('accounts') },
  { name: 'Admin → Tokens', open: adminTab('tokens') },
  {
    name: 'Admin → Tokens, a new token dialog',
    open: async (page) => {
      await adminTab('tokens')(page);
      await page.getByRole('button', { name: /^(New token…|Novo token…)$/ }).click();
      await page.locator('dialog[open]').waitFor();
    },
    close: closeDialog,
  },
  { name: 'Admin → CRL and brokers', open: adminTab('server') },
];

/** The page fits 1024×700: the top bar is one row, nothing scrolls sideways. */
async function expectLayoutFits(page: Page, where: string): Promise<void> {
  const m = await page.evaluate(() => {
    const bar = document.querySelector('.topbar');
    // One row: every item of the bar is centred on the same line (a wrapped item sits a row lower).
    const centres = Array.from(bar?.children ?? []).map((e) => e.getBoundingClientRect()).filter((r) => r.height > 0).map((r) => r.top + r.height / 2);
    // A dialog's title bar and buttons are in view without scrolling.
    const dialogButtons = Array.from(document.querySelectorAll('dialog[open] .dialog__head button, dialog[open] .dialog__foot button')).map((e) => e.getBoundingClientRect());
    // Every screen's name is whole and in view, left of the status (which gives way instead).
    const status = document.querySelector('.topbar .statusbar')?.getBoundingClientRect();
    const navItems = Array.from(document.querySelectorAll<HTMLElement>('.topbar .nav__item'));
    const cutNavItems = navItems
      .filter((e) => {
        const r = e.getBoundingClientRect();
        return r.left < 0 || r.right > window.innerWidth || (status !== undefined && status.width > 0 && r.right > status.left) || e.scrollWidth > e.clientWidth;
      })
      .map((e) => e.textContent);
    return {
      cutNavItems,
      dialogButtonsInView: dialogButtons.every((r) => r.top >= 0 && r.bottom <= window.innerHeight && r.left >= 0 && r.right <= window.innerWidth),
      oneRow: centres.length > 0 && Math.max(...centres) - Math.min(...centres) < 6,
      scrollWidth: document.documentElement.scrollWidth,
      width: document.documentElement.clientWidth,
    };
  });
  expect({ where, ...m }).toEqual({ where, cutNavItems: [], dialogButtonsInView: true, oneRow: true, scrollWidth: m.width, width: m.width });
}

describe('E2E: accessibility scan of every screen, English and Portuguese, at 1024×700 (axe-core, Chromium)', () => {
  const tmp = tempDir('tds-e2e-a11y-');
  const sims: Esp32Sim[] = [];
  let station: WebStation;
  let b: TestBrowser;
  let sshd: RunningSshd;

  beforeAll(async () => {
    sshd = await startSshd();
    const key = makeSshKeyPair(tmp.path, 'a11y');
    pi.port = sshd.port;
    pi.user = userInfo().username;
    pi.keyFile = key.privateKeyFile;
    sshd.authorize(pi.user, key.publicKey);
    for (const mac of ['24:6f:28:a1:10:01', '24:6f:28:a1:10:02']) sims.push(await startEsp32Sim({ mac, telemetryIntervalMs: 2000 }));
    station = await startTestStation({ dataDir: path.join(tmp.path, 'station'), bundledServer: true, caPassphrase: 'a11y scan CA passphrase', boards: sims });
    b = await launchBrowser();
    await b.page.setViewportSize({ width: 1024, height: 700 });
    b.page.setDefaultTimeout(20_000);
    await b.page.goto(station.url);
  }, 120_000);

  afterAll(async () => {
    await b?.close();
    await station?.close();
    await sshd?.stop();
    await Promise.all(sims.map((s) => s.stop()));
    tmp.remove();
  });

  it('the first-run wizard, in both languages', async () => {
    const { page } = b;
    await page.locator('#first-run-form').waitFor();
    await expectAccessible(page, 'first run (en)');
    await expectLayoutFitsWide(page, 'first run (en)');
    // The same page in a browser whose language is Portuguese.
    const pt = await launchBrowser({ locale: 'pt-BR' });
    try {
      await pt.page.setViewportSize({ width: 1024, height: 700 });
      await pt.page.goto(station.url);
      await pt.page.locator('#first-run-form', { hasText: 'Nome da conta' }).waitFor();
      await expectAccessible(pt.page, 'first run (pt-BR)');
    } finally {
      await pt.close();
    }
    // Set up the station for the screens.
    await page.fill('[data-field=accountName]', 'Acessível Ltda');
    await page.fill('[data-field=operator]', 'Rita');
    await page.fill('[data-field=deviceBrokerHost]', '127.0.0.1');
    await page.fill('[data-field=brokerPort]', String(await freePort()));
    await page.click('#first-run-form button[type=submit]');
    await page.getByRole('button', { name: 'Continue to the Bench' }).click({ timeout: 90_000 });
    const s = await invoke(station, 'settings.get');
    await invoke(station, 'profiles.save', {
      profile: {
        name: 'bench',
        accountId: s.server.accountId ?? 1,
        brokerHost: '127.0.0.1',
        brokerPort: s.broker.port,
        esp32: { bundlePath: BUNDLE_DIR, wifiSsid: 'a11y', wifiPassword: 'a11y-pass-123' },
        // The Field's checks need the profile's Pi settings (a check changes nothing on the Pi).
        pi: { installPrefix: path.join(tmp.path, 'pi-root'), serviceManager: 'none' },
      },
    });
    await invoke(station, 'settings.update', { activeProfile: 'bench' });
    // Boards that passed, so the cards have steps, labels and a console to show.
    const bench = await invoke(station, 'bench.state');
    await invoke(station, 'bench.provision', { deviceIds: bench.devices.map((d) => d.id), profile: 'bench' });
    await expect.poll(async () => (await invoke(station, 'jobs.list')).filter((j) => j.state === 'succeeded').length, { timeout: 180_000, interval: 1000 }).toBe(2);
    // A Pi for the Field's states.
    await invoke(station, 'field.addHost', { host: '127.0.0.1', port: pi.port, name: 'A11y Pi' });
  }, 300_000);

  it('buttons repeated on every board card carry their board in their accessible name', async () => {
    const { page } = b;
    await screen('bench')(page);
    const cards = await page.locator('[data-testid=board-card]').all();
    expect(cards.length).toBe(2);
    for (const card of cards) {
      const slot = (await card.getByTestId('slot-name').textContent()) ?? '';
      // The accessible name of each button (what a screen reader says), from the browser's accessibility tree.
      const names = await card.getByRole('button').evaluateAll((els) => els.map((e) => (e as HTMLElement).innerText.replace(/\s+/g, ' ').trim() + ' ' + (e.textContent ?? '')));
      expect(names.length).toBeGreaterThan(3);
      for (const n of names) expect(n, `a button of ${slot}`).toContain(slot);
    }
    // The same through Playwright's accessible-name matching: "Console — Slot 2" is one button only.
    expect(await page.getByRole('button', { name: /^Console — Slot 2$/ }).count()).toBe(1);
  });

  for (const lang of ['en', 'pt-BR'] as const) {
    it(`every screen and state (${lang})`, async () => {
      const { page } = b;
      await invoke(station, 'settings.update', { language: lang });
      await page.locator(`html[lang="${lang}"]`).waitFor();
      await page.locator('nav [data-screen="admin"]').waitFor({ timeout: 15_000 });
      expect(await page.locator('nav [data-screen]').count()).toBe(7);
      for (const st of STATES) {
        await st.open(page);
        await expectAccessible(page, `${st.name} (${lang})`, st.include);
        await expectLayoutFits(page, `${st.name} (${lang})`);
        await st.close?.(page);
      }
    }, 300_000);
  }
});

/** The wizard has no top bar: only the sideways scroll is checked. */
async function expectLayoutFitsWide(page: Page, where: string): Promise<void> {
  const m = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, width: document.documentElement.clientWidth }));
  expect({ where, ...m }).toEqual({ where, scrollWidth: m.width, width: m.width });
}
