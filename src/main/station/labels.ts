import { PDFDocument, rgb, StandardFonts, type PDFFont, type PDFPage } from 'pdf-lib';
import QRCode from 'qrcode';

/** What a board's label shows. */
export interface LabelData {
  mac: string;
  gatewayCode: string;
  certificateSerial: string;
  expiresAt?: string | null;
}

/** 62 × 29 mm: the common continuous-label width of desktop label printers (e.g. Brother DK-11209). */
const W = 62;
const H = 29;
const PT_PER_MM = 72 / 25.4;

/**
 * The QR payload uses the seed's wire names so a scanner app can feed it straight to the API:
 * `{"mac_address","codigo","serial_number"}`.
 */
export function labelQrPayload(d: LabelData): string {
  return JSON.stringify({ mac_address: d.mac, codigo: d.gatewayCode, serial_number: d.certificateSerial });
}

function qrMatrix(payload: string): { size: number; dark: (r: number, c: number) => boolean } {
  const qr = QRCode.create(payload, { errorCorrectionLevel: 'M' });
  return { size: qr.modules.size, dark: (r, c) => qr.modules.get(r, c) === 1 };
}

/** Monospace text that must fit `maxWidth` mm: Courier/monospace glyphs are 0.6 em wide. */
function fitSize(text: string, maxWidth: number, preferred: number): number {
  return Math.min(preferred, maxWidth / (Math.max(1, text.length) * 0.6));
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

interface Line {
  text: string;
  size: number;
  bold: boolean;
  mono: boolean;
}

/** One label: the QR's payload, the text lines beside it, and the PDF's metadata. */
interface LabelSpec {
  payload: string;
  lines: Line[];
  title: string;
  subject: string;
  /** What names the label in a sheet's metadata: the gateway code, or the MAC of a claim label. */
  name: string;
}

const QR_SIDE = H - 4;
const TEXT_X = 2 + QR_SIDE + 2;
const TEXT_W = W - TEXT_X - 1.5;

function boardLabel(d: LabelData): LabelSpec {
  const lines: Line[] = [
    { text: 'TDS gateway', size: 2.4, bold: false, mono: false },
    { text: d.gatewayCode, size: fitSize(d.gatewayCode, TEXT_W, 4.2), bold: true, mono: true },
    { text: d.mac, size: fitSize(d.mac, TEXT_W, 3.2), bold: false, mono: true },
    { text: `cert ${d.certificateSerial}`, size: fitSize(`cert ${d.certificateSerial}`, TEXT_W, 2.4), bold: false, mono: true },
  ];
  if (d.expiresAt) lines.push({ text: `exp ${d.expiresAt.slice(0, 10)}`, size: 2.2, bold: false, mono: true });
  return { payload: labelQrPayload(d), lines, title: `TDS gateway ${d.gatewayCode}`, subject: d.mac, name: d.gatewayCode };
}

/** What a bench-born board's label shows: the claim QR (MAC + claim secret) and the secret in groups, for typing by hand. */
export interface ClaimLabelData {
  mac: string;
  /** `TDS:B1:<MAC>:<claim secret>` (docs/zero-touch.md §2.4). */
  labelQr: string;
  claimSecret: string;
}

function claimLabel(d: ClaimLabelData): LabelSpec {
  const groups = d.claimSecret.match(/.{1,4}/g) ?? [];
  const half = Math.ceil(groups.length / 2);
  const secretLines = [groups.slice(0, half).join(' '), groups.slice(half).join(' ')];
  const secretSize = Math.min(...secretLines.map((t) => fitSize(t, TEXT_W, 2.8)));
  return {
    payload: d.labelQr,
    lines: [
      { text: 'TDS gateway: scan to claim', size: fitSize('TDS gateway: scan to claim', TEXT_W / 0.85, 2.4), bold: false, mono: false },
      { text: d.mac, size: fitSize(d.mac, TEXT_W, 3.2), bold: true, mono: true },
      { text: 'claim secret (single use)', size: 2, bold: false, mono: false },
      ...secretLines.map((text) => ({ text, size: secretSize, bold: true, mono: true })),
    ],
    title: `TDS gateway claim label ${d.mac}`,
    subject: d.mac,
    name: d.mac,
  };
}

function renderSvg(spec: LabelSpec): string {
  const { size, dark } = qrMatrix(spec.payload);
  const m = QR_SIDE / size;
  let path = '';
  for (let r = 0; r < size; r++) for (let c = 0; c < size; c++) if (dark(r, c)) path += `M${(2 + c * m).toFixed(3)} ${(2 + r * m).toFixed(3)}h${m.toFixed(3)}v${m.toFixed(3)}h-${m.toFixed(3)}z`;
  let y = 3;
  const texts = spec.lines
    .map((l) => {
      y += l.size + 1.1;
      return `<text x="${TEXT_X}" y="${y.toFixed(2)}" font-size="${l.size.toFixed(2)}" font-family="${l.mono ? 'DejaVu Sans Mono, Liberation Mono, monospace' : 'Liberation Sans, Arial, sans-serif'}"${l.bold ? ' font-weight="700"' : ''}>${escapeXml(l.text)}</text>`;
    })
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}mm" height="${H}mm" viewBox="0 0 ${W} ${H}"><rect width="${W}" height="${H}" fill="#fff"/><path d="${path}" fill="#000"/><g fill="#000">${texts}</g></svg>`;
}

