/** The OpenAPI 3.1 document, generated from the same zod schemas that validate requests. */
import { z } from 'zod';
import * as s from './schemas.js';
import { brokerOpenApiPaths, renewAskDeviceResponse } from '../broker/api-routes.js';
import { bootstrapOpenApiPaths, bootstrapSchemas } from './bootstrap-openapi.js';

type JsonObject = Record<string, unknown>;

function components(): JsonObject {
  const input = z.registry<{ id: string }>();
  input.add(s.provisionBody, { id: 'ProvisionRequest' });
  input.add(s.renewBody, { id: 'RenewRequest' });
  input.add(s.renewConfirmBody, { id: 'RenewConfirmRequest' });
  input.add(s.renewCancelBody, { id: 'RenewCancelRequest' });
  input.add(s.revokeBody, { id: 'RevokeRequest' });
  input.add(s.importJsonBody, { id: 'ImportRequest' });
  const output = z.registry<{ id: string }>();
  output.add(s.errorBody, { id: 'Error' });
  output.add(s.provisionResponse, { id: 'ProvisionResponse' });
  output.add(s.pendingRenewResponse, { id: 'PendingRenewResponse' });
  output.add(s.renewConfirmResponse, { id: 'RenewConfirmResponse' });
  output.add(s.renewCancelResponse, { id: 'RenewCancelResponse' });
  output.add(s.certificateSummary, { id: 'CertificateSummary' });
  output.add(s.gateway, { id: 'Gateway' });
  output.add(s.gatewayDetail, { id: 'GatewayDetail' });
  output.add(s.gatewayPage, { id: 'GatewayPage' });
  output.add(s.revokeResponse, { id: 'RevokeResponse' });
  output.add(s.importRow, { id: 'ImportRow' });
  output.add(s.importResponse, { id: 'ImportResponse' });
  output.add(s.auditEvent, { id: 'AuditEvent' });
  output.add(s.auditPage, { id: 'AuditPage' });
  output.add(s.deliverRenewResponse, { id: 'DeliverRenewResponse' });
  output.add(s.accountResponse, { id: 'Account' });
  output.add(s.tokenResponse, { id: 'ApiToken' });
  output.add(s.tokenCreatedResponse, { id: 'ApiTokenCreated' });
  output.add(s.whoAmIResponse, { id: 'WhoAmI' });
  input.add(s.accountBody, { id: 'AccountRequest' });
  input.add(s.tokenBody, { id: 'TokenRequest' });
  for (const [schema, id] of bootstrapSchemas.input) input.add(schema, { id });
  for (const [schema, id] of bootstrapSchemas.output) output.add(schema, { id });
  const uri = (id: string): string => `#/components/schemas/${id}`;
  const strip = (schemas: Record<string, JsonObject>): Record<string, JsonObject> =>
    Object.fromEntries(Object.entries(schemas).map(([k, v]) => [k, Object.fromEntries(Object.entries(v).filter(([key]) => key !== '$schema' && key !== 'id'))]));
  const a = z.toJSONSchema(input, { uri, io: 'input', unrepresentable: 'any' }) as { schemas: Record<string, JsonObject> };
  const b = z.toJSONSchema(output, { uri, io: 'output', unrepresentable: 'any' }) as { schemas: Record<string, JsonObject> };
  return { ...strip(a.schemas), ...strip(b.schemas) };
}

function queryParams(schema: z.ZodObject): JsonObject[] {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, JsonObject> };
  return Object.entries(json.properties ?? {}).map(([name, sch]) => ({ name, in: 'query', required: false, schema: sch }));
}

const ref = (id: string): JsonObject => ({ $ref: `#/components/schemas/${id}` });
const json = (id: string): JsonObject => ({ content: { 'application/json': { schema: ref(id) } } });
const errors = (...codes: number[]): JsonObject =>
  Object.fromEntries(codes.map((c) => [String(c), { description: ERROR_TEXT[c] ?? 'error', ...json('Error') }]));
const ERROR_TEXT: Record<number, string> = {
  400: 'validation failed (details.field names the input)',
  401: 'missing, invalid or revoked token',
  403: 'role or account not allowed',
  404: 'not found (also for other accounts\' objects)',
  409: 'MAC already has an active certificate / no active certificate',
  413: 'body too large',
  415: 'unsupported Content-Type',
  429: 'rate limited',
};
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } };
const auth = [{ token: [] }];

