/**
 * REST endpoints of the MQTT side, registered into the API by buildApp:
 * - `GET gateways/{id}/telemetry/?since=&after_id=&limit=`: stored readings, oldest first;
 * - the "ask the device" path of `POST gateways/{id}/renew/` (`{"ask_device": true}` → 202): the
 *   server sends `cert_renew` over MQTT and the device renews itself (ADR-004).
 * Same rules as every other route: token auth, role check, another account's gateway is a 404.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { RenewRequestedResponse, TelemetryResponse } from '../contract/api.js';
import { isoSeconds } from '../service/clock.js';
import { ValidationError } from '../service/errors.js';
import type { Actor, IssuanceServices } from '../service/issuance.js';
import { StateError, type Repository } from '../store/repository.js';
import type { BrokerServices } from './services.js';

export interface BrokerRouteDeps {
  service: IssuanceServices;
  repo: Repository;
  broker: BrokerServices;
  prefix: string;
}

/** What buildApp takes: extra routes, and the handler of `renew/` with `ask_device: true`. */
export interface BrokerApiHooks {
  extraRoutes(app: FastifyInstance, helpers: { actor(request: FastifyRequest): Promise<Actor> }): void;
  askDeviceToRenew(who: Actor, gatewayId: number): Promise<RenewRequestedResponse>;
}

export function brokerApiHooks(deps: BrokerRouteDeps): BrokerApiHooks {
  return {
    extraRoutes: (app, helpers) => registerBrokerRoutes(app, deps, helpers.actor),
    askDeviceToRenew: (who, id) => askDeviceToRenew(deps, who, id),
  };
}

const DAY_MS = 86_400_000;

const sinceField = z
  .string()
  .max(40)
  .transform((v, ctx) => {
    const ms = /^\d{1,13}$/.test(v) ? (v.length <= 10 ? Number(v) * 1000 : Number(v)) : Date.parse(v);
    if (!Number.isFinite(ms)) {
      ctx.addIssue({ code: 'custom', message: 'since must be an ISO 8601 time (e.g. 2026-01-31T12:00:00Z) or epoch seconds' });
      return z.NEVER;
    }
    return new Date(ms);
  });

const telemetryQuery = z.object({
  since: sinceField.optional(),
  after_id: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).optional(),
});
const idParams = z.object({ id: z.coerce.number().int().min(1).max(2 ** 31) });

function parse<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const r = schema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    const field = issue?.path.join('.') || undefined;
    throw new ValidationError(field, `${field ? `${field}: ` : ''}${issue?.message ?? 'invalid'}`);
  }
  return r.data;
}

/** `renew/` with `ask_device: true`. */
export async function askDeviceToRenew(deps: BrokerRouteDeps, who: Actor, gatewayId: number): Promise<RenewRequestedResponse> {
  await deps.service.core.authorize(who, 'renew', `gateway:${gatewayId}`);
  const { gateway } = await deps.service.queries.getGateway(who, gatewayId);
  if (!gateway.activeCertificate) throw new StateError(`gateway ${gatewayId} has no active certificate to renew; provision it first`);
  const broker = deps.broker;
  if (!broker.mqtt?.client.connected) {
    throw new StateError('the server is not connected to the MQTT broker (start it with --broker or --mqtt-url), so it cannot ask the device; send csr_pem instead');
  }
  const commandId = await broker.requestRenewal(gateway.mac);
  await deps.repo.appendAudit({
    at: isoSeconds(),
    accountId: who.accountId,
    actor: who.label,
    action: 'certificate.renew_request',
    object: `gateway:${gatewayId}`,
    sourceIp: who.sourceIp,
    result: 'ok',
    detail: `cert_renew sent to ${gateway.mac} (command ${commandId})`,
  });
  return { gateway_id: gatewayId, mac_address: gateway.mac, status: 'requested', command_id: commandId };
}

export function registerBrokerRoutes(app: FastifyInstance, deps: BrokerRouteDeps, actor: (request: FastifyRequest) => Promise<Actor>): void {
  app.get(`${deps.prefix}/gateways/:id/telemetry/`, async (request): Promise<TelemetryResponse> => {
    const who = await actor(request);
    const { id } = parse(idParams, request.params);
    const q = parse(telemetryQuery, request.query);
    const { gateway } = await deps.service.queries.getGateway(who, id);
    const since = q.since ?? new Date(Date.now() - DAY_MS);
    const limit = q.limit ?? 1_000;
    const rows = await deps.broker.store.listTelemetry(id, since, limit, q.after_id ?? 0);
    const last = rows.at(-1);
    return {
      gateway_id: id,
      mac_address: gateway.mac,
      since: since.toISOString(),
      count: rows.length,
      results: rows.map((r) => ({
        id: r.id,
        timestamp: r.measuredAt,
        received_at: r.receivedAt,
        valor: r.valor,
        unidade: r.unidade,
        slave_id: r.slaveId,
        register: r.register,
        firmware_version: r.firmwareVersion,
      })),
      next: rows.length === limit && last ? { since: last.receivedAt, after_id: last.id } : null,
    };
  });
}

/** OpenAPI entries of the routes above (merged into the document by api/openapi.ts). */
export function brokerOpenApiPaths(): Record<string, unknown> {
  const err = { description: 'error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
  return {
    '/gateways/{id}/telemetry/': {
      get: {
        summary: 'Stored telemetry of a gateway, oldest first, received at or after `since` (default: last 24 h) (operator, admin, auditor)',
        security: [{ token: [] }],
        parameters: [
          { name: 'id', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } },
          { name: 'since', in: 'query', required: false, schema: { type: 'string', description: 'ISO 8601 time or epoch seconds' } },
          { name: 'after_id', in: 'query', required: false, schema: { type: 'integer', minimum: 0, description: 'from `next` of the previous page' } },
          { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 10_000, default: 1_000 } },
        ],
        responses: {
          '200': {
            description: '{gateway_id, mac_address, since, count, results: [{id, timestamp, received_at, valor, unidade, slave_id, register, firmware_version}], next: {since, after_id} | null}',
            content: { 'application/json': { schema: { type: 'object' } } },
          },
          '400': err,
          '401': err,
          '403': err,
          '404': err,
          '429': err,
        },
      },
    },
  };
}

/** The 202 answer of `renew/` with `{"ask_device": true}`. */
export const renewAskDeviceResponse = {
  description: 'ask_device: cert_renew sent to the device over MQTT; {gateway_id, mac_address, status: "requested", command_id}',
  content: { 'application/json': { schema: { type: 'object' } } },
};
