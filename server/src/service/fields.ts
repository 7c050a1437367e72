/**
 * Input rules for the seed's fields, shared by the JSON API, the CSV import and the CLIs. Every
 * message names the field and says what a valid value looks like.
 */
import { z } from 'zod';
import { KEY_TYPES } from '../contract/api.js';
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

export const NOME_RULE = 'nome must be 1-100 characters of printable text (no control characters, line breaks or invisible formatting characters)';
/**
 * `nome` is a human description ("Gateway Sede Principal", "Gateway aa:bb:cc:dd:ee:ff", "Sala D'Ávila"):
 * any printable Unicode, stored verbatim after trimming (queries are parameterised). Refused:
 * control characters (C0, DEL, C1), line/paragraph separators, lone surrogates, private-use and
 * unassigned code points, and format characters such as bidi overrides (U+202E), which would let a
 * name display differently from what is stored; only the joiners U+200C/U+200D (needed by some
 * scripts and emoji) are allowed. Length counts code points, not UTF-16 units.
 */
const NOT_PRINTABLE = /[\p{C}\p{Zl}\p{Zp}]/u;
const JOINERS = /[\u200c\u200d]/gu;
export function isPrintableText(text: string): boolean {
  return !NOT_PRINTABLE.test(text.replace(JOINERS, ''));
}
export const nomeField = z
  .string({ error: typeMessage('nome', 'a string') })
  .transform((s) => s.trim())
  .refine((s) => {
    const length = [...s].length;
    return length >= 1 && length <= 100 && isPrintableText(s);
  }, NOME_RULE);

/** Free text with the rules of `nome` (printable, 1-100 code points, trimmed), for another field. */
export function printableTextField(field: string, max = 100) {
  return z
    .string({ error: typeMessage(field, 'a string') })
    .transform((s) => s.trim())
    .refine((s) => {
      const length = [...s].length;
      return length >= 1 && length <= max && isPrintableText(s);
    }, `${field} must be 1-${max} characters of printable text (no control characters, line breaks or invisible formatting characters)`);
}

export const accountIdField = z
  .number({ error: typeMessage('conta_id', 'an integer account id') })
  .int('conta_id must be an integer account id')
  .positive('conta_id must be a positive integer')
  .max(2 ** 31, 'conta_id is out of range');

export const csrField = z
  .string({ error: typeMessage('csr_pem', 'a PEM certificate request string') })
  .max(MAX_CSR_PEM_LENGTH, `csr_pem is longer than ${MAX_CSR_PEM_LENGTH} characters`);

export const keyTypeField = z.enum(KEY_TYPES, { error: 'key_type must be "ec" or "rsa"' });
export const keyOriginField = z.enum(['device', 'station'], { error: 'key_origin must be "device" or "station"' });

export const SERIAL_RULE = 'serial_number must be the certificate serial in hex, e.g. "5A0F3C..." (as in serial_number of the renew answer)';
/** A certificate serial: hex, colons allowed (as openssl prints it), normalised to upper case. */
export const serialField = z
  .string({ error: typeMessage('serial_number', 'a hex string') })
  .max(100, SERIAL_RULE)
  .transform((s) => s.trim().replace(/:/g, '').toUpperCase())
  .pipe(z.string().regex(/^[0-9A-F]{1,64}$/, SERIAL_RULE));

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
