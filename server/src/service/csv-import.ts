/**
 * CSV import (POST gateways/import/): all rows or none. Keys are made by the server and kept sealed
 * for the one ZIP download (at most `pendingKeyTtlHours`).
 */
import { generateKey, privateKeyPem } from '../ca/keys.js';
import type { KeyType } from '../contract/api.js';
import { ImportRowError, MacConflictError, type ProvisionWrite } from '../store/repository.js';
import type { Actor, IssuanceCore } from './core.js';
import { parseImportCsv, type CsvRow } from './csv-rows.js';
import { ValidationError } from './errors.js';

export interface ImportOutcome {
  rows: { line: number; mac: string; gatewayId: number; serialNumber: string; expiresAt: string }[];
}

export interface ImportRowResult {
  line: number;
  mac_address: string;
  status: 'error' | 'ok';
  error?: string;
}

/** Import refused: every row with its result; nothing was written. */
export class ImportRejectedError extends Error {
  constructor(
    readonly status: 400 | 409,
    readonly rows: ImportRowResult[],
  ) {
    super(`import refused: ${rows.filter((r) => r.status === 'error').length} row(s) have errors; nothing was imported`);
  }
}

/** RSA keys are slow to make; a bigger RSA import would outlive any HTTP timeout. */
export const MAX_RSA_IMPORT_ROWS = 200;

export class CsvImportService {
  constructor(private readonly core: IssuanceCore) {}

  async importCsv(actor: Actor, csvText: string, keyType?: KeyType): Promise<ImportOutcome> {
    const c = this.core;
    await c.authorize(actor, 'import', null);
    return c.guard(actor, 'gateway.import', null, async () => {
      const rows = parseImportCsv(csvText);
      const checked: CsvRow[] = [];
      for (const row of rows) {
        if (row.ok) {
          try {
            await c.assertMacAvailable(actor.accountId, row.mac);
          } catch (err) {
            if (!(err instanceof MacConflictError)) throw err;
            checked.push({ line: row.line, ok: false, rawMac: row.rawMac, error: err.message });
            continue;
          }
        }
        checked.push(row);
      }
      if (checked.some((r) => !r.ok)) throw new ImportRejectedError(400, resultRows(checked));

      const ttlMs = c.settings.pendingKeyTtlHours * 3_600_000;
      const type = keyType ?? c.settings.device.keyType;
      const valid = checked.filter((r): r is Extract<CsvRow, { ok: true }> => r.ok);
      if (type === 'rsa' && valid.length > MAX_RSA_IMPORT_ROWS) {
        throw new ValidationError('key_type', `RSA-2048 keys take ~0.2 s each: import at most ${MAX_RSA_IMPORT_ROWS} rows with key_type rsa (or use ec)`);
      }
      // Key generation (libuv pool) and signing (a token's session pool) run a few at a time.
      const issuedAt = c.now();
      const writes: ProvisionWrite[] = await mapLimit(valid, 4, async (row) => {
        const key = await generateKey(type);
        const cert = await c.ca.issueDevice({ mac: row.mac, spkiDer: key.spkiDer, profile: c.profile, now: issuedAt });
        const write: ProvisionWrite = { accountId: actor.accountId, at: c.at(), mac: row.mac, codigo: row.codigo, nome: row.nome, certificate: c.newCertificate(cert, 'server') };
        if (ttlMs > 0) {
          write.pendingKey = { sealed: c.ca.vault.seal(Buffer.from(privateKeyPem(key.privateKey)), cert.serialNumber), expiresAt: c.at(ttlMs) };
        }
        return write;
      });
      let results;
      try {
        results = await c.repo.importGateways(writes, c.audit(actor, 'gateway.import', 'ok', null, `${writes.length} gateways`));
      } catch (err) {
        if (err instanceof ImportRowError) {
          const line = valid[err.index]!.line;
          throw new ImportRejectedError(409, resultRows(checked.map((r) => (r.line === line ? { line, ok: false, rawMac: r.rawMac, error: err.message } : r))));
        }
        throw err;
      }
      for (const r of results) c.announceIssued(r.certificate, null);
      return {
        rows: results.map((r, i) => ({
          line: valid[i]!.line,
          mac: r.gateway.mac,
          gatewayId: r.gateway.id,
          serialNumber: r.certificate.serialNumber,
          expiresAt: r.certificate.expiresAt,
        })),
      };
    });
  }
}

function resultRows(rows: CsvRow[]): ImportRowResult[] {
  return rows.map((r) => (r.ok ? { line: r.line, mac_address: r.mac, status: 'ok' as const } : { line: r.line, mac_address: r.rawMac, status: 'error' as const, error: r.error }));
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}
