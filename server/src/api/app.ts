/**
 * The REST API (the seed's `/api/v1` contract, docs/server.md) on Fastify. Thin: authenticate, validate with zod at the boundary,
 * call the issuance service, map the result to the seed's wire shapes, map errors to
 * `{error, details?}` with the right status.
 */
import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { TokenUnavailableError } from '../ca/pkcs11/errors.js';
import { MacConflictError, NotFoundError, StateError, StoreUnavailableError, type Repository } from '../store/repository.js';
import type { Cluster } from '../store/cluster.js';
import type { RateCounters } from '../store/counters.js';
import { DeviceError, ForbiddenError, TooManyRequestsError, UnauthorizedError, UnavailableError, ValidationError } from '../service/errors.js';
import { WrongClaimError } from '../service/claims.js';
import { firstIssue } from '../service/fields.js';
import { ImportRejectedError, type Actor, type IssuanceServices } from '../service/issuance.js';
import type { CrlPublisher } from '../service/crl-publisher.js';
import { authenticate, FailureLimiter } from './auth.js';
import { registerHealthRoutes, type HealthDeps } from './health.js';
import { auditFilter, registerAdminRoutes } from './admin-routes.js';
import { registerBootstrapRoutes } from './bootstrap-routes.js';
import { DEFAULT_GATE, DeviceGate, whenClosed } from './device-gate.js';
import { buildOpenApiDocument } from './openapi.js';
import { counterStore } from './rate-limit-store.js';
import type { ReadinessReport } from './readiness.js';
import * as s from './schemas.js';
import { parse } from './validate.js';
import { auditWire, cancelWire, confirmWire, deliveryWire, gatewayDetailWire, gatewayWire, pendingRenewWire, provisionWire } from './wire.js';
import type { Logger } from '../util/logger.js';
import type { BrokerApiHooks } from '../broker/api-routes.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A zero-touch device endpoint: it waits for the gaps between the other requests (device-gate.ts). */
    device?: boolean;
  }
}

export const API_PREFIX = '/api/v1';
export const JSON_BODY_LIMIT = 64 * 1024;
export const IMPORT_BODY_LIMIT = 2 * 1024 * 1024;

export interface AppOptions {
  service: IssuanceServices;
  repo: Repository;
  crl: CrlPublisher;
  mqtt: { broker: string; port: number };
  /** Failed authentications allowed per source address and window before 429. */
  authFailures: { max: number; windowMs: number };
  /** Requests per source address and window on unauthenticated endpoints. */
  publicRateLimit: { max: number; windowMs: number };
  /** Where both limits count (shared by every instance on PostgreSQL), and the instances' channel for lockouts. */
  limits: { counters: RateCounters; cluster?: Cluster };
  /** `/readyz`; without it, ready whenever the process answers. */
  readiness?: () => Promise<ReadinessReport>;
  trustProxy: boolean;
  https?: { key: string; cert: string };
  logger: Logger;
  version: string;
  /** Routes of the broker side (telemetry) and the "ask the device" renew path (broker/api-routes.ts). */
  broker?: BrokerApiHooks;
  /** `/healthz` (api/health.ts). */
  health?: HealthDeps;
}

interface HttpProblem {
  status: number;
  body: { error: string; details?: Record<string, unknown> };
  headers?: Record<string, string>;
}

