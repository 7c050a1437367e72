/** The zero-touch part of the OpenAPI document (docs/zero-touch.md §3): its schemas and paths. */
import type { z } from 'zod';
import * as b from './bootstrap-schemas.js';

type JsonObject = Record<string, unknown>;

/** Request (input) and response (output) schemas with their component ids. */
export const bootstrapSchemas: { input: [z.ZodType, string][]; output: [z.ZodType, string][] } = {
  input: [
    [b.nonceBody, 'BootstrapNonceRequest'],
    [b.bootstrapBody, 'BootstrapRequest'],
    [b.claimPreviewBody, 'ClaimPreviewRequest'],
    [b.claimBody, 'ClaimRequest'],
    [b.claimRejectBody, 'ClaimRejectRequest'],
    [b.birthBody, 'BirthIdentityRequest'],
    [b.birthRevokeBody, 'BirthRevokeRequest'],
  ],
  output: [
    [b.nonceResponse, 'BootstrapNonceResponse'],
    [b.bootstrapResponse, 'BootstrapResponse'],
    [b.pollPendingResponse, 'BootstrapPendingResponse'],
    [b.pollIssuedResponse, 'BootstrapIssuedResponse'],
    [b.claimPreviewResponse, 'ClaimPreviewResponse'],
    [b.claimResponse, 'ClaimResponse'],
    [b.claimRejectResponse, 'ClaimRejectResponse'],
    [b.birthResponse, 'BirthIdentityResponse'],
    [b.birthRevokeResponse, 'BirthRevokeResponse'],
  ],
};

const ref = (id: string): JsonObject => ({ $ref: `#/components/schemas/${id}` });
const json = (id: string): JsonObject => ({ content: { 'application/json': { schema: ref(id) } } });
const error = (description: string): JsonObject => ({ description, ...json('Error') });
const auth = [{ token: [] }];
const device = 'No token: the device. Errors carry details.code (docs/zero-touch.md §3.10).';

