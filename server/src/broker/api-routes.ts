/**
 * REST endpoints of the MQTT side, registered into the API by buildApp:
 * - `GET gateways/{id}/telemetry/?since=&after_id=&limit=`: stored readings, oldest first;
 * - `GET gateways/{id}/telemetry/latest/?since=&per_series=`: each series' newest readings;
 * - the "ask the device" path of `POST gateways/{id}/renew/` (`{"ask_device": true}` → 202): the
 *   server sends `cert_renew` over MQTT and the device renews itself (ADR-004).
 * Same rules as every other route: token auth, role check, another account's gateway is a 404.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { TELEMETRY_MAX_SERIES, type RenewRequestedResponse, type TelemetryLatestResponse, type TelemetryReading, type TelemetryResponse } from '../contract/api.js';
import type { TelemetryReadingRecord } from '../mqtt/store.js';
import { isoSeconds } from '../service/clock.js';
import { ValidationError } from '../service/errors.js';
import type { Actor, IssuanceServices } from '../service/issuance.js';
import { StateError, type Repository } from '../store/repository.js';
import type { BrokerStatus } from './publication-log.js';
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
  /** The brokers this server feeds and the last publication to each (admin console). */
  status(): Promise<BrokerStatus>;
}

export function brokerApiHooks(deps: BrokerRouteDeps): BrokerApiHooks {
  return {
    extraRoutes: (app, helpers) => registerBrokerRoutes(app, deps, helpers.actor),
    askDeviceToRenew: (who, id) => askDeviceToRenew(deps, who, id),
    status: () => deps.broker.status(),
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
const latestQuery = z.object({
  since: sinceField.optional(),
  per_series: z.coerce.number().int().min(1).max(500).optional(),
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
      results: rows.map(readingWire),
      next: rows.length === limit && last ? { since: last.receivedAt, after_id: last.id } : null,
    };
  });

  app.get(`${deps.prefix}/gateways/:id/telemetry/latest/`, async (request): Promise<TelemetryLatestResponse> => {
    const who = await actor(request);
    const { id } = parse(idParams, request.params);
    const q = parse(latestQuery, request.query);
    const { gateway } = await deps.service.queries.getGateway(who, id);
    const since = q.since ?? new Date(Date.now() - DAY_MS);
    const series = await deps.broker.store.latestTelemetry(id, since, q.per_series ?? 60, TELEMETRY_MAX_SERIES);
    return {
      gateway_id: id,
      mac_address: gateway.mac,
      since: since.toISOString(),
      series: series.map((x) => ({ slave_id: x.slaveId, register: x.register, unidade: x.unidade, results: x.readings.map(readingWire) })),
    };
  });
}

function readingWire(r: TelemetryReadingRecord): TelemetryReading {
  return {
    id: r.id,
    timestamp: r.measuredAt,
    received_at: r.receivedAt,
    valor: r.valor,
    unidade: r.unidade,
    slave_id: r.slaveId,
    register: r.register,
    firmware_version: r.firmwareVersion,
  };
}

/** OpenAPI entries of the routes above (merged into the document by api/openapi.ts). */
export function brokerOpenApiPaths(): Record<string, unknown> {
  const err = { description: 'error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
  /** A telemetry read: the gateway id, `since`, the route's own query parameters, any role of the account. */
  const telemetryGet = (summary: string, query: Record<string, unknown>[], answer: string) => ({
    get: {
      summary: `${summary} (operator, admin, auditor)`,
      security: [{ token: [] }],
      parameters: [
        { name: 'id', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } },
        { name: 'since', in: 'query', required: false, schema: { type: 'string', description: 'ISO 8601 time or epoch seconds' } },
        ...query,
      ],
      responses: {
        '200': { description: answer, content: { 'application/json': { schema: { type: 'object' } } } },
        '400': err,
        '401': err,
        '403': err,
        '404': err,
        '429': err,
      },
    },
  });
  return {
    '/gateways/{id}/telemetry/': telemetryGet(
      'Stored telemetry of a gateway, oldest first, received at or after `since` (default: last 24 h)',
      [
        { name: 'after_id', in: 'query', required: false, schema: { type: 'integer', minimum: 0, description: 'from `next` of the previous page' } },
        { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 10_000, default: 1_000 } },
      ],
      '{gateway_id, mac_address, since, count, results: [{id, timestamp, received_at, valor, unidade, slave_id, register, firmware_version}], next: {since, after_id} | null}',
    ),
    '/gateways/{id}/telemetry/latest/': telemetryGet(
      `Each series' (slave_id, register, unidade) newest readings received at or after \`since\` (default: last 24 h), at most ${TELEMETRY_MAX_SERIES} series`,
      [{ name: 'per_series', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 500, default: 60 } }],
      '{gateway_id, mac_address, since, series: [{slave_id, register, unidade, results: [reading as in telemetry/, oldest first]}]}',
    ),
  };
}

/** The 202 answer of `renew/` with `{"ask_device": true}`. */
export const renewAskDeviceResponse = {
  description: 'ask_device: cert_renew sent to the device over MQTT; {gateway_id, mac_address, status: "requested", command_id}',
  content: { 'application/json': { schema: { type: 'object' } } },
};
