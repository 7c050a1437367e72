/**
 * The admin console's REST endpoints (service/admin.ts holds the rules): the audit log's CSV export,
 * accounts, API tokens, the CRL's and the brokers' state, a gateway's presence history. The filtered
 * audit list stays `GET audit/` in app.ts. Same boundary as every route: token, zod, role, and
 * another account's objects are a 404.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { stringify } from 'csv-stringify/sync';
import type { z } from 'zod';
import type { AccountView, ApiTokenCreated, ApiTokenView, BrokerPublication, BrokerState, CrlState, PresenceHistoryResponse, WhoAmIResponse } from '../contract/api.js';
import type { BrokerStatus, PublicationOutcome } from '../broker/publication-log.js';
import { ValidationError } from '../service/errors.js';
import { firstIssue } from '../service/fields.js';
import type { Actor, IssuanceServices } from '../service/issuance.js';
import type { AccountRecord, AuditQuery, TokenRecord } from '../store/repository.js';
import { spreadsheetSafe } from '../util/csv-cell.js';
import * as s from './schemas.js';

export interface AdminRouteDeps {
  service: IssuanceServices;
  prefix: string;
  /** The broker side's state, when the server runs it. */
  brokerStatus?: () => Promise<BrokerStatus>;
  actor(request: FastifyRequest): Promise<Actor>;
}

/** The CSV export's cap: a bigger audit log is exported in time slices (since/until). */
export const AUDIT_EXPORT_MAX_ROWS = 100_000;
const DAY_MS = 86_400_000;

function parse<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const r = schema.safeParse(value);
  if (!r.success) {
    const i = firstIssue(r.error);
    throw new ValidationError(i.field, i.field && !i.message.includes(i.field) ? `${i.field}: ${i.message}` : i.message);
  }
  return r.data;
}

export function auditFilter(q: z.output<typeof s.auditFilterQuery>): Omit<AuditQuery, 'limit' | 'offset'> {
  return {
    ...(q.action !== undefined ? { action: q.action } : {}),
    ...(q.since !== undefined ? { since: q.since.replace(/\.\d+Z$/, 'Z') } : {}),
    ...(q.until !== undefined ? { until: q.until.replace(/\.\d+Z$/, 'Z') } : {}),
    ...(q.actor !== undefined ? { actor: q.actor } : {}),
    ...(q.gateway_id !== undefined ? { gatewayId: q.gateway_id } : {}),
    ...(q.result !== undefined ? { result: q.result } : {}),
  };
}

export const accountWire = (a: AccountRecord): AccountView => ({ id: a.id, name: a.name, is_active: a.isActive, created_at: a.createdAt });

export const tokenWire = (t: TokenRecord): ApiTokenView => ({
  id: t.id,
  conta_id: t.accountId,
  role: t.role,
  label: t.label,
  server_admin: t.serverAdmin,
  created_at: t.createdAt,
  revoked_at: t.revokedAt,
});

const publicationWire = (p: PublicationOutcome | null): BrokerPublication | null =>
  p && { at: p.at, crl_number: p.crlNumber, result: p.result, reloaded: p.reloaded, disconnected: p.disconnected, error: p.error };

function brokerWire(b: BrokerStatus): BrokerState {
  const m = b.mosquitto;
  return {
    mosquitto: {
      configured: m.configured,
      host: m.host,
      port: m.port,
      publish_dir: m.publishDir,
      reload: m.reload,
      session_control: m.sessionControl,
      built_at: m.builtAt,
      last_publication: publicationWire(m.lastPublication),
    },
    embedded: { running: b.embedded.running, host: b.embedded.host, port: b.embedded.port, last_publication: publicationWire(b.embedded.lastPublication) },
    mqtt_client: b.mqttClient,
  };
}

const AUDIT_CSV_COLUMNS = ['id', 'at', 'conta_id', 'actor', 'action', 'object', 'source_ip', 'result', 'detail'] as const;

