import type { Locator, Page } from 'playwright-core';
import { expect } from 'vitest';

/** Field by its form name (every input carries data-field). */
export function field(page: Page, name: string, scope = 'body') {
  return page.locator(`${scope} [data-field="${name}"]`);
}

export async function fill(page: Page, scope: string, values: Record<string, string>): Promise<void> {
  for (const [name, value] of Object.entries(values)) await field(page, name, scope).fill(value);
}

/** Goes to a screen with the keyboard shortcut (Alt+1..7; Admin only for an admin token), as a keyboard user would. */
export async function goTo(page: Page, screen: 'bench' | 'field' | 'gateways' | 'log' | 'settings' | 'claim' | 'admin'): Promise<void> {
  const n = ['bench', 'field', 'gateways', 'log', 'settings', 'claim', 'admin'].indexOf(screen) + 1;
  await page.keyboard.press(`Alt+${n}`);
  await page.locator(`[data-screen="${screen}"][aria-current="page"]`).waitFor();
}

export async function settingsTab(page: Page, tab: 'general' | 'server' | 'broker' | 'profiles' | 'backup'): Promise<void> {
  await goTo(page, 'settings');
  await page.click(`#tab-${tab}`);
}

/** The error text shown under a field (role=alert), or null. */
export async function fieldError(page: Page, scope: string, name: string): Promise<string | null> {
  const input = field(page, name, scope);
  const describedBy = await input.getAttribute('aria-describedby');
  const errId = describedBy?.split(' ').find((id) => id.endsWith('-err'));
  if (!errId) return null;
  return page.locator(`[id="${errId}"]`).textContent();
}

export async function expectFieldError(page: Page, scope: string, name: string, pattern: RegExp): Promise<void> {
  await expect.poll(() => fieldError(page, scope, name), { timeout: 5000 }).toMatch(pattern);
  expect(await field(page, name, scope).getAttribute('aria-invalid')).toBe('true');
}

export async function saveAndWait(page: Page, formId: string): Promise<void> {
  await page.click(`#${formId} button[type=submit]`);
  await page.locator(`#${formId} [role=status]`, { hasText: /Saved|Salvo/ }).first().waitFor({ timeout: 15_000 });
}

/**
 * A board card's button by its visible words: its accessible name also names the slot
 * ("Provision — Slot 2"), so screen-reader users know which board it acts on.
 */
export function cardButton(card: Locator, words: string): Locator {
  return card.getByRole('button', { name: new RegExp(`^${words.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}( —|$)`) });
}