export function bootstrapOpenApiPaths(): JsonObject {
  return {
    '/gateways/bootstrap/nonce/': {
      post: {
        summary: `Attested path: a nonce (32 random bytes, 300 s, single use) for the birth key's signature. ${device}`,
        requestBody: { required: true, ...json('BootstrapNonceRequest') },
        responses: { '201': { description: 'nonce', ...json('BootstrapNonceResponse') }, '400': error('bad_request'), '404': error('no_birth_identity'), '429': error('too_many_nonces, rate_limited, busy (Retry-After)') },
      },
    },
    '/gateways/bootstrap/': {
      post: {
        summary: `A device asks to join: its MAC and a CSR for a key it made; bench-born devices add their birth certificate, a nonce and the birth key's signature over the nonce and the CSR's SHA-256; others get an activation code (open enrolment, off by default). ${device}`,
        requestBody: { required: true, ...json('BootstrapRequest') },
        responses: {
          '201': { description: 'a new pending request', ...json('BootstrapResponse') },
          '200': { description: "the same key's approved or issued request (a lost id found again)", ...json('BootstrapResponse') },
          '400': error('bad_request, csr_invalid'),
          '401': error('nonce_invalid, birth_certificate_invalid, attestation_invalid'),
          '403': error('open_enrolment_off, birth_certificate_revoked, birth_certificate_mac_mismatch'),
          '409': error('mac_has_identity (open path)'),
          '413': error('body over 40 KiB'),
          '429': error('too_many_pending, rate_limited, busy (Retry-After)'),
        },
      },
    },
    '/gateways/bootstrap/{bootstrap_id}/': {
      get: {
        summary: `Poll, signed with the CSR key: headers X-TDS-Timestamp (Unix s, ±300 s, increasing) and X-TDS-Signature (base64 over "tds-bootstrap-poll/1\\n<id>\\n<timestamp>"). ${device}`,
        parameters: [
          { name: 'bootstrap_id', in: 'path', required: true, schema: { type: 'string', pattern: '^[0-9a-f]{32}$' } },
          { name: 'X-TDS-Timestamp', in: 'header', required: true, schema: { type: 'string' } },
          { name: 'X-TDS-Signature', in: 'header', required: true, schema: { type: 'string' } },
        ],
        responses: {
          '200': { description: 'certificate, CA and broker (never a private key)', ...json('BootstrapIssuedResponse') },
          '202': { description: 'pending; Retry-After = poll_interval', ...json('BootstrapPendingResponse') },
          '401': error('signature_invalid, timestamp_invalid'),
          '404': error('not_found'),
          '410': error('expired or rejected: start again'),
          '429': error('slow_down (Retry-After), rate_limited'),
        },
      },
    },
    '/gateways/ativar/preview/': {
      post: {
        summary: 'What the server saw of the device named by its QR, its label typed by hand, or its code + the MAC on its housing (operator). Wrong codes count toward the lockout',
        security: auth,
        requestBody: { required: true, ...json('ClaimPreviewRequest') },
        responses: { '200': { description: 'preview', ...json('ClaimPreviewResponse') }, '400': error('validation'), '401': error('token'), '403': error('role'), '404': error('wrong code/secret (details.attempts_left), or the device has not asked yet'), '409': error('label already used'), '429': error('locked out (Retry-After)') },
      },
    },
    '/gateways/ativar/': {
      post: {
        summary: "Claim: approve the device for the token's account; its certificate is issued now (normal issuance path) and waits for the device's poll (operator)",
        security: auth,
        requestBody: { required: true, ...json('ClaimRequest') },
        responses: {
          '201': { description: 'approved', ...json('ClaimResponse') },
          '400': error('validation'),
          '401': error('token'),
          '403': error('role or conta_id'),
          '404': error('wrong code/secret (details.attempts_left), or the device has not asked yet'),
          '409': error('MAC not available (one account per MAC), label already used, request no longer pending or not the previewed one'),
          '429': error('locked out (Retry-After)'),
        },
      },
    },
    '/gateways/ativar/reject/': {
      post: {
        summary: 'Reject the request of the device named as for ativar/ (operator); the device gets 410',
        security: auth,
        requestBody: { required: true, ...json('ClaimRejectRequest') },
        responses: { '200': { description: 'rejected', ...json('ClaimRejectResponse') }, '400': error('validation'), '401': error('token'), '403': error('role'), '404': error('wrong code/secret'), '409': error('no longer pending'), '429': error('locked out') },
      },
    },
    '/gateways/birth/': {
      post: {
        summary: 'Bench: a birth identity (birth certificate from the birth CA + single-use claim secret, shown once) for a MAC (operator)',
        security: auth,
        requestBody: { required: true, ...json('BirthIdentityRequest') },
        responses: { '201': { description: 'issued', ...json('BirthIdentityResponse') }, '400': error('validation (details.field)'), '401': error('token'), '403': error('role'), '409': error('the MAC has a birth identity (send replace) or an operational certificate'), '503': error('no birth CA loaded') },
      },
    },
    '/gateways/birth/revoke/': {
      post: {
        summary: "Revoke the account's birth identity of a MAC; the birth CRL is re-signed first (operator, admin)",
        security: auth,
        requestBody: { required: true, ...json('BirthRevokeRequest') },
        responses: { '200': { description: 'revoked', ...json('BirthRevokeResponse') }, '400': error('validation'), '401': error('token'), '403': error('role'), '404': error('no birth identity of this account') },
      },
    },
    '/birth-ca.pem': { get: { summary: 'Birth CA certificate (never trusted by the broker)', responses: { '200': { description: 'PEM', content: { 'application/x-pem-file': {} } }, '429': error('rate limited') } } },
    '/birth-crl.pem': { get: { summary: 'Current birth CRL', responses: { '200': { description: 'PEM', content: { 'application/x-pem-file': {} } }, '429': error('rate limited') } } },
  };
}
