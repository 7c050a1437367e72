/** CSV import rows (`mac_address,codigo,nome`, strategy 1 batch): parsed, then validated row by row. */
import { parse } from 'csv-parse/sync';
import { codigoField, firstIssue, macField, nomeField } from './fields.js';
import { ValidationError } from './errors.js';

export const MAX_IMPORT_ROWS = 1000;
const COLUMNS = ['mac_address', 'codigo', 'nome'] as const;

export type CsvRow =
  | { line: number; ok: true; mac: string; codigo: string; nome: string; rawMac: string }
  | { line: number; ok: false; rawMac: string; error: string };

export function parseImportCsv(text: string): CsvRow[] {
  let records: string[][];
  try {
    records = parse(text, { bom: true, skip_empty_lines: true, trim: true, relax_column_count: true, max_record_size: 4096 }) as string[][];
  } catch (err) {
    throw new ValidationError('csv', `the CSV cannot be parsed: ${(err as Error).message.split('\n')[0]}`);
  }
  const header = records[0];
  if (!header || header.length !== COLUMNS.length || header.some((h, i) => h.toLowerCase() !== COLUMNS[i])) {
    throw new ValidationError('csv', `the first CSV line must be the header "${COLUMNS.join(',')}"`);
  }
  const rows = records.slice(1);
  if (rows.length === 0) throw new ValidationError('csv', 'the CSV has a header but no rows');
  if (rows.length > MAX_IMPORT_ROWS) throw new ValidationError('csv', `the CSV has ${rows.length} rows; import at most ${MAX_IMPORT_ROWS} at a time`);

  const seen = new Map<string, number>();
  return rows.map((cells, i): CsvRow => {
    const line = i + 2;
    const rawMac = String(cells[0] ?? '').slice(0, 64);
    if (cells.length !== COLUMNS.length) {
      return { line, ok: false, rawMac, error: `line ${line} has ${cells.length} fields; expected ${COLUMNS.length} (mac_address,codigo,nome)` };
    }
    const mac = macField.safeParse(cells[0]);
    if (!mac.success) return { line, ok: false, rawMac, error: `mac_address: ${firstIssue(mac.error).message}` };
    const codigo = codigoField.safeParse(cells[1]);
    if (!codigo.success) return { line, ok: false, rawMac, error: firstIssue(codigo.error).message };
    const nome = nomeField.safeParse(cells[2]);
    if (!nome.success) return { line, ok: false, rawMac, error: firstIssue(nome.error).message };
    const dup = seen.get(mac.data);
    if (dup !== undefined) return { line, ok: false, rawMac, error: `MAC ${mac.data} already appears on line ${dup}` };
    seen.set(mac.data, line);
    return { line, ok: true, mac: mac.data, codigo: codigo.data, nome: nome.data, rawMac };
  });
}
