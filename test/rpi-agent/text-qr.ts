/**
 * Reads a QR drawn as text (half blocks, light modules as ink: firmware/rpi/gateway_agent/code_display.py)
 * the way a camera would: turned into an image and decoded by zbarimg (Debian's zbar-tools), an
 * independent decoder.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { requireTool } from '../support/tools.js';

const HALF: Record<string, [boolean, boolean]> = { '\u2588': [true, true], '\u2580': [true, false], '\u2584': [false, true], ' ': [false, false] };
const SCALE = 4;

/** The first block of consecutive QR rows in `text` (lines made only of half blocks and spaces). */
export function qrBlock(text: string): string[] {
  const lines = text.split('\n').map((l) => l.replace(/^ {2}/, ''));
  const isRow = (l: string) => l.length >= 21 && /^[\u2588\u2580\u2584 ]+$/.test(l) && /[\u2588\u2580\u2584]/.test(l);
  const start = lines.findIndex(isRow);
  if (start < 0) return [];
  const rows: string[] = [];
  for (let i = start; i < lines.length && isRow(lines[i]!); i++) rows.push(lines[i]!);
  return rows;
}

/** Decodes the text QR with zbarimg; returns the payload. */
export function decodeTextQr(rows: string[], dir: string): string {
  const zbar = requireTool('zbarimg', 'zbar-tools');
  const width = Math.max(...rows.map((r) => [...r].length));
  const modules: boolean[][] = []; // true = dark
  for (const row of rows) {
    const top: boolean[] = [];
    const bottom: boolean[] = [];
    for (const ch of [...row.padEnd(width, '\u2588')]) {
      const light = HALF[ch];
      if (!light) throw new Error(`not a QR character: ${JSON.stringify(ch)}`);
      top.push(!light[0]);
      bottom.push(!light[1]);
    }
    modules.push(top, bottom);
  }
  // A plain PBM (1 = black) with a white margin, each module SCALE × SCALE pixels.
  const margin = 4;
  const w = (width + 2 * margin) * SCALE;
  const h = (modules.length + 2 * margin) * SCALE;
  const out: string[] = [`P1\n${w} ${h}`];
  for (let y = 0; y < h; y++) {
    const my = Math.floor(y / SCALE) - margin;
    const line: string[] = [];
    for (let x = 0; x < w; x++) {
      const mx = Math.floor(x / SCALE) - margin;
      line.push(my >= 0 && my < modules.length && mx >= 0 && mx < width && modules[my]![mx] ? '1' : '0');
    }
    out.push(line.join(' '));
  }
  const file = path.join(dir, 'qr.pbm');
  writeFileSync(file, out.join('\n') + '\n');
  const r = spawnSync(zbar, ['--raw', '-q', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`zbarimg could not decode the text QR (exit ${r.status}): ${r.stderr}`);
  return r.stdout.trim();
}
