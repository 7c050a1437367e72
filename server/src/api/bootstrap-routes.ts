/**
 * The REST routes of zero-touch onboarding (docs/zero-touch.md §3): the device's nonce, bootstrap and
 * signed poll (no token; per-address limits, then a server-wide admission limit, both before the body
 * is read), the operator's preview, claim (`ativar`) and reject, the bench's birth identities, and the
 * birth CA and CRL. Thin: validate, call the services, map to the wire shapes.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { POLL_SIGNATURE_HEADER, POLL_TIMESTAMP_HEADER, deviceQr, type BootstrapResponse, type ClaimPreviewResponse } from '../contract/bootstrap.js';
import { topics } from '../contract/topics.js';
import { NONCE_SECONDS, type BootstrapOutcome } from '../service/bootstrap-device.js';
import type { ClaimCredentials } from '../service/claims.js';
import { DeviceError, ForbiddenError, ValidationError } from '../service/errors.js';
import type { Actor, IssuanceServices } from '../service/issuance.js';
import type { RateCounters } from '../store/counters.js';
import { AdmissionLimiter } from './admission.js';
import { GateBusyError, whenClosed, type DeviceGate } from './device-gate.js';
import * as b from './bootstrap-schemas.js';
import { parse } from './validate.js';

export interface BootstrapRouteOptions {
  prefix: string;
  service: IssuanceServices;
  mqtt: { broker: string; port: number };
  actor(request: FastifyRequest): Promise<Actor>;
  /** Rate limit of the other public endpoints (ca.pem, crl.pem), for birth-ca.pem and birth-crl.pem. */
  publicLimit: { max: number; windowMs: number };
  /** Where the server-wide admission limit counts (shared by every instance on PostgreSQL). */
  counters: RateCounters;
  /** Device requests start in the gaps between the other requests (device-gate.ts). */
  gate: DeviceGate;
}

/** Device endpoints answer validation errors with `details.code` too. */
function deviceParse<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  try {
    return parse(schema, value);
  } catch (err) {
    if (err instanceof ValidationError) throw new DeviceError(400, 'bad_request', err.message, err.field ? { field: err.field } : {});
    throw err;
  }
}

/** The one way the body names the device, or a 400 that says the ways. */
function credentialsOf(body: { qr?: string | undefined; mac_address?: string | undefined; claim_secret?: string | undefined; activation_code?: string | undefined }): ClaimCredentials {
  const ways = [body.qr !== undefined, body.claim_secret !== undefined, body.activation_code !== undefined].filter(Boolean).length;
  if (ways === 1 && body.qr !== undefined && body.mac_address === undefined) return { qr: body.qr };
  if (ways === 1 && body.mac_address !== undefined && body.claim_secret !== undefined) return { mac: body.mac_address, claimSecret: body.claim_secret };
  if (ways === 1 && body.mac_address !== undefined && body.activation_code !== undefined) return { mac: body.mac_address, activationCode: body.activation_code };
  throw new ValidationError(
    body.mac_address === undefined && body.qr === undefined ? 'qr' : undefined,
    'name the device one way: qr (label or device QR), or mac_address with claim_secret (label typed by hand), or mac_address with activation_code (code on the device + MAC on its housing)',
  );
}

export function bootstrapWire(o: BootstrapOutcome, prefix: string, now: Date): BootstrapResponse {
  const r = o.request;
  const code = o.activationCode;
  return {
    bootstrap_id: r.id,
    status: r.status,
    path: r.path,
    mac_address: r.mac,
    key_fingerprint: r.keyFingerprint,
    poll_url: `${prefix}/gateways/bootstrap/${r.id}/`,
    poll_interval: r.pollInterval,
    expires_at: r.expiresAt,
    expires_in: Math.max(0, Math.floor(Date.parse(r.expiresAt) / 1000) - Math.floor(now.getTime() / 1000)),
    server_time: Math.floor(now.getTime() / 1000),
    ...(code ? { activation_code: code, qr_payload: deviceQr(r.mac, code) } : {}),
  };
}

