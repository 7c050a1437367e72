import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';
import { expect } from 'vitest';

/**
 * The accessibility scan every screen gets: axe-core (Deque's engine, as axe DevTools and Lighthouse
 * run it) inside the page, WCAG 2.x A and AA rules. Evaluated through the debugging protocol, so the
 * station's Content-Security-Policy (no inline scripts) needs no exception.
 */

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeFinding {
  id: string;
  impact: string;
  help: string;
  nodes: { target: string; html: string; summary: string }[];
}

/** Serious and critical violations on the page as it is now (`include`: a CSS selector to scan only part of it). */
export async function axeScan(page: Page, include?: string): Promise<AxeFinding[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(AXE_SOURCE);
  const results = await page.evaluate(async (selector) => {
    type Node = { target: unknown[]; html: string; failureSummary?: string };
    type Result = { id: string; impact: string | null; help: string; nodes: Node[] };
    const axe = (window as unknown as { axe: { run(ctx: unknown, opts: unknown): Promise<{ violations: Result[] }> } }).axe;
    const r = await axe.run(selector ? { include: [selector] } : document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] },
      resultTypes: ['violations'],
    });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact ?? 'unknown',
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target.map(String).join(' '), html: n.html.slice(0, 200), summary: (n.failureSummary ?? '').slice(0, 300) })),
    }));
  }, include ?? null);
  return results.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** Fails with every serious/critical finding spelled out (rule, element, why). */
export async function expectAccessible(page: Page, where: string, include?: string): Promise<void> {
  const found = await axeScan(page, include);
  const text = found.map((v) => `${v.id} (${v.impact}): ${v.help}\n${v.nodes.map((n) => `  ${n.target}\n    ${n.html}\n    ${n.summary.replace(/\n/g, ' ')}`).join('\n')}`).join('\n');
  expect(text, `accessibility scan of ${where}`).toBe('');
}