export function registerAdminRoutes(app: FastifyInstance, d: AdminRouteDeps): void {
  const admin = d.service.admin;
  const p = d.prefix;

  app.get(`${p}/audit/export.csv`, async (request, reply) => {
    const who = await d.actor(request);
    const q = parse(s.auditFilterQuery, request.query);
    const { rows, count } = await admin.audit(who, { ...auditFilter(q), limit: AUDIT_EXPORT_MAX_ROWS, offset: 0 }, q.conta_id);
    // Every text cell that a spreadsheet would read as a formula gets a leading apostrophe.
    const csv = stringify(
      rows.map((r) => [r.id, r.at, r.accountId ?? '', r.actor, r.action, r.object ?? '', r.sourceIp ?? '', r.result, r.detail ?? '']),
      { header: true, columns: [...AUDIT_CSV_COLUMNS], cast: { string: spreadsheetSafe } },
    );
    return reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', 'attachment; filename="tds-audit.csv"')
      .header('x-total-count', String(count))
      .header('x-truncated', String(count > rows.length))
      .send(csv);
  });

  // Any valid token may ask who it is (a client shows only what its role allows); reading it changes nothing.
  app.get(`${p}/whoami/`, async (request): Promise<WhoAmIResponse> => {
    const who = await d.actor(request);
    return { token_id: Number(/^token:(\d+)$/.exec(who.label)?.[1] ?? 0), conta_id: who.accountId, role: who.role, server_admin: who.serverAdmin === true };
  });

  app.get(`${p}/accounts/`, async (request): Promise<AccountView[]> => (await admin.listAccounts(await d.actor(request))).map(accountWire));

  app.post(`${p}/accounts/`, async (request, reply) => {
    const who = await d.actor(request);
    const body = parse(s.accountBody, request.body);
    return reply.status(201).send(accountWire(await admin.createAccount(who, body.name)));
  });

  app.patch(`${p}/accounts/:id/`, async (request): Promise<AccountView> => {
    const who = await d.actor(request);
    const { id } = parse(s.idParams, request.params);
    const body = parse(s.accountBody, request.body);
    return accountWire(await admin.renameAccount(who, id, body.name));
  });

  app.get(`${p}/tokens/`, async (request): Promise<ApiTokenView[]> => {
    const who = await d.actor(request);
    const q = parse(s.tokenListQuery, request.query);
    return (await admin.listTokens(who, q.conta_id)).map(tokenWire);
  });

  app.post(`${p}/tokens/`, async (request, reply) => {
    const who = await d.actor(request);
    const body = parse(s.tokenBody, request.body);
    const { token, record } = await admin.createToken(who, {
      ...(body.conta_id !== undefined ? { accountId: body.conta_id } : {}),
      role: body.role,
      label: body.label ?? null,
      serverAdmin: body.server_admin ?? false,
    });
    const created: ApiTokenCreated = { ...tokenWire(record), token };
    return reply.status(201).send(created);
  });

  app.post(`${p}/tokens/:id/revoke/`, async (request): Promise<ApiTokenView> => {
    const who = await d.actor(request);
    const { id } = parse(s.idParams, request.params);
    return tokenWire(await admin.revokeToken(who, id));
  });

  app.get(`${p}/crl/`, async (request): Promise<CrlState> => {
    const who = await d.actor(request);
    const crl = await admin.crlState(who);
    const state: CrlState = { crl_number: crl.crlNumber, this_update: crl.thisUpdate, next_update: crl.nextUpdate, revoked_count: crl.revokedCount };
    if (who.serverAdmin && d.brokerStatus) {
      const b = await d.brokerStatus();
      state.publications = { mosquitto: publicationWire(b.mosquitto.lastPublication), embedded: publicationWire(b.embedded.lastPublication) };
    }
    return state;
  });

  app.get(`${p}/broker/`, async (request): Promise<BrokerState> => {
    const who = await d.actor(request);
    await admin.authorizeBrokerState(who);
    if (!d.brokerStatus) {
      return {
        mosquitto: { configured: false, host: null, port: null, publish_dir: null, reload: null, session_control: false, built_at: null, last_publication: null },
        embedded: { running: false, host: null, port: null, last_publication: null },
        mqtt_client: { enabled: false, connected: false },
      };
    }
    return brokerWire(await d.brokerStatus());
  });

  app.get(`${p}/gateways/:id/presence/`, async (request): Promise<PresenceHistoryResponse> => {
    const who = await d.actor(request);
    const { id } = parse(s.idParams, request.params);
    const q = parse(s.presenceQuery, request.query);
    const until = q.until ? new Date(q.until) : d.service.core.now();
    const since = q.since ? new Date(q.since) : new Date(until.getTime() - 7 * DAY_MS);
    const h = await admin.presence(who, id, since, until);
    const { gateway } = await d.service.queries.getGateway(who, id);
    return {
      gateway_id: id,
      mac_address: gateway.mac,
      since: h.from,
      until: h.to,
      state_at_start: h.stateAtStart === null ? null : h.stateAtStart ? 'online' : 'offline',
      transitions: h.transitions.map((t) => ({ status: t.online ? 'online' : 'offline', at: t.at })),
      online_seconds: h.onlineSeconds,
      window_seconds: h.windowSeconds,
      uptime_percent: h.uptimePercent,
      truncated: h.truncated,
    };
  });
}
