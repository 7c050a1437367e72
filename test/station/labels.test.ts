import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { labelPdf, labelQrPayload, labelSheetPdf, labelSvg } from '../../src/main/station/labels.js';
import { tempDir } from '../support/temp.js';
import { requireTool } from '../support/tools.js';

const data = { mac: '24:6f:28:aa:bb:01', gatewayCode: 'GW-246f28aabb01', certificateSerial: '5F3A9C0E11D24B7A8C', expiresAt: '2036-03-01T12:00:00Z' };

describe('board label', () => {
  const tmp = tempDir('tds-label-');
  afterAll(() => tmp.remove());

  it('PDF is one 62 × 29 mm page whose text and QR code carry MAC, gateway code and serial', async () => {
    requireTool('pdftotext', 'poppler-utils');
    requireTool('pdftoppm', 'poppler-utils');
    requireTool('zbarimg', 'zbar-tools');
    const file = path.join(tmp.path, 'label.pdf');
    writeFileSync(file, await labelPdf(data));
    const info = execFileSync('pdfinfo', [file], { encoding: 'utf8' });
    expect(info).toMatch(/Pages:\s+1/);
    const size = /Page size:\s+([\d.]+) x ([\d.]+) pts/.exec(info)!;
    expect(Number(size[1])).toBeCloseTo((62 / 25.4) * 72, 0);
    expect(Number(size[2])).toBeCloseTo((29 / 25.4) * 72, 0);
    const text = execFileSync('pdftotext', [file, '-'], { encoding: 'utf8' });
    expect(text).toContain(data.mac);
    expect(text).toContain(data.gatewayCode);
    expect(text).toContain(data.certificateSerial);
    // Rasterise at 600 dpi and decode the QR code with an independent reader.
    execFileSync('pdftoppm', ['-r', '600', '-png', '-singlefile', file, path.join(tmp.path, 'label')]);
    const decoded = execFileSync('zbarimg', ['--raw', '-q', path.join(tmp.path, 'label.png')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    expect(JSON.parse(decoded)).toEqual({ mac_address: data.mac, codigo: data.gatewayCode, serial_number: data.certificateSerial });
  });

  it('a batch is one PDF of A4 sheets, 27 labels a page, every label readable (text and QR code)', async () => {
    requireTool('pdftotext', 'poppler-utils');
    requireTool('pdftoppm', 'poppler-utils');
    requireTool('zbarimg', 'zbar-tools');
    const batch = Array.from({ length: 29 }, (_, i) => {
      const n = (i + 1).toString(16).padStart(2, '0');
      return { mac: `24:6f:28:aa:cc:${n}`, gatewayCode: `GW-246f28aacc${n}`, certificateSerial: `5F3A9C0E11D24B${n.toUpperCase()}`, expiresAt: '2036-03-01T12:00:00Z' };
    });
    const file = path.join(tmp.path, 'sheet.pdf');
    writeFileSync(file, await labelSheetPdf(batch));
    const info = execFileSync('pdfinfo', [file], { encoding: 'utf8' });
    expect(info).toMatch(/Pages:\s+2/);
    const size = /Page size:\s+([\d.]+) x ([\d.]+) pts/.exec(info)!;
    expect([Math.round(Number(size[1])), Math.round(Number(size[2]))]).toEqual([595, 842]);
    const text = execFileSync('pdftotext', [file, '-'], { encoding: 'utf8' });
    for (const l of batch) {
      expect(text).toContain(l.gatewayCode);
      expect(text).toContain(l.mac);
    }
    // Every QR code of the first page decodes, each to its own board.
    execFileSync('pdftoppm', ['-r', '300', '-png', '-f', '1', '-l', '1', '-singlefile', file, path.join(tmp.path, 'sheet')]);
    const decoded = execFileSync('zbarimg', ['--raw', '-q', path.join(tmp.path, 'sheet.png')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { mac_address: string }).mac_address)
      .sort();
    expect(decoded).toEqual(batch.slice(0, 27).map((l) => l.mac).sort());
  });

  it('SVG is 62 × 29 mm, escapes text, and holds the same facts', () => {
    const svg = labelSvg({ ...data, gatewayCode: 'GW-<&>' });
    expect(svg).toMatch(/width="62mm" height="29mm"/);
    expect(svg).toContain('GW-&lt;&amp;&gt;');
    expect(svg).not.toContain('GW-<&>');
    expect(svg).toContain(data.mac);
    expect(JSON.parse(labelQrPayload(data)).serial_number).toBe(data.certificateSerial);
  });
});
