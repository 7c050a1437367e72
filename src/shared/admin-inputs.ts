import { z } from 'zod';
import { AUDIT_RESULTS, TOKEN_ROLES } from './admin-views.js';
import { GatewayCodeSchema } from './inputs.js';
import { V, zIsoDate, zMac, zPrintable } from './validation.js';

/**
 * What the Admin screen may send, validated in the core before anything reaches the server (which
 * checks again). Messages are i18n keys (validation.ts).
 */

const zAccountId = z.number({ error: V.positiveInt }).int(V.positiveInt).positive(V.positiveInt).max(2 ** 31, V.positiveInt);

/**
 * Who acted, as the server records it: one of the server's own actors, a token by its id, or a
 * device by its MAC. The server matches exactly.
 */
export const AuditActorSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.enum(['cli', 'server', 'scheduler', 'station', 'anonymous']) }),
  z.object({ kind: z.literal('token'), id: zAccountId }),
  z.object({ kind: z.literal('device'), mac: zMac }),
], { error: V.choice });
export type AuditActor = z.input<typeof AuditActorSchema>;

/** The audit log's filters: local calendar days (inclusive), who, what, which gateway (its code), result. */
export const AuditFilterSchema = z.object({
  from: zIsoDate.optional(),
  to: zIsoDate.optional(),
  actor: AuditActorSchema.optional(),
  action: z.string().regex(/^[a-z_.]{1,60}$/, V.choice).optional(),
  gatewayCode: GatewayCodeSchema.optional(),
  result: z.enum(AUDIT_RESULTS, { error: V.choice }).optional(),
  /** Server admins: one account's events. */
  accountId: zAccountId.optional(),
});
export type AuditFilter = z.input<typeof AuditFilterSchema>;

export const AuditQuerySchema = AuditFilterSchema.extend({ page: z.number().int().min(1).max(1_000_000).default(1) });

export const AccountNameSchema = zPrintable(100);

export const CreateTokenInputSchema = z.object({
  role: z.enum(TOKEN_ROLES, { error: V.choice }),
  label: zPrintable(100).optional(),
  /** Another account's token: server admins only. */
  accountId: zAccountId.optional(),
  /** Role admin only; server admins only. */
  serverAdmin: z.boolean().optional(),
});
export type CreateTokenInput = z.input<typeof CreateTokenInputSchema>;

export const adminRequestSchemas = {
  'admin.audit': AuditQuerySchema,
  'admin.auditCsv': AuditFilterSchema,
  'admin.accounts': z.undefined(),
  'admin.createAccount': z.object({ name: AccountNameSchema }),
  'admin.renameAccount': z.object({ id: zAccountId, name: AccountNameSchema }),
  'admin.tokens': z.object({ accountId: zAccountId.optional() }),
  'admin.createToken': CreateTokenInputSchema,
  'admin.revokeToken': z.object({ id: zAccountId }),
  'admin.crl': z.undefined(),
  'admin.broker': z.undefined(),
} as const;
export type AdminRequestChannel = keyof typeof adminRequestSchemas;
