/**
 * Wire schemas (seed field names). Requests are validated with them at the boundary; responses are
 * described with them for the OpenAPI document.
 */
import { z } from 'zod';
import {
  codigoField,
  accountIdField,
  csrField,
  keyOriginField,
  keyTypeField,
  macField,
  nomeField,
  printableTextField,
  reasonField,
  serialField,
} from '../service/fields.js';

const objectError = (what: string) => ({ error: `the request body must be a JSON object ${what}` });

export const provisionBody = z
  .object(
    {
      mac_address: macField.meta({ description: 'Device MAC; upper case, "-" and bare 12-hex are accepted and normalised', example: 'aa:bb:cc:dd:ee:ff' }),
      codigo: codigoField.meta({ example: 'GW001' }),
      nome: nomeField.meta({ example: 'Gateway Sede Principal' }),
      conta_id: accountIdField.meta({ description: "Must be the token's account" }),
      csr_pem: csrField.optional().meta({ description: 'PKCS#10 with CN = the MAC. Absent: the server makes the key and returns it once' }),
      key_type: keyTypeField.optional(),
      key_origin: keyOriginField.optional(),
    },
    objectError('with mac_address, codigo, nome and conta_id'),
  );

export const renewBody = z
  .object(
    {
      csr_pem: csrField.optional(),
      key_type: keyTypeField.optional(),
      key_origin: keyOriginField.optional(),
      // Broker side (issue 3): ask the device over MQTT (cert_renew) to renew itself; answered with 202.
      ask_device: z.boolean({ error: 'ask_device must be true or false' }).optional().meta({
        description: 'Ask the device over MQTT (cert_renew) to make a new key and renew itself; answered with 202. Not with csr_pem/key_type/key_origin/pending',
      }),
      deliver: z.boolean({ error: 'deliver must be true or false' }).optional().meta({
        description:
          'Make a pending certificate for the active one\'s key and deliver it over MQTT: the server asks the device (cert_renew) now if it is online, else when it next comes online; the old certificate stays valid until the device acks. Answered with 201 DeliverRenewResponse. Not with csr_pem/key_type/key_origin/pending/ask_device',
      }),
      pending: z.boolean({ error: 'pending must be true or false' }).optional().meta({
        description:
          'Issue the new certificate as pending: the active one stays valid until renew/confirm/ (then revoked, superseded) or renew/cancel/ (the new one revoked). Answered with 201 PendingRenewResponse. Without it the active certificate is revoked at once (seed behaviour)',
      }),
    },
    objectError('(may be {})'),
  );

export const renewConfirmBody = z.object(
  { serial_number: serialField.meta({ description: 'serial_number of the pending certificate (from the renew answer)' }) },
  objectError('with serial_number'),
);

export const renewCancelBody = z.object(
  { serial_number: serialField.optional().meta({ description: 'Only this certificate (recommended); default: the pending one of the gateway' }) },
  objectError('(may be {})'),
);

export const revokeBody = z
  .object(
    {
      reason: reasonField.meta({
        description: 'RFC 5280 reason name (keyCompromise, cessationOfOperation, superseded, affiliationChanged, privilegeWithdrawn, certificateHold, unspecified) or free text (recorded; CRL reason unspecified)',
        example: 'keyCompromise',
      }),
    },
    objectError('with reason'),
  );

export const importJsonBody = z
  .object(
    { csv: z.string({ error: 'csv must be the CSV text' }).max(2_000_000), key_type: keyTypeField.optional() },
    objectError('with csv (or send text/csv)'),
  );

const positiveIntFromString = (field: string, max: number) =>
  z
    .string()
    .regex(/^[0-9]{1,9}$/, `${field} must be a positive integer`)
    .transform(Number)
    .pipe(z.number().int().min(1, `${field} must be a positive integer`).max(max, `${field} must be at most ${max}`));

export const idParams = z.object({ id: positiveIntFromString('gateway id', 2 ** 31) });

const boolFromString = z.enum(['true', 'false', '1', '0'], { error: 'is_online must be true or false' }).transform((v) => v === 'true' || v === '1');

