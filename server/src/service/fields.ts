/**
 * Input rules for the seed's fields, shared by the JSON API, the CSV import and the CLIs. Every
 * message names the field and says what a valid value looks like.
 */
import { z } from 'zod';
import { parseMac } from '../contract/mac.js';
import { MAX_CSR_PEM_LENGTH } from '../ca/csr.js';

const typeMessage = (field: string, kind: string) => (issue: { input?: unknown }) =>
  issue.input === undefined ? `${field} is required` : `${field} must be ${kind}`;

/** Canonical MAC; says when the input was normalised (reported back as a notice). */
export const macField = z
  .string({ error: typeMessage('mac_address', 'a string like "aa:bb:cc:dd:ee:ff"') })
  .max(64, 'mac_address is too long')
  .transform((value, ctx) => {
    const r = parseMac(value);
    if (!r.ok) {
      ctx.addIssue({ code: 'custom', message: r.error });
      return z.NEVER;
    }
    return r.mac;
  });

export const CODIGO_RULE = "codigo must be 1-30 characters: letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. GW001)";
export const codigoField = z
  .string({ error: typeMessage('codigo', 'a string like "GW001"') })
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,29}$/, CODIGO_RULE);

export const NOME_RULE = "nome must be 1-100 characters: letters, digits, spaces and . , ( ) ' & + # ° º ª _ -";
export const nomeField = z
  .string({ error: typeMessage('nome', 'a string') })
  .transform((s) => s.trim())
  .pipe(z.string().min(1, NOME_RULE).max(100, NOME_RULE).regex(/^[\p{L}\p{M}\p{N} .,()'&+#°ºª_-]+$/u, NOME_RULE));

export const contaIdField = z
  .number({ error: typeMessage('conta_id', 'an integer account id') })
  .int('conta_id must be an integer account id')
  .positive('conta_id must be a positive integer')
  .max(2 ** 31, 'conta_id is out of range');

export const csrField = z
  .string({ error: typeMessage('csr_pem', 'a PEM certificate request string') })
  .max(MAX_CSR_PEM_LENGTH, `csr_pem is longer than ${MAX_CSR_PEM_LENGTH} characters`);

export const keyTypeField = z.enum(['ec', 'rsa'], { error: 'key_type must be "ec" or "rsa"' });
export const keyOriginField = z.enum(['device', 'station'], { error: 'key_origin must be "device" or "station"' });

export const REASON_RULE = 'reason must be 1-200 characters of text without control characters';
export const reasonField = z
  .string({ error: typeMessage('reason', 'a string') })
  .transform((s) => s.trim())
  .pipe(
    z
      .string()
      .min(1, REASON_RULE)
      .max(200, REASON_RULE)
      // eslint-disable-next-line no-control-regex
      .regex(/^[^\u0000-\u001f\u007f]+$/, REASON_RULE),
  );

/** First zod issue → field + message. */
export function firstIssue(error: z.ZodError): { field: string | undefined; message: string } {
  const issue = error.issues[0];
  const field = issue && issue.path.length > 0 ? issue.path.map(String).join('.') : undefined;
  return { field, message: issue?.message ?? 'invalid input' };
}