export function buildOpenApiDocument(version: string): JsonObject {
  return {
    openapi: '3.1.0',
    info: {
      title: 'TDS certificate-issuance API',
      version,
      description: 'Seed-compatible provisioning API. Authenticate with "Authorization: Token <token>". Errors are {error, details?}.',
    },
    servers: [{ url: '/api/v1' }],
    components: {
      securitySchemes: { token: { type: 'apiKey', in: 'header', name: 'Authorization', description: 'Token <token>' } },
      schemas: components(),
    },
    paths: {
      '/gateways/provision/': {
        post: {
          summary: 'Create a gateway and issue its certificate (operator)',
          security: auth,
          requestBody: { required: true, ...json('ProvisionRequest') },
          responses: { '201': { description: 'issued', ...json('ProvisionResponse') }, ...errors(400, 401, 403, 409, 413, 415, 429) },
        },
      },
      '/gateways/': {
        get: {
          summary: "List the account's gateways (any role)",
          security: auth,
          parameters: queryParams(s.gatewayListQuery),
          responses: { '200': { description: 'page', ...json('GatewayPage') }, ...errors(400, 401, 403, 429) },
        },
      },
      '/gateways/{id}/': {
        get: {
          summary: 'A gateway with its certificates (any role)',
          security: auth,
          parameters: [idParam],
          responses: { '200': { description: 'gateway', ...json('GatewayDetail') }, ...errors(400, 401, 404, 429) },
        },
      },
      '/gateways/{id}/certificados/': {
        get: {
          summary: 'ZIP with client.crt, ca.crt, README.txt (+ client.key once, after a CSV import) (operator)',
          security: auth,
          parameters: [idParam],
          responses: { '200': { description: 'ZIP', content: { 'application/zip': {} } }, ...errors(400, 401, 403, 404, 409, 429) },
        },
      },
      '/gateways/{id}/revoke/': {
        post: {
          summary: 'Revoke the active certificate; the CRL is re-signed before the response (operator, admin)',
          security: auth,
          parameters: [idParam],
          requestBody: { required: true, ...json('RevokeRequest') },
          responses: { '200': { description: 'revoked', ...json('RevokeResponse') }, ...errors(400, 401, 403, 404, 409, 429) },
        },
      },
      '/gateways/{id}/renew/': {
        post: {
          summary:
            'New certificate (from a CSR, or server-made key); the old one is revoked as superseded (operator). With "pending": true the new one waits for renew/confirm/ and the old one stays valid until then; an earlier unconfirmed one is replaced (revoked). A plain renew also revokes a pending one',
          security: auth,
          parameters: [idParam],
          requestBody: { required: false, ...json('RenewRequest') },
          responses: {
            '201': {
              description: 'issued (with "pending": true, a PendingRenewResponse: the ProvisionResponse fields plus status "pending" and replaces_serial_number)',
              content: { 'application/json': { schema: { oneOf: [ref('ProvisionResponse'), ref('PendingRenewResponse'), ref('DeliverRenewResponse')] } } },
            },
            '202': renewAskDeviceResponse,
            ...errors(400, 401, 403, 404, 409, 429),
          },
        },
      },
      '/gateways/{id}/renew/confirm/': {
        post: {
          summary:
            'The pending certificate (renew with "pending") has been seen working: it becomes active, the previous one is revoked (superseded) and the CRL re-signed before the answer. Idempotent (operator)',
          security: auth,
          parameters: [idParam],
          requestBody: { required: true, ...json('RenewConfirmRequest') },
          responses: {
            '200': { description: 'active', ...json('RenewConfirmResponse') },
            ...errors(400, 401, 403, 429),
            '404': { description: 'no such gateway (also another account\'s) or no certificate with that serial on it', ...json('Error') },
            '409': { description: 'the certificate is not pending (revoked, cancelled, expired)', ...json('Error') },
          },
        },
      },
      '/gateways/{id}/renew/cancel/': {
        post: {
          summary:
            'Abandon a pending certificate (failed install): it is revoked (cessationOfOperation), the active one stays; the CRL is re-signed before the answer. Idempotent with serial_number (operator)',
          security: auth,
          parameters: [idParam],
          requestBody: { required: false, ...json('RenewCancelRequest') },
          responses: {
            '200': { description: 'revoked', ...json('RenewCancelResponse') },
            ...errors(400, 401, 403, 429),
            '404': { description: 'no such gateway (also another account\'s) or no certificate with that serial on it', ...json('Error') },
            '409': { description: 'nothing pending, or the certificate is already active (confirmed) or revoked for another reason', ...json('Error') },
          },
        },
      },
      ...brokerOpenApiPaths(),
      ...bootstrapOpenApiPaths(),
      '/gateways/import/': {
        post: {
          summary: 'CSV "mac_address,codigo,nome": all rows or none (operator)',
          security: auth,
          parameters: queryParams(s.importQuery),
          requestBody: { required: true, content: { 'text/csv': { schema: { type: 'string' } }, 'application/json': { schema: ref('ImportRequest') } } },
          responses: { '201': { description: 'imported', ...json('ImportResponse') }, ...errors(400, 401, 403, 409, 413, 429) },
        },
      },
      '/audit/': {
        get: {
          summary: "The account's audit events, newest first (admin, auditor)",
          security: auth,
          parameters: queryParams(s.auditListQuery),
          responses: { '200': { description: 'page', ...json('AuditPage') }, ...errors(400, 401, 403, 429) },
        },
      },
      '/audit/export.csv': {
        get: {
          summary: 'The filtered audit log as CSV (cells starting with = + - @ tab CR get a leading apostrophe); X-Total-Count, X-Truncated past 100,000 rows (admin, auditor)',
          security: auth,
          parameters: queryParams(s.auditFilterQuery),
          responses: { '200': { description: 'CSV', content: { 'text/csv': {} } }, ...errors(400, 401, 403, 429) },
        },
      },
      '/whoami/': {
        get: { summary: 'The calling token: its id, account, role and whether it is a server admin (any role); not audited', security: auth, responses: { '200': { description: 'the token', ...json('WhoAmI') }, ...errors(401, 429) } },
      },
      '/accounts/': {
        get: { summary: "Accounts: the token's own; a server admin's: all (admin)", security: auth, responses: { '200': { description: 'accounts', content: { 'application/json': { schema: { type: 'array', items: ref('Account') } } } }, ...errors(401, 403, 429) } },
        post: { summary: 'Create an account (server admin)', security: auth, requestBody: { required: true, ...json('AccountRequest') }, responses: { '201': { description: 'created', ...json('Account') }, ...errors(400, 401, 403, 429) } },
      },
      '/accounts/{id}/': {
        patch: { summary: 'Rename an account: its own (admin), any (server admin)', security: auth, parameters: [idParam], requestBody: { required: true, ...json('AccountRequest') }, responses: { '200': { description: 'renamed', ...json('Account') }, ...errors(400, 401, 403, 404, 429) } },
      },
      '/tokens/': {
        get: { summary: "API tokens without secrets: the account's (admin); any account's (server admin)", security: auth, parameters: queryParams(s.tokenListQuery), responses: { '200': { description: 'tokens', content: { 'application/json': { schema: { type: 'array', items: ref('ApiToken') } } } }, ...errors(400, 401, 403, 404, 429) } },
        post: { summary: 'Create a token with a role; the secret is in this answer only (admin; another account or server_admin: server admin)', security: auth, requestBody: { required: true, ...json('TokenRequest') }, responses: { '201': { description: 'created', ...json('ApiTokenCreated') }, ...errors(400, 401, 403, 404, 429) } },
      },
      '/tokens/{id}/revoke/': {
        post: { summary: 'Revoke a token at once (admin: own account; server admin: any)', security: auth, parameters: [idParam], responses: { '200': { description: 'revoked', ...json('ApiToken') }, ...errors(400, 401, 403, 404, 409, 429) } },
      },
      '/crl/': {
        get: { summary: "The CRL's number, thisUpdate, nextUpdate, revoked count; server admins also see the last publication to each broker (admin)", security: auth, responses: { '200': { description: 'CRL state', content: { 'application/json': { schema: { type: 'object' } } } }, ...errors(401, 403, 429) } },
      },
      '/broker/': {
        get: { summary: 'The brokers this server feeds (Mosquitto kit, embedded) and the last publication and reload of each (server admin)', security: auth, responses: { '200': { description: 'broker state', content: { 'application/json': { schema: { type: 'object' } } } }, ...errors(401, 403, 429) } },
      },
      '/gateways/{id}/presence/': {
        get: { summary: "A gateway's online/offline transitions and its uptime over [since, until) (default: the last 7 days) (any role)", security: auth, parameters: [idParam, ...queryParams(s.presenceQuery)], responses: { '200': { description: 'history', content: { 'application/json': { schema: { type: 'object' } } } }, ...errors(400, 401, 403, 404, 429) } },
      },
      '/ca.pem': { get: { summary: 'CA certificate', responses: { '200': { description: 'PEM', content: { 'application/x-pem-file': {} } }, ...errors(429) } } },
      '/crl.pem': { get: { summary: 'Current CRL (v2, CRL Number)', responses: { '200': { description: 'PEM', content: { 'application/x-pem-file': {} } }, ...errors(429) } } },
      '/openapi.json': { get: { summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1' } } } },
    },
  };
}