export const gatewayListQuery = z.object({
  page: positiveIntFromString('page', 1_000_000).optional(),
  page_size: positiveIntFromString('page_size', 200).optional(),
  search: z.string().max(100, 'search is too long').optional(),
  mac: macField.optional(),
  codigo: codigoField.optional(),
  is_online: boolFromString.optional(),
  expires_within_days: positiveIntFromString('expires_within_days', 36_500)
    .optional()
    .meta({ description: 'Only gateways whose active certificate expires within this many days' }),
  /** Accepted for seed compatibility; must be the token's account. */
  conta_id: positiveIntFromString('conta_id', 2 ** 31).optional(),
});

const isoTime = (field: string) => z.iso.datetime({ error: `${field} must be an ISO-8601 UTC time like 2026-01-31T00:00:00Z` });

/** The audit log's filters (GET audit/ and its CSV export). */
export const auditFilterQuery = z.object({
  action: z.string().regex(/^[a-z_.]{1,60}$/, 'action must look like "gateway.provision"').optional(),
  since: isoTime('since').optional().meta({ description: 'From this time (inclusive)' }),
  until: isoTime('until').optional().meta({ description: 'Before this time (exclusive)' }),
  actor: z
    .string()
    .regex(/^[A-Za-z0-9_.:@-]{1,80}$/, 'actor must look like "token:12", "cli", "server" or "device:aa:bb:cc:dd:ee:ff"')
    .optional(),
  gateway_id: positiveIntFromString('gateway_id', 2 ** 31).optional().meta({ description: 'Events on this gateway or its certificates' }),
  result: z.enum(['ok', 'denied', 'error'], { error: 'result must be ok, denied or error' }).optional(),
  conta_id: positiveIntFromString('conta_id', 2 ** 31).optional().meta({ description: "Server admins: one account's events (default: all, the server's own included)" }),
});

export const auditListQuery = auditFilterQuery.extend({
  page: positiveIntFromString('page', 1_000_000).optional(),
  page_size: positiveIntFromString('page_size', 200).optional(),
});

export const importQuery = z.object({ key_type: keyTypeField.optional() });

// ------------------------------------------------------------------------------------------
// Admin console

export const accountBody = z.object({ name: printableTextField('name').meta({ example: 'Fábrica Sul' }) }, objectError('with name'));

export const tokenListQuery = z.object({
  conta_id: positiveIntFromString('conta_id', 2 ** 31).optional().meta({ description: "Default: the token's account (server admins: every account)" }),
});

export const tokenBody = z.object(
  {
    role: z.enum(['admin', 'operator', 'auditor'], { error: 'role must be admin, operator or auditor' }),
    conta_id: accountIdField.optional().meta({ description: "Default: the token's account; another account needs a server admin token" }),
    label: printableTextField('label').optional(),
    server_admin: z.boolean({ error: 'server_admin must be true or false' }).optional().meta({ description: 'A server admin token (role admin; only a server admin may make one)' }),
  },
  objectError('with role'),
);

export const presenceQuery = z.object({
  since: isoTime('since').optional().meta({ description: 'Start of the window (default: 7 days ago)' }),
  until: isoTime('until').optional().meta({ description: 'End of the window (default: now)' }),
});

// ------------------------------------------------------------------------------------------
// Responses (documentation)

export const errorBody = z
  .object({
    error: z.string(),
    details: z.object({ field: z.string().optional() }).catchall(z.unknown()).optional(),
  });

export const provisionResponse = z
  .object({
    gateway_id: z.number().int(),
    certificate_pem: z.string(),
    private_key_pem: z.string().optional().meta({ description: 'Only when the server made the key; returned once, never stored' }),
    ca_pem: z.string(),
    expires_at: z.string(),
    serial_number: z.string().meta({ description: 'Uppercase hex' }),
    mqtt_broker: z.string(),
    mqtt_port: z.number().int(),
    mqtt_topic: z.string(),
    mac_address: z.string().optional(),
    notices: z.array(z.string()).optional(),
  });

export const pendingRenewResponse = provisionResponse.extend({
  status: z.literal('pending'),
  replaces_serial_number: z.string().meta({ description: 'The certificate that stays valid until this one is confirmed' }),
});

const deliveryState = z.object({
  pending_serial_number: z.string(),
  replaces_serial_number: z.string(),
  attempts: z.number().int().meta({ description: 'cert_renew requests sent to the device so far' }),
  last_attempt_at: z.string().nullable(),
  last_command_id: z.string().nullable(),
  created_at: z.string(),
});

export const deliverRenewResponse = pendingRenewResponse.extend({
  delivery: z.object({
    status: z.enum(['asked', 'waiting']).meta({ description: 'asked: cert_renew was sent now; waiting: the device is offline (or the server has no MQTT connection) and is asked when it comes online' }),
    command_id: z.string().nullable(),
  }),
});