export async function registerBootstrapRoutes(app: FastifyInstance, o: BootstrapRouteOptions): Promise<void> {
  const { prefix, service } = o;
  const core = service.core;
  const settings = core.settings.bootstrap;
  const limited = (max: number) => ({
    rateLimit: {
      max,
      timeWindow: 60_000,
      errorResponseBuilder: (_req: FastifyRequest, ctx: { ttl: number }) => {
        const wait = Math.max(1, Math.ceil(ctx.ttl / 1000));
        return Object.assign(new DeviceError(429, 'rate_limited', `too many requests from this address; retry in ${wait} s`, { retryAfterSeconds: wait }), { statusCode: 429 });
      },
    },
  });
  const admission = new AdmissionLimiter(o.counters, settings.admissionPerSecond);
  // After the per-address limit (onRequest, counted in the same store), before the body is read.
  const busy = (seconds: number, what: string): DeviceError => new DeviceError(429, 'busy', `the server is busy with ${what}; retry in ${seconds} s`, { retryAfterSeconds: seconds });
  // Then the gate: the body is read and the request served only in a gap between operator requests.
  const gated = async <T>(_request: FastifyRequest, reply: FastifyReply, payload: T): Promise<T> => {
    try {
      // A device that gave up while it waited has closed already: its slot is freed at once.
      whenClosed(reply.raw, await o.gate.acquire());
    } catch (err) {
      if (err instanceof GateBusyError) throw busy(err.retryAfterSeconds, 'other work');
      throw err;
    }
    return payload;
  };
  const admit = async <T>(request: FastifyRequest, reply: FastifyReply, payload: T): Promise<T> => {
    if (!(await admission.take())) throw busy(admission.retryAfterSeconds(), 'other devices');
    return gated(request, reply, payload);
  };
  const device = { config: { ...limited(settings.perAddressPerMinute), device: true }, preParsing: admit };
  const publicLimit = { config: { rateLimit: { max: o.publicLimit.max, timeWindow: o.publicLimit.windowMs } } };
  const pem = (reply: FastifyReply, text: string): FastifyReply => reply.type('application/x-pem-file').send(text);

  // ---------------------------------------------------------------- device
  app.post(`${prefix}/gateways/bootstrap/nonce/`, { ...device, bodyLimit: 1024 }, async (request, reply) => {
    const body = deviceParse(b.nonceBody, request.body);
    const n = await service.bootstrap.nonce(body.mac_address, request.ip);
    return reply.status(201).send({ nonce: n.nonce, expires_at: n.expiresAt, expires_in: NONCE_SECONDS });
  });

  app.post(`${prefix}/gateways/bootstrap/`, { ...device, bodyLimit: b.BOOTSTRAP_BODY_LIMIT }, async (request, reply) => {
    const body = deviceParse(b.bootstrapBody, request.body);
    const outcome = await service.bootstrap.bootstrap(
      {
        mac: body.mac_address,
        csrPem: body.csr_pem,
        model: body.model ?? null,
        firmwareVersion: body.firmware_version ?? null,
        ...(body.birth_certificate_pem !== undefined && body.nonce !== undefined && body.attestation_signature !== undefined
          ? { attestation: { birthCertificatePem: body.birth_certificate_pem, nonce: body.nonce, signature: body.attestation_signature } }
          : {}),
      },
      request.ip,
    );
    return reply.status(outcome.created ? 201 : 200).send(bootstrapWire(outcome, prefix, core.now()));
  });

  app.get(`${prefix}/gateways/bootstrap/:bid/`, { config: { ...limited(settings.perAddressPerMinute * 5), device: true }, preParsing: gated }, async (request, reply) => {
    const { bid } = deviceParse(b.bootstrapIdParams, request.params);
    const header = (name: string): string | undefined => {
      const v = request.headers[name];
      return typeof v === 'string' ? v.trim() : undefined;
    };
    const outcome = await service.bootstrap.poll(bid, { timestamp: header(POLL_TIMESTAMP_HEADER), signature: header(POLL_SIGNATURE_HEADER) }, request.ip);
    const r = outcome.request;
    if (outcome.kind === 'pending') {
      return reply.status(202).header('retry-after', String(r.pollInterval)).send({ bootstrap_id: r.id, status: 'pending', poll_interval: r.pollInterval, expires_at: r.expiresAt });
    }
    return reply.status(200).send({
      bootstrap_id: r.id,
      status: 'issued',
      mac_address: r.mac,
      gateway_id: outcome.gateway.id,
      codigo: outcome.gateway.codigo,
      certificate_pem: outcome.certificate.certificatePem,
      ca_pem: core.caPem,
      serial_number: outcome.certificate.serialNumber,
      expires_at: outcome.certificate.expiresAt,
      mqtt_broker: o.mqtt.broker,
      mqtt_port: o.mqtt.port,
      mqtt_topic: topics.telemetry(r.mac),
    });
  });

  // ---------------------------------------------------------------- operator: claim
  app.post(`${prefix}/gateways/ativar/preview/`, async (request): Promise<ClaimPreviewResponse> => {
    const who = await o.actor(request);
    const body = parse(b.claimPreviewBody, request.body);
    const p = await service.claims.preview(who, credentialsOf(body));
    const r = p.request;
    return {
      bootstrap_id: r.id,
      status: r.status,
      path: r.path,
      mac_address: r.mac,
      model: r.model,
      firmware_version: r.firmwareVersion,
      key_fingerprint: r.keyFingerprint,
      key_type: r.keyType,
      requested_at: r.createdAt,
      source_ip: r.sourceIp,
      expires_at: r.expiresAt,
      birth_serial_number: r.birthSerial,
      mac_available: p.macAvailable,
      problem: p.problem,
    };
  });

  app.post(`${prefix}/gateways/ativar/`, async (request, reply) => {
    const who = await o.actor(request);
    const body = parse(b.claimBody, request.body);
    if (body.conta_id !== who.accountId) {
      await core.authorize(who, 'provision');
      throw new ForbiddenError(`this token cannot act for conta_id ${body.conta_id}; it belongs to conta_id ${who.accountId}`, 'conta_id');
    }
    const c = await service.claims.claim(who, credentialsOf(body), { codigo: body.codigo, nome: body.nome, ...(body.bootstrap_id ? { bootstrapId: body.bootstrap_id } : {}) });
    return reply.status(201).send({
      gateway_id: c.gateway.id,
      bootstrap_id: c.request.id,
      status: 'approved',
      mac_address: c.gateway.mac,
      conta_id: c.gateway.accountId,
      codigo: c.gateway.codigo,
      nome: c.gateway.nome,
      serial_number: c.certificate.serialNumber,
      expires_at: c.certificate.expiresAt,
      download_url: `${prefix}/gateways/${c.gateway.id}/certificados/`,
    });
  });

  app.post(`${prefix}/gateways/ativar/reject/`, async (request) => {
    const who = await o.actor(request);
    const body = parse(b.claimRejectBody, request.body);
    const r = await service.claims.reject(who, credentialsOf(body), { ...(body.reason ? { reason: body.reason } : {}), ...(body.bootstrap_id ? { bootstrapId: body.bootstrap_id } : {}) });
    return { bootstrap_id: r.id, status: 'rejected', reason: r.statusReason ?? 'rejected by an operator' };
  });

  // ---------------------------------------------------------------- bench: birth identities
  app.post(`${prefix}/gateways/birth/`, async (request, reply) => {
    const who = await o.actor(request);
    const body = parse(b.birthBody, request.body);
    const out = await service.births.issue(who, { mac: body.mac_address, csrPem: body.csr_pem, ...(body.model ? { model: body.model } : {}), ...(body.replace ? { replace: true } : {}) });
    const url = core.settings.bootstrap.serverUrl;
    return reply.status(201).send({
      mac_address: out.record.mac,
      serial_number: out.record.serialNumber,
      birth_certificate_pem: out.record.certificatePem,
      birth_ca_pem: out.birthCaPem,
      expires_at: out.record.expiresAt,
      claim_secret: out.claimSecret,
      label_qr: out.labelQr,
      ...(url ? { server_url: url } : {}),
    });
  });

  app.post(`${prefix}/gateways/birth/revoke/`, async (request) => {
    const who = await o.actor(request);
    const body = parse(b.birthRevokeBody, request.body);
    const { record, crlNumber } = await service.births.revoke(who, body.mac_address, body.reason);
    return { mac_address: record.mac, serial_number: record.serialNumber, revoked_at: record.revokedAt ?? '', reason: record.revokeReason ?? 'unspecified', crl_number: crlNumber };
  });

  // ---------------------------------------------------------------- public
  app.get(`${prefix}/birth-ca.pem`, publicLimit, async (_req, reply) => pem(reply, core.birth.ca.certificatePem));
  app.get(`${prefix}/birth-crl.pem`, publicLimit, async (_req, reply) => pem(reply, (await core.birth.crl.ensureFresh()).pem));
}
