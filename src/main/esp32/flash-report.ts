import type { PartOutcome } from './flash-writer.js';

/**
 * One line for the flash step's detail: what was skipped, diffed and written, e.g.
 * "3 parts already on the board; app.bin: 1 of 182 sectors; tdscfg: written (64 KiB)".
 */
export function describeOutcomes(outcomes: readonly PartOutcome[]): string {
  const skipped = outcomes.filter((o) => o.action === 'skipped');
  const items: string[] = [];
  if (skipped.length) items.push(skipped.length === 1 ? `${skipped[0]!.name} already on the board` : `${skipped.length} parts already on the board`);
  for (const o of outcomes) {
    if (o.action === 'sectors') items.push(`${o.name}: ${o.sectorsWritten} of ${o.sectorCount} sectors`);
    if (o.action === 'full') items.push(`${o.name}: written (${Math.round(o.bytes / 1024)} KiB)${o.fallback ? ' after a sector diff that did not match' : ''}`);
  }
  const sent = outcomes.reduce((n, o) => n + o.sent, 0);
  return `${items.join('; ') || 'nothing to write'}; ${Math.round(sent / 1024)} KiB sent`;
}
