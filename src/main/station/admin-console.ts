import type { ApiTokenView, AuditEvent, AuditFilter as WireAuditFilter, BrokerPublication, BrokerState, CrlState } from '@tds/server/contract';
import type { AdminRequestChannel } from '../../shared/admin-inputs.js';
import type { AccountView, AuditEventView, BrokerPublicationView, BrokerStateView, CrlStateView, TokenView } from '../../shared/admin-views.js';
import type { ValidRequestOf } from '../../shared/ipc.js';
import { StationError } from '../../shared/ipc-errors.js';
import { V } from '../../shared/validation.js';
import type { StationHandlers } from './dispatch.js';
import type { ServerLink } from './server-link.js';

const AUDIT_PAGE_SIZE = 50;

type Filter = ValidRequestOf<'admin.auditCsv'>;

/** Midnight of a local calendar day (YYYY-MM-DD), `plusDays` later. */
function localDay(s: string, plusDays = 0): Date {
  const [y, m, d] = s.split('-').map(Number) as [number, number, number];
  return new Date(y, m - 1, d + plusDays);
}

function actorWire(a: NonNullable<Filter['actor']>): string {
  if (a.kind === 'token') return `token:${a.id}`;
  if (a.kind === 'device') return `device:${a.mac}`;
  return a.kind;
}

const tokenView = (t: ApiTokenView): TokenView => ({
  id: t.id,
  accountId: t.conta_id,
  role: t.role,
  label: t.label,
  serverAdmin: t.server_admin,
  createdAt: t.created_at,
  revokedAt: t.revoked_at,
});

const auditView = (e: AuditEvent): AuditEventView => ({
  id: e.id,
  at: e.at,
  accountId: e.conta_id,
  actor: e.actor,
  action: e.action,
  object: e.object,
  sourceIp: e.source_ip,
  result: e.result,
  detail: e.detail,
});

const publicationView = (p: BrokerPublication | null): BrokerPublicationView | null =>
  p && { at: p.at, crlNumber: p.crl_number, ok: p.result === 'ok', reloaded: p.reloaded, disconnected: p.disconnected, error: p.error };

function crlView(c: CrlState): CrlStateView {
  return {
    number: c.crl_number,
    thisUpdate: c.this_update,
    nextUpdate: c.next_update,
    revokedCount: c.revoked_count,
    publications: c.publications ? { mosquitto: publicationView(c.publications.mosquitto), embedded: publicationView(c.publications.embedded) } : null,
  };
}

function brokerView(b: BrokerState): BrokerStateView {
  const m = b.mosquitto;
  return {
    mosquitto: {
      configured: m.configured,
      host: m.host,
      port: m.port,
      publishDir: m.publish_dir,
      reload: m.reload,
      sessionControl: m.session_control,
      builtAt: m.built_at,
      lastPublication: publicationView(m.last_publication),
    },
    embedded: { running: b.embedded.running, host: b.embedded.host, port: b.embedded.port, lastPublication: publicationView(b.embedded.last_publication) },
    mqttClient: b.mqtt_client,
  };
}

/**
 * The Admin screen over the server's admin endpoints, with the station's token: the server decides
 * what this token may see and do (a refusal reaches the screen as FORBIDDEN, in words there).
 */
export class AdminConsole {
  constructor(private readonly server: ServerLink) {}

  /** The screen's filters in the server's terms: local days → UTC instants, a gateway code → its id. */
  private async wireFilter(f: Filter): Promise<WireAuditFilter> {
    let gatewayId: number | undefined;
    if (f.gatewayCode) {
      const code = f.gatewayCode;
      gatewayId = (await this.server.call((c) => c.listGateways({ codigo: code, page_size: 1 }))).results[0]?.id;
      if (gatewayId === undefined) {
        throw new StationError('INVALID_INPUT', `No gateway has the code ${code} in this account.`, { issues: [{ field: 'gatewayCode', key: V.unknownGateway, message: 'No gateway has this code in this account.' }] });
      }
    }
    return {
      ...(f.from ? { since: localDay(f.from).toISOString() } : {}),
      ...(f.to ? { until: localDay(f.to, 1).toISOString() } : {}),
      ...(f.actor ? { actor: actorWire(f.actor) } : {}),
      ...(f.action ? { action: f.action } : {}),
      ...(gatewayId !== undefined ? { gateway_id: gatewayId } : {}),
      ...(f.result ? { result: f.result } : {}),
      ...(f.accountId !== undefined ? { conta_id: f.accountId } : {}),
    };
  }

  handlers(): Pick<StationHandlers, AdminRequestChannel> {
    const call = this.server.call.bind(this.server);
    return {
      'admin.audit': async (r) => {
        const filter = await this.wireFilter(r);
        const p = await call((c) => c.listAudit({ ...filter, page: r.page, page_size: AUDIT_PAGE_SIZE }));
        return { count: p.count, page: r.page, pageSize: AUDIT_PAGE_SIZE, rows: p.results.map(auditView) };
      },
      'admin.auditCsv': async (r) => {
        const filter = await this.wireFilter(r);
        const x = await call((c) => c.exportAuditCsv(filter));
        const day = new Date().toISOString().slice(0, 10);
        return { file: { fileName: `tds-audit-${day}.csv`, mime: 'text/csv', base64: Buffer.from(x.csv, 'utf8').toString('base64') }, total: x.total, truncated: x.truncated };
      },
      'admin.accounts': async () => (await call((c) => c.listAccounts())).map(accountView),
      'admin.createAccount': async (r) => accountView(await call((c) => c.createAccount(r.name))),
      'admin.renameAccount': async (r) => accountView(await call((c) => c.renameAccount(r.id, r.name))),
      'admin.tokens': async (r) => (await call((c) => c.listTokens(r.accountId !== undefined ? { conta_id: r.accountId } : {}))).map(tokenView),
      'admin.createToken': async (r) => {
        const t = await call((c) =>
          c.createToken({ role: r.role, ...(r.label ? { label: r.label } : {}), ...(r.accountId !== undefined ? { conta_id: r.accountId } : {}), ...(r.serverAdmin ? { server_admin: true } : {}) }),
        );
        return { token: tokenView(t), secret: t.token };
      },
      'admin.revokeToken': async (r) => tokenView(await call((c) => c.revokeToken(r.id))),
      'admin.crl': async () => crlView(await call((c) => c.crlState())),
      'admin.broker': async () => brokerView(await call((c) => c.brokerState())),
    };
  }
}

function accountView(a: { id: number; name: string; is_active: boolean; created_at: string }): AccountView {
  return { id: a.id, name: a.name, active: a.is_active, createdAt: a.created_at };
}