function problemFor(err: unknown, logger: Logger): HttpProblem {
  if (err instanceof ValidationError) return { status: 400, body: { error: err.message, details: { ...(err.field ? { field: err.field } : {}), ...err.extra } } };
  if (err instanceof z.ZodError) {
    const i = firstIssue(err);
    return { status: 400, body: { error: i.field ? `${i.field}: ${i.message}` : i.message, ...(i.field ? { details: { field: i.field } } : {}) } };
  }
  if (err instanceof DeviceError) {
    const { field, retryAfterSeconds, details } = err.extra;
    return {
      status: err.status,
      body: { error: err.message, details: { code: err.code, ...(field ? { field } : {}), ...(details ?? {}) } },
      ...(retryAfterSeconds !== undefined ? { headers: { 'retry-after': String(retryAfterSeconds) } } : {}),
    };
  }
  if (err instanceof WrongClaimError) return { status: 404, body: { error: err.message, details: { field: err.field, attempts_left: err.attemptsLeft } } };
  if (err instanceof UnavailableError) return { status: 503, body: { error: err.message } };
  if (err instanceof UnauthorizedError) return { status: 401, body: { error: err.message }, headers: { 'www-authenticate': 'Token' } };
  if (err instanceof ForbiddenError) return { status: 403, body: { error: err.message, ...(err.field ? { details: { field: err.field } } : {}) } };
  if (err instanceof NotFoundError) return { status: 404, body: { error: err.message } };
  if (err instanceof MacConflictError) return { status: 409, body: { error: err.message, details: { field: 'mac_address' } } };
  if (err instanceof StateError) return { status: 409, body: { error: err.message } };
  if (err instanceof ImportRejectedError) {
    return {
      status: err.status,
      body: {
        error: err.message,
        details: { field: 'csv', rows: err.rows.map((r) => (r.status === 'ok' ? { line: r.line, mac_address: r.mac_address, status: 'not_imported' } : { ...r })) },
      },
    };
  }
  if (err instanceof TooManyRequestsError) return { status: 429, body: { error: err.message }, headers: { 'retry-after': String(err.retryAfterSeconds) } };
  if (err instanceof TokenUnavailableError) {
    logger.error('CA key unavailable', { error: err.message });
    return { status: 503, body: { error: 'the CA key is unavailable right now; retry shortly' }, headers: { 'retry-after': '5' } };
  }
  if (err instanceof StoreUnavailableError) {
    logger.error('database unavailable', { error: err.detail });
    return { status: 503, body: { error: err.message }, headers: { 'retry-after': '5' } };
  }
  const fe = err as Partial<FastifyError> & { statusCode?: number };
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, body: { error: 'the request body is too large' } };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, body: { error: 'unsupported Content-Type: send application/json (or text/csv to gateways/import/)' } };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, body: { error: 'the request body is empty; send a JSON object' } };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { status: 400, body: { error: 'the request body is not valid JSON' } };
    default:
  }
  if (fe.statusCode === 429) {
    const text = (err as { error?: unknown }).error;
    return { status: 429, body: { error: typeof text === 'string' ? text : (fe.message ?? 'too many requests') } };
  }
  if (err instanceof SyntaxError || (fe.statusCode === 400 && fe.code === undefined)) {
    return { status: 400, body: { error: `the request body is not valid JSON${fe.message?.includes('prototype') ? ' (forbidden __proto__/constructor key)' : ''}` } };
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, body: { error: fe.message ?? 'bad request' } };
  }
  logger.error('unexpected error', { error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
  return { status: 500, body: { error: 'internal server error; see the server log' } };
}

function pageUrls(request: FastifyRequest, page: number, pageSize: number, count: number): { next: string | null; previous: string | null } {
  const base = new URL(request.url, `${request.protocol}://${request.host}`);
  const at = (p: number): string => {
    const u = new URL(base);
    u.searchParams.set('page', String(p));
    u.searchParams.set('page_size', String(pageSize));
    return u.toString();
  };
  return { next: page * pageSize < count ? at(page + 1) : null, previous: page > 1 ? at(page - 1) : null };
}

export async function buildApp(o: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    bodyLimit: JSON_BODY_LIMIT,
    trustProxy: o.trustProxy,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 100 },
    ...(o.https ? { https: { key: o.https.key, cert: o.https.cert, minVersion: 'TLSv1.2' as const } } : {}),
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;

  const limiter = new FailureLimiter(o.authFailures.max, o.authFailures.windowMs, o.limits.counters, o.limits.cluster);
  // Device requests (routes with `config.device`) and new TLS connections wait for the gaps between the others.
  const gate = new DeviceGate({ ...DEFAULT_GATE, ratePerSecond: o.service.core.settings.bootstrap.admissionPerSecond });
  if (o.https) gate.gateConnections(app.server);
  app.addHook('onRequest', (request, reply, done) => {
    if (request.routeOptions.config?.device !== true) whenClosed(reply.raw, gate.enterPriority());
    done();
  });
  const openapi = buildOpenApiDocument(o.version);

  await app.register(rateLimit, {
    global: false,
    store: counterStore(o.limits.counters),
    // The public files stay available while the shared counters cannot be reached.
    skipOnError: true,
    errorResponseBuilder: (_req, ctx) => ({
      statusCode: 429,
      error: `too many requests to this public endpoint; retry in ${Math.ceil(ctx.ttl / 1000)} s`,
    }),
  });
  const publicLimit = { rateLimit: { max: o.publicRateLimit.max, timeWindow: o.publicRateLimit.windowMs } };

  // JSON with the failure reasons kept (Fastify's own parser folds them into one message), and
  // prototype-pollution keys refused.
  app.removeContentTypeParser('application/json');
  // Fastify parses text/plain everywhere by default; text is for the CSV import only (below).
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(new ValidationError(undefined, 'the request body is empty; send a JSON object'), undefined);
    try {
      done(
        null,
        JSON.parse(text, (key, value: unknown) => {
          if (key === '__proto__' || key === 'constructor') throw new ValidationError(undefined, `the request body contains the forbidden key "${key}"`);
          return value;
        }),
      );
    } catch (err) {
      done(err instanceof ValidationError ? err : new ValidationError(undefined, 'the request body is not valid JSON'), undefined);
    }
  });

  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('cache-control', 'no-store');
    return payload;
  });

  app.setErrorHandler((err, _request, reply) => {
    const p = problemFor(err, o.logger);
    if (p.headers) reply.headers(p.headers);
    return reply.status(p.status).send(p.body);
  });
  app.setNotFoundHandler((request, reply) => reply.status(404).send({ error: `no such endpoint: ${request.method} ${request.url.split('?')[0]}` }));

  const actor = (request: FastifyRequest): Promise<Actor> => authenticate(request, o.repo, limiter);
  const pem = (reply: FastifyReply, text: string): FastifyReply => reply.type('application/x-pem-file').send(text);

  // ---------------------------------------------------------------- public
  app.get(`${API_PREFIX}/ca.pem`, { config: publicLimit }, async (_req, reply) => pem(reply, o.service.core.caPem));
  app.get(`${API_PREFIX}/crl.pem`, { config: publicLimit }, async (_req, reply) => pem(reply, (await o.crl.ensureFresh()).pem));
  app.get(`${API_PREFIX}/openapi.json`, { config: publicLimit }, async () => openapi);
  app.get(`${API_PREFIX}/health`, { config: publicLimit }, async () => ({ status: 'ok' }));
  // For a load balancer (not rate-limited: it polls them): liveness, and readiness to take traffic.
  if (o.health) registerHealthRoutes(app, o.health);
  else app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const r = o.readiness ? await o.readiness() : { ready: true, draining: false, checks: {} };
    return reply.status(r.ready ? 200 : 503).send({ status: r.ready ? 'ready' : r.draining ? 'draining' : 'unavailable', checks: r.checks });
  });

  // ---------------------------------------------------------------- gateways
  app.post(`${API_PREFIX}/gateways/provision/`, async (request, reply) => {
    const who = await actor(request);
    const body = parse(s.provisionBody, request.body);
    if (body.conta_id !== who.accountId) {
      await o.service.core.authorize(who, 'provision');
      throw new ForbiddenError(`this token cannot act for conta_id ${body.conta_id}; it belongs to conta_id ${who.accountId}`, 'conta_id');
    }
    const raw = (request.body as { mac_address?: unknown }).mac_address;
    const notices = typeof raw === 'string' && raw !== body.mac_address ? [`mac_address '${raw}' was normalised to ${body.mac_address}`] : [];
    const outcome = await o.service.provisioning.provision(who, {
      mac: body.mac_address,
      codigo: body.codigo,
      nome: body.nome,
      notices,
      ...(body.csr_pem !== undefined ? { csrPem: body.csr_pem } : {}),
      ...(body.key_type ? { keyType: body.key_type } : {}),
      ...(body.key_origin ? { keyOrigin: body.key_origin } : {}),
    });
    return reply.status(201).send(provisionWire(outcome, o.service.core.caPem, o.mqtt));
  });

  app.get(`${API_PREFIX}/gateways/`, async (request) => {
    const who = await actor(request);
    const q = parse(s.gatewayListQuery, request.query);
    if (q.conta_id !== undefined && q.conta_id !== who.accountId) {
      await o.service.core.authorize(who, 'read');
      throw new ForbiddenError(`this token cannot list conta_id ${q.conta_id}; it belongs to conta_id ${who.accountId}`, 'conta_id');
    }
    const page = q.page ?? 1;
    const pageSize = q.page_size ?? 50;
    const { count, rows } = await o.service.queries.listGateways(who, {
      limit: pageSize,
      offset: (page - 1) * pageSize,
      ...(q.search !== undefined ? { search: q.search } : {}),
      ...(q.mac !== undefined ? { mac: q.mac } : {}),
      ...(q.codigo !== undefined ? { codigo: q.codigo } : {}),
      ...(q.is_online !== undefined ? { isOnline: q.is_online } : {}),
      ...(q.expires_within_days !== undefined ? { expiresBefore: o.service.core.at(q.expires_within_days * 86_400_000) } : {}),
    });
    return { count, ...pageUrls(request, page, pageSize, count), results: rows.map(gatewayWire) };
  });

  // CSV text is accepted only here (2 MiB): every other route parses JSON alone, within 64 KiB, and
  // answers 415 to text. The parser lives in this route's own Fastify scope.
  await app.register(async (scope) => {
    scope.addContentTypeParser(['text/csv', 'text/plain'], { parseAs: 'string', bodyLimit: IMPORT_BODY_LIMIT }, (_req, body, done) => done(null, body));
    scope.post(`${API_PREFIX}/gateways/import/`, { bodyLimit: IMPORT_BODY_LIMIT }, async (request, reply) => {
      const who = await actor(request);
      let csv: string;
      let keyType = parse(s.importQuery, request.query).key_type;
      if (typeof request.body === 'string') csv = request.body;
      else {
        const body = parse(s.importJsonBody, request.body);
        csv = body.csv;
        keyType = body.key_type ?? keyType;
      }
      const outcome = await o.service.imports.importCsv(who, csv, keyType);
      return reply.status(201).send({
        created: outcome.rows.length,
        failed: 0,
        rows: outcome.rows.map((r) => ({ line: r.line, mac_address: r.mac, status: 'created', gateway_id: r.gatewayId, serial_number: r.serialNumber, expires_at: r.expiresAt })),
      });
    });
  });

  app.get(`${API_PREFIX}/gateways/:id/`, async (request) => {
    const who = await actor(request);
    const { id } = parse(s.idParams, request.params);
    const { gateway, certificates, keyWaiting } = await o.service.queries.getGateway(who, id);
    const [delivery] = await o.service.deliveries.open({ gatewayId: id });
    return { ...gatewayDetailWire(gateway, certificates, keyWaiting), renewal_delivery: delivery ? deliveryWire(delivery) : null };
  });

  app.get(`${API_PREFIX}/gateways/:id/certificados/`, async (request, reply) => {
    const who = await actor(request);
    const { id } = parse(s.idParams, request.params);
    const { filename, zip } = await o.service.exports.downloadZip(who, id);
    return reply
      .type('application/zip')
      .header('content-disposition', `attachment; filename="${filename}"`)
      .send(Buffer.from(zip.buffer, zip.byteOffset, zip.byteLength));
  });

  app.post(`${API_PREFIX}/gateways/:id/revoke/`, async (request) => {
    const who = await actor(request);
    const { id } = parse(s.idParams, request.params);
    const body = parse(s.revokeBody, request.body);
    const { revoked, crlNumber } = await o.service.revocation.revoke(who, id, body.reason);
    return {
      gateway_id: id,
      revoked: revoked.map((c) => ({ serial_number: c.serialNumber, revoked_at: c.revokedAt ?? '', reason: c.revokeReason ?? 'unspecified' })),
      crl_number: crlNumber,
    };
  });

  app.post(`${API_PREFIX}/gateways/:id/renew/`, async (request, reply) => {
    const who = await actor(request);
    const { id } = parse(s.idParams, request.params);
    const body = parse(s.renewBody, request.body ?? {});
    if (body.deliver) {
      if (body.csr_pem !== undefined || body.key_type || body.key_origin || body.pending || body.ask_device) {
        throw new ValidationError('deliver', 'deliver cannot be combined with csr_pem, key_type, key_origin, pending or ask_device: the certificate is made for the key the device already has and delivered over MQTT');
      }
      const outcome = await o.service.renewals.renewForDelivery(who, id);
      const [attempt] = await o.service.deliveries.deliverNow(outcome.gateway.id);
      return reply.status(201).send({
        ...pendingRenewWire(outcome, o.service.core.caPem, o.mqtt),
        delivery: { status: attempt?.sent ? 'asked' : 'waiting', command_id: attempt?.sent ? attempt.commandId : null },
      });
    }
    if (body.ask_device) {
      if (body.csr_pem !== undefined || body.key_type || body.key_origin || body.pending) {
        throw new ValidationError('ask_device', 'ask_device cannot be combined with csr_pem, key_type, key_origin or pending: the device makes its own key and confirms it itself');
      }
      if (!o.broker) throw new StateError('this server has no MQTT side, so it cannot ask the device; send csr_pem instead');
      return reply.status(202).send(await o.broker.askDeviceToRenew(who, id));
    }
    const input = {
      ...(body.csr_pem !== undefined ? { csrPem: body.csr_pem } : {}),
      ...(body.key_type ? { keyType: body.key_type } : {}),
      ...(body.key_origin ? { keyOrigin: body.key_origin } : {}),
    };
    if (body.pending) return reply.status(201).send(pendingRenewWire(await o.service.renewals.renewPending(who, id, input), o.service.core.caPem, o.mqtt));
    return reply.status(201).send(provisionWire(await o.service.provisioning.renew(who, id, input), o.service.core.caPem, o.mqtt));
  });

  app.post(`${API_PREFIX}/gateways/:id/renew/confirm/`, async (request) => {
    const who = await actor(request);
    const { id } = parse(s.idParams, request.params);
    const body = parse(s.renewConfirmBody, request.body ?? {});
    return confirmWire(id, await o.service.renewals.confirmRenewal(who, id, body.serial_number));
  });

  app.post(`${API_PREFIX}/gateways/:id/renew/cancel/`, async (request) => {
    const who = await actor(request);
    const { id } = parse(s.idParams, request.params);
    const body = parse(s.renewCancelBody, request.body ?? {});
    return cancelWire(id, await o.service.renewals.cancelRenewal(who, id, body.serial_number));
  });

  // ---------------------------------------------------------------- audit
  app.get(`${API_PREFIX}/audit/`, async (request) => {
    const who = await actor(request);
    const q = parse(s.auditListQuery, request.query);
    const page = q.page ?? 1;
    const pageSize = q.page_size ?? 50;
    const { count, rows } = await o.service.admin.audit(who, { limit: pageSize, offset: (page - 1) * pageSize, ...auditFilter(q) }, q.conta_id);
    return { count, ...pageUrls(request, page, pageSize, count), results: rows.map(auditWire) };
  });

  // ---------------------------------------------------------------- admin console
  registerAdminRoutes(app, { service: o.service, prefix: API_PREFIX, actor, ...(o.broker ? { brokerStatus: o.broker.status } : {}) });
  await registerBootstrapRoutes(app, { prefix: API_PREFIX, service: o.service, mqtt: o.mqtt, actor, publicLimit: o.publicRateLimit, counters: o.limits.counters, gate });

  o.broker?.extraRoutes(app, { actor });

  return app;
}
