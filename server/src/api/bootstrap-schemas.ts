/**
 * Wire schemas of zero-touch onboarding (docs/zero-touch.md §3): requests are validated with them at
 * the boundary; responses are described with them for the OpenAPI document.
 */
import { z } from 'zod';
import { accountIdField, codigoField, csrField, isPrintableText, macField, nomeField, reasonField } from '../service/fields.js';

const objectError = (what: string) => ({ error: `the request body must be a JSON object ${what}` });

const printable = (field: string, max: number) =>
  z
    .string({ error: `${field} must be a string` })
    .max(max, `${field} must be at most ${max} characters`)
    .refine((s) => s.length > 0 && isPrintableText(s), `${field} must be 1-${max} characters of printable text`);

export const BIRTH_CERTIFICATE_MAX = 8192;
export const BOOTSTRAP_BODY_LIMIT = 40 * 1024;

export const nonceBody = z.object({ mac_address: macField }, objectError('with mac_address'));

export const bootstrapBody = z
  .object(
    {
      mac_address: macField.meta({ description: "The device's MAC", example: 'aa:bb:cc:dd:ee:ff' }),
      csr_pem: csrField.meta({ description: 'PKCS#10 for the key made on the device; CN = the MAC' }),
      model: printable('model', 64).optional(),
      firmware_version: printable('firmware_version', 32).optional(),
      birth_certificate_pem: z
        .string({ error: 'birth_certificate_pem must be a PEM certificate string' })
        .max(BIRTH_CERTIFICATE_MAX, `birth_certificate_pem is longer than ${BIRTH_CERTIFICATE_MAX} characters`)
        .optional()
        .meta({ description: 'Attested path: the birth certificate' }),
      nonce: z
        .string({ error: 'nonce must be a string' })
        .regex(/^[A-Za-z0-9_-]{43}$/, 'nonce must be the 43-character value from bootstrap/nonce/')
        .optional()
        .meta({ description: 'Attested path: from bootstrap/nonce/' }),
      attestation_signature: z
        .string({ error: 'attestation_signature must be a base64 string' })
        .regex(/^[A-Za-z0-9+/]{16,1400}={0,2}$/, 'attestation_signature must be base64 (a DER ECDSA or an RSA signature)')
        .optional()
        .meta({ description: 'Attested path: the birth key\'s signature (docs/zero-touch.md §2.5)' }),
    },
    objectError('with mac_address and csr_pem'),
  )
  .superRefine((b, ctx) => {
    const given = [b.birth_certificate_pem, b.nonce, b.attestation_signature].filter((v) => v !== undefined).length;
    if (given !== 0 && given !== 3) {
      const missing = (['birth_certificate_pem', 'nonce', 'attestation_signature'] as const).find((k) => b[k] === undefined)!;
      ctx.addIssue({ code: 'custom', path: [missing], message: `${missing} is required with the other attestation fields (birth_certificate_pem, nonce, attestation_signature come together)` });
    }
  });

export const bootstrapIdParams = z.object({ bid: z.string().max(64) });

/** How an operator names the device; exactly one way (see `claimCredentialsOf`). */
const credentialFields = {
  qr: z.string({ error: 'qr must be the text of the QR code' }).max(120, 'qr is too long to be a TDS claim QR').optional(),
  mac_address: z.string({ error: 'mac_address must be a string like "aa:bb:cc:dd:ee:ff"' }).max(64, 'mac_address is too long').optional(),
  claim_secret: z.string({ error: 'claim_secret must be a string' }).max(120, 'claim_secret is too long').optional(),
  activation_code: z.string({ error: 'activation_code must be a string like "K7M2-Q4T0"' }).max(40, 'activation_code is too long').optional(),
};
const bootstrapIdField = z
  .string({ error: 'bootstrap_id must be a string' })
  .regex(/^[0-9a-f]{32}$/, 'bootstrap_id must be the 32 hex characters of the previewed request')
  .optional();

export const claimPreviewBody = z.object(credentialFields, objectError('with qr, or mac_address and claim_secret, or mac_address and activation_code'));

