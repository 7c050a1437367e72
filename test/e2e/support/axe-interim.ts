import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';

/**
 * Interim accessibility scan for the Gateways, Admin and Backup screens until the shared harness
 * lands: axe-core run in the page (evaluated through the DevTools protocol, so the station's CSP
 * stays as it is), WCAG 2 A/AA rules; returns the serious and critical violations, each with where.
 */
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeFinding {
  id: string;
  impact: string;
  help: string;
  targets: string[];
}

export async function seriousViolations(page: Page, include = 'body'): Promise<AxeFinding[]> {
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(async (scope) => {
    const axe = (window as unknown as { axe: { run(ctx: unknown, opts: unknown): Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[] }> } }).axe;
    const r = await axe.run({ include: [scope] }, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] }, resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact ?? 'unknown', help: v.help, targets: v.nodes.map((n) => n.target.map(String).join(' ')) }));
  }, include);
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}
