/** Request validation at the boundary: a zod schema's first issue becomes a ValidationError naming the field. */
import type { z } from 'zod';
import { ValidationError } from '../service/errors.js';
import { firstIssue } from '../service/fields.js';

export function parse<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const r = schema.safeParse(value);
  if (!r.success) {
    const i = firstIssue(r.error);
    throw new ValidationError(i.field, i.field && !i.message.startsWith(i.field) && !i.message.includes(i.field) ? `${i.field}: ${i.message}` : i.message);
  }
  return r.data;
}