type Fonts = { sans: PDFFont; mono: PDFFont; monoBold: PDFFont };

async function newDoc(title: string, subject: string): Promise<{ doc: PDFDocument; fonts: Fonts }> {
  const doc = await PDFDocument.create();
  doc.setTitle(title);
  doc.setSubject(subject);
  doc.setProducer('TDS Provisioning Station');
  const fonts = {
    sans: await doc.embedFont(StandardFonts.Helvetica),
    mono: await doc.embedFont(StandardFonts.Courier),
    monoBold: await doc.embedFont(StandardFonts.CourierBold),
  };
  return { doc, fonts };
}

/** Draws one label with its top-left corner `left` mm from the page's left and `top` mm from its top. */
function drawLabel(page: PDFPage, fonts: Fonts, spec: LabelSpec, left: number, top: number): void {
  const { size, dark } = qrMatrix(spec.payload);
  const m = (QR_SIDE / size) * PT_PER_MM;
  const x0 = left * PT_PER_MM;
  const y0 = page.getHeight() - top * PT_PER_MM;
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      if (dark(r, c)) page.drawRectangle({ x: x0 + 2 * PT_PER_MM + c * m, y: y0 - 2 * PT_PER_MM - (r + 1) * m, width: m + 0.01, height: m + 0.01, color: rgb(0, 0, 0) });
    }
  }
  let y = 3;
  for (const l of spec.lines) {
    y += l.size + 1.1;
    const font = l.mono ? (l.bold ? fonts.monoBold : fonts.mono) : fonts.sans;
    page.drawText(l.text, { x: x0 + TEXT_X * PT_PER_MM, y: y0 - y * PT_PER_MM, size: l.size * PT_PER_MM * 1.05, font, color: rgb(0, 0, 0) });
  }
}

async function renderPdf(spec: LabelSpec): Promise<Uint8Array> {
  const { doc, fonts } = await newDoc(spec.title, spec.subject);
  const page = doc.addPage([W * PT_PER_MM, H * PT_PER_MM]);
  drawLabel(page, fonts, spec, 0, 0);
  return doc.save();
}

/** A4 in millimetres, and how a sheet of labels sits on it (3 × 9, with cut lines). */
const A4 = { w: 210, h: 297 };
const SHEET = { cols: 3, rows: 9, gap: 2 };

/** A label on a sheet: a board's final identity, or a bench-born board's claim label. */
export type SheetLabel = LabelData | ClaimLabelData;

function specOf(l: SheetLabel): LabelSpec {
  return 'claimSecret' in l ? claimLabel(l) : boardLabel(l);
}

/**
 * A batch's labels on A4 sheets, 27 to a page, each inside a thin cut line (print at 100 %): one
 * file for a whole batch instead of a label per board. Board and claim labels may be mixed.
 */
export async function labelSheetPdf(labels: readonly SheetLabel[]): Promise<Uint8Array> {
  if (labels.length === 0) throw new Error('no labels to put on a sheet');
  const specs = labels.map(specOf);
  const { doc, fonts } = await newDoc(`TDS gateway labels (${labels.length})`, specs.map((s) => s.name).join(', '));
  const perPage = SHEET.cols * SHEET.rows;
  const left = (A4.w - SHEET.cols * W - (SHEET.cols - 1) * SHEET.gap) / 2;
  const top = (A4.h - SHEET.rows * H - (SHEET.rows - 1) * SHEET.gap) / 2;
  let page: PDFPage | undefined;
  specs.forEach((spec, i) => {
    if (i % perPage === 0) page = doc.addPage([A4.w * PT_PER_MM, A4.h * PT_PER_MM]);
    const slot = i % perPage;
    const x = left + (slot % SHEET.cols) * (W + SHEET.gap);
    const y = top + Math.floor(slot / SHEET.cols) * (H + SHEET.gap);
    page!.drawRectangle({
      x: x * PT_PER_MM,
      y: page!.getHeight() - (y + H) * PT_PER_MM,
      width: W * PT_PER_MM,
      height: H * PT_PER_MM,
      borderColor: rgb(0.7, 0.7, 0.7),
      borderWidth: 0.3,
    });
    drawLabel(page!, fonts, spec, x, y);
  });
  return doc.save();
}

/** The label as SVG in millimetres (the renderer previews it and rasterises it to PNG). */
export function labelSvg(d: LabelData): string {
  return renderSvg(boardLabel(d));
}

/** The label as a one-page PDF of the label's size (print at 100 %). */
export function labelPdf(d: LabelData): Promise<Uint8Array> {
  return renderPdf(boardLabel(d));
}

/** A bench-born board's claim label as SVG. */
export function claimLabelSvg(d: ClaimLabelData): string {
  return renderSvg(claimLabel(d));
}

/** A bench-born board's claim label as a one-page PDF. */
export function claimLabelPdf(d: ClaimLabelData): Promise<Uint8Array> {
  return renderPdf(claimLabel(d));
}