export const claimBody = z.object(
  { ...credentialFields, conta_id: accountIdField, codigo: codigoField, nome: nomeField, bootstrap_id: bootstrapIdField },
  objectError('naming the device (qr, or mac_address + claim_secret / activation_code) with conta_id, codigo and nome'),
);

export const claimRejectBody = z.object(
  { ...credentialFields, bootstrap_id: bootstrapIdField, reason: reasonField.optional() },
  objectError('naming the device (qr, or mac_address + claim_secret / activation_code)'),
);

export const birthBody = z.object(
  {
    mac_address: macField,
    csr_pem: csrField.meta({ description: 'PKCS#10 for the birth key (made on the device or in the station); CN = the MAC' }),
    model: printable('model', 64).optional(),
    replace: z.boolean({ error: 'replace must be true or false' }).optional().meta({ description: 'Revoke an existing birth certificate of the MAC (superseded) and issue a new one' }),
  },
  objectError('with mac_address and csr_pem'),
);

export const birthRevokeBody = z.object({ mac_address: macField, reason: reasonField }, objectError('with mac_address and reason'));

// ------------------------------------------------------------------------------------------
// Responses (documentation)

const status = z.enum(['pending', 'approved', 'issued', 'expired', 'rejected']);
const path = z.enum(['attested', 'open']);

export const nonceResponse = z.object({ nonce: z.string(), expires_at: z.string(), expires_in: z.number().int() });

export const bootstrapResponse = z.object({
  bootstrap_id: z.string(),
  status,
  path,
  mac_address: z.string(),
  key_fingerprint: z.string().meta({ description: 'Lowercase hex SHA-256 of the CSR key (SubjectPublicKeyInfo DER)' }),
  poll_url: z.string(),
  poll_interval: z.number().int(),
  expires_at: z.string(),
  expires_in: z.number().int(),
  server_time: z.number().int().meta({ description: 'Unix seconds: devices without a clock base their poll timestamps on it' }),
  activation_code: z.string().optional().meta({ description: 'Open path, new request: show it on the device, XXXX-XXXX' }),
  qr_payload: z.string().optional().meta({ description: 'Open path, new request: TDS:C1:<MAC>:<code>' }),
});

export const pollPendingResponse = z.object({ bootstrap_id: z.string(), status: z.literal('pending'), poll_interval: z.number().int(), expires_at: z.string() });

export const pollIssuedResponse = z.object({
  bootstrap_id: z.string(),
  status: z.literal('issued'),
  mac_address: z.string(),
  gateway_id: z.number().int(),
  codigo: z.string(),
  certificate_pem: z.string(),
  ca_pem: z.string(),
  serial_number: z.string(),
  expires_at: z.string(),
  mqtt_broker: z.string(),
  mqtt_port: z.number().int(),
  mqtt_topic: z.string(),
});

export const claimPreviewResponse = z.object({
  bootstrap_id: z.string(),
  status,
  path,
  mac_address: z.string(),
  model: z.string().nullable(),
  firmware_version: z.string().nullable(),
  key_fingerprint: z.string(),
  key_type: z.string(),
  requested_at: z.string(),
  source_ip: z.string().nullable(),
  expires_at: z.string(),
  birth_serial_number: z.string().nullable(),
  mac_available: z.boolean(),
  problem: z.string().nullable(),
});

export const claimResponse = z.object({
  gateway_id: z.number().int(),
  bootstrap_id: z.string(),
  status: z.literal('approved'),
  mac_address: z.string(),
  conta_id: z.number().int(),
  codigo: z.string(),
  nome: z.string(),
  serial_number: z.string(),
  expires_at: z.string(),
  download_url: z.string(),
});

export const claimRejectResponse = z.object({ bootstrap_id: z.string(), status: z.literal('rejected'), reason: z.string() });

export const birthResponse = z.object({
  mac_address: z.string(),
  serial_number: z.string(),
  birth_certificate_pem: z.string(),
  birth_ca_pem: z.string(),
  expires_at: z.string(),
  claim_secret: z.string().meta({ description: 'Shown once; only its hash is stored' }),
  label_qr: z.string(),
  server_url: z.string().optional(),
});

export const birthRevokeResponse = z.object({ mac_address: z.string(), serial_number: z.string(), revoked_at: z.string(), reason: z.string(), crl_number: z.number().int() });