const revokedRef = z.object({ serial_number: z.string(), revoked_at: z.string(), reason: z.string() });

export const renewConfirmResponse = z.object({
  gateway_id: z.number().int(),
  serial_number: z.string(),
  status: z.literal('active'),
  superseded: revokedRef.nullable().meta({ description: 'The previous certificate, now revoked (superseded); null when it had expired' }),
  already_confirmed: z.boolean().meta({ description: 'It was already active: a repeated confirmation changes nothing' }),
  crl_number: z.number().int(),
});

export const renewCancelResponse = z.object({
  gateway_id: z.number().int(),
  serial_number: z.string(),
  status: z.literal('revoked'),
  revoked_at: z.string(),
  reason: z.string(),
  already_cancelled: z.boolean().meta({ description: 'It had already been cancelled: a repeated cancellation changes nothing' }),
  active_serial_number: z.string().nullable().meta({ description: 'The certificate that stays valid' }),
  crl_number: z.number().int(),
});

export const certificateSummary = z
  .object({
    id: z.number().int(),
    mac_address: z.string(),
    serial_number: z.string(),
    issued_at: z.string(),
    expires_at: z.string(),
    is_revoked: z.boolean(),
    revoked_at: z.string().nullable(),
    revoke_reason: z.string().nullable(),
    key_origin: z.enum(['device', 'station', 'server']),
    status: z.enum(['pending', 'active', 'revoked', 'expired']).optional(),
  });

export const gateway = z
  .object({
    id: z.number().int(),
    conta_id: z.number().int(),
    codigo: z.string(),
    mac: z.string(),
    nome: z.string(),
    qte_max_dispositivos: z.number().int(),
    is_online: z.boolean(),
    last_seen: z.string().nullable(),
    firmware_version: z.string().nullable(),
    created_at: z.string(),
    active_certificate: certificateSummary.nullable(),
  });

export const gatewayDetail = gateway.extend({
  certificados: z.array(certificateSummary),
  private_key_available: z.boolean().optional(),
  renewal_delivery: deliveryState.nullable().optional().meta({ description: 'A renewal waiting to be delivered to the device over MQTT' }),
});

const paginated = <T extends z.ZodType>(item: T) =>
  z.object({ count: z.number().int(), next: z.string().nullable(), previous: z.string().nullable(), results: z.array(item) });

export const gatewayPage = paginated(gateway);

export const revokeResponse = z
  .object({
    gateway_id: z.number().int(),
    revoked: z.array(z.object({ serial_number: z.string(), revoked_at: z.string(), reason: z.string() })),
    crl_number: z.number().int(),
  });

export const importRow = z
  .object({
    line: z.number().int(),
    mac_address: z.string(),
    status: z.enum(['created', 'error', 'not_imported']),
    gateway_id: z.number().int().optional(),
    serial_number: z.string().optional(),
    expires_at: z.string().optional(),
    error: z.string().optional(),
  });

export const importResponse = z
  .object({ created: z.number().int(), failed: z.number().int(), rows: z.array(importRow) });

export const auditEvent = z
  .object({
    id: z.number().int(),
    at: z.string(),
    conta_id: z.number().int().nullable(),
    actor: z.string(),
    action: z.string(),
    object: z.string().nullable(),
    source_ip: z.string().nullable(),
    result: z.enum(['ok', 'denied', 'error']),
    detail: z.string().nullable(),
  });

export const auditPage = paginated(auditEvent);

export const accountResponse = z.object({ id: z.number().int(), name: z.string(), is_active: z.boolean(), created_at: z.string() });

export const tokenResponse = z.object({
  id: z.number().int(),
  conta_id: z.number().int(),
  role: z.enum(['admin', 'operator', 'auditor']),
  label: z.string().nullable(),
  server_admin: z.boolean(),
  created_at: z.string(),
  revoked_at: z.string().nullable(),
});

export const whoAmIResponse = z.object({
  token_id: z.number().int(),
  conta_id: z.number().int(),
  role: z.enum(['admin', 'operator', 'auditor']),
  server_admin: z.boolean(),
});

export const tokenCreatedResponse = tokenResponse.extend({ token: z.string().meta({ description: 'The secret: shown only in this answer, stored only as a hash' }) });
