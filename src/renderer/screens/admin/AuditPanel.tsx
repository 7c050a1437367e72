import { useEffect, useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { AuditFilterSchema, type AuditFilter } from '../../../shared/admin-inputs.js';
import { AUDIT_RESULTS, type AuditEventView, type TokenView } from '../../../shared/admin-views.js';
import { RemoteError } from '../../app/client.js';
import { useStation } from '../../app/context.js';
import { useAsync } from '../../app/hooks.js';
import { useAdminIdentity } from '../../app/server-identity.js';
import { saveFile } from '../../components/download.js';
import { DateField, FormSummary, SelectField, TextField, useFieldErrors } from '../../components/form.js';
import { formatDateTime, formatNumber } from '../../components/format.js';
import { AdminError } from './AdminError.js';
import { en } from './strings.js';

type Action = keyof typeof en.audit.actions;
const ACTIONS = Object.keys(en.audit.actions) as Action[];
const SERVER_ACTORS = ['cli', 'server', 'scheduler', 'station', 'anonymous'] as const;

interface Draft {
  from: string;
  to: string;
  who: string;
  mac: string;
  action: string;
  gatewayCode: string;
  result: string;
  accountId: string;
}
const EMPTY: Draft = { from: '', to: '', who: '', mac: '', action: '', gatewayCode: '', result: '', accountId: '' };

/** The form's values as the contract's filter (empty fields left out). */
function toFilter(d: Draft): AuditFilter {
  const actor: AuditFilter['actor'] = d.who.startsWith('token:')
    ? { kind: 'token', id: Number(d.who.slice(6)) }
    : d.who === 'device'
      ? { kind: 'device', mac: d.mac }
      : (SERVER_ACTORS as readonly string[]).includes(d.who)
        ? { kind: d.who as (typeof SERVER_ACTORS)[number] }
        : undefined;
  return {
    ...(d.from ? { from: d.from } : {}),
    ...(d.to ? { to: d.to } : {}),
    ...(actor ? { actor } : {}),
    ...(d.action ? { action: d.action } : {}),
    ...(d.gatewayCode.trim() ? { gatewayCode: d.gatewayCode } : {}),
    ...(d.result ? { result: d.result as AuditFilter['result'] } : {}),
    ...(d.accountId ? { accountId: Number(d.accountId) } : {}),
  };
}

/** Who did it, in words: the server's own actors, a token (with its label when known), a device. */
export function useActorWords(tokens: TokenView[] | undefined): (actor: string) => string {
  const { t } = useTranslation('admin');
  return (actor) => {
    if ((SERVER_ACTORS as readonly string[]).includes(actor)) return t(`audit.actors.${actor as (typeof SERVER_ACTORS)[number]}`);
    const token = /^token:(\d+)$/.exec(actor);
    if (token) {
      const label = tokens?.find((x) => x.id === Number(token[1]))?.label;
      return label ? t('audit.tokenLabelled', { id: token[1], label }) : t('audit.token', { id: token[1] });
    }
    if (actor.startsWith('device:')) return t('audit.deviceActor', { mac: actor.slice(7) });
    return actor;
  };
}

function AuditRow({ e, who, showAccount }: { e: AuditEventView; who: (actor: string) => string; showAccount: boolean }) {
  const { t, i18n } = useTranslation('admin');
  const what = i18n.exists(`admin:audit.actions.${e.action}`) ? t(`audit.actions.${e.action as Action}`) : e.action;
  return (
    <tr className={e.result === 'ok' ? '' : 'row--bad'} data-action={e.action} data-result={e.result}>
      <td>{formatDateTime(e.at)}</td>
      <td>{who(e.actor)}</td>
      <td title={e.action}>{what}</td>
      <td className="mono">{e.object ?? '—'}</td>
      <td>{t(`audit.results.${e.result}`)}</td>
      <td className="audit__detail">{e.detail ?? '—'}</td>
      {showAccount && <td>{e.accountId ?? '—'}</td>}
      <td className="mono audit__address">{e.sourceIp ?? '—'}</td>
    </tr>
  );
}

/** The server's audit log: filters (dates, who, what, gateway, result, account), pages of 50, CSV export. */
export function AuditPanel() {
  const { t } = useTranslation('admin');
  const client = useStation();
  const identity = useAdminIdentity();
  const serverAdmin = identity?.serverAdmin === true;
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const [filter, setFilter] = useState<AuditFilter>({});
  const [page, setPage] = useState(1);
  const [status, setStatus] = useState('');
  const [exportError, setExportError] = useState<unknown>();
  const { errors, check, fromError, refuse, hasErrors } = useFieldErrors('audit-filters');
  const events = useAsync(() => client.invoke('admin.audit', { ...filter, page }), [client, filter, page]);
  // For the "who" choices and token labels: best effort (an answer of 403 just leaves numbers).
  const tokens = useAsync(() => client.invoke('admin.tokens', {}), [client]);
  const accounts = useAsync(() => (serverAdmin ? client.invoke('admin.accounts') : Promise.resolve([])), [client, serverAdmin]);
  const who = useActorWords(tokens.data);
  const set = (k: keyof Draft) => (v: string) => setDraft((d) => ({ ...d, [k]: v }));

  const valid = (): AuditFilter | undefined => {
    const f = check(AuditFilterSchema, toFilter(draft));
    if (!f) return undefined;
    if (draft.from && draft.to && draft.from > draft.to) {
      refuse({ field: 'to', key: 'fromAfterTo', message: t('audit.fromAfterTo') });
      return undefined;
    }
    return toFilter(draft);
  };
  const apply = (e: FormEvent): void => {
    e.preventDefault();
    setStatus('');
    const f = valid();
    if (!f) return;
    setPage(1);
    setFilter(f);
  };
  const exportCsv = async (): Promise<void> => {
    setStatus('');
    setExportError(undefined);
    const f = valid();
    if (!f) return;
    try {
      const x = await client.invoke('admin.auditCsv', f);
      saveFile(x.file);
      setStatus(x.truncated ? t('audit.truncated', { count: formatNumber(100_000) }) : t('audit.exported', { count: x.total }));
    } catch (err) {
      if (!fromError(err)) setExportError(err);
    }
  };
  // A filter only the core could check (an unknown gateway code) lands under its field.
  const refusedFilter = events.error instanceof RemoteError && events.error.body.code === 'INVALID_INPUT' && (events.error.body.issues?.length ?? 0) > 0;
  useEffect(() => {
    if (refusedFilter) fromError(events.error);
  }, [refusedFilter, events.error, fromError]);
  const pages = events.data ? Math.max(1, Math.ceil(events.data.count / events.data.pageSize)) : 1;
  const whoOptions = [
    { value: '', label: t('audit.whoAny') },
    ...(tokens.data ?? []).map((x) => ({ value: `token:${x.id}`, label: x.label ? t('audit.tokenLabelled', { id: x.id, label: x.label }) : t('audit.token', { id: x.id }) })),
    ...SERVER_ACTORS.map((a) => ({ value: a, label: t(`audit.actors.${a}`) })),
    { value: 'device', label: t('audit.device') },
  ];
  return (
    <div className="stack">
      <form id="audit-filters" className="card filters" onSubmit={apply} noValidate aria-label={t('audit.filters')}>
        <FormSummary show={hasErrors} />
        <div className="filters__grid">
          <DateField name="from" label={t('audit.from')} value={draft.from} onChange={set('from')} error={errors.from} />
          <DateField name="to" label={t('audit.to')} value={draft.to} onChange={set('to')} error={errors.to} />
          <SelectField name="who" label={t('audit.who')} value={draft.who} onChange={set('who')} options={whoOptions} error={errors.actor} />
          {draft.who === 'device' && <TextField name="actor.mac" label={t('audit.deviceMac')} value={draft.mac} onChange={set('mac')} error={errors['actor.mac']} placeholder="aa:bb:cc:dd:ee:ff" />}
          <SelectField
            name="action"
            label={t('audit.action')}
            value={draft.action}
            onChange={set('action')}
            options={[{ value: '', label: t('audit.actionAny') }, ...ACTIONS.map((a) => ({ value: a, label: t(`audit.actions.${a}`) }))]}
            error={errors.action}
          />
          <TextField name="gatewayCode" label={t('audit.gateway')} value={draft.gatewayCode} onChange={set('gatewayCode')} error={errors.gatewayCode} />
          <SelectField
            name="result"
            label={t('audit.result')}
            value={draft.result}
            onChange={set('result')}
            options={[{ value: '', label: t('audit.resultAny') }, ...AUDIT_RESULTS.map((r) => ({ value: r, label: t(`audit.results.${r}`) }))]}
          />
          {serverAdmin && (
            <SelectField
              name="accountId"
              label={t('audit.account')}
              value={draft.accountId}
              onChange={set('accountId')}
              options={[{ value: '', label: t('audit.accountAny') }, ...(accounts.data ?? []).map((a) => ({ value: String(a.id), label: `${a.id} · ${a.name}` }))]}
            />
          )}
        </div>
        <div className="actions">
          <button type="submit" className="btn btn--primary">
            {t('audit.apply')}
          </button>
          <button type="button" className="btn" data-testid="audit-export" onClick={() => void exportCsv()}>
            {t('audit.export')}
          </button>
          <span role="status">{status}</span>
        </div>
        <AdminError error={exportError} />
      </form>
      {!refusedFilter && <AdminError error={events.error} />}
      {events.data && (
        <>
          <p className="muted" aria-live="polite" data-testid="audit-count">
            {t('audit.count', { count: events.data.count })}
          </p>
          {events.data.rows.length === 0 ? (
            <p>{t('audit.none')}</p>
          ) : (
            <div className="table-scroll">
              <table className="table" data-testid="audit-table">
                <thead>
                  <tr>
                    <th scope="col">{t('audit.columns.at')}</th>
                    <th scope="col">{t('audit.columns.who')}</th>
                    <th scope="col">{t('audit.columns.what')}</th>
                    <th scope="col">{t('audit.columns.object')}</th>
                    <th scope="col">{t('audit.columns.result')}</th>
                    <th scope="col">{t('audit.columns.detail')}</th>
                    {serverAdmin && <th scope="col">{t('audit.columns.account')}</th>}
                    <th scope="col">{t('audit.columns.source')}</th>
                  </tr>
                </thead>
                <tbody>
                  {events.data.rows.map((e) => (
                    <AuditRow key={e.id} e={e} who={who} showAccount={serverAdmin} />
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <div className="pager">
            <button type="button" className="btn btn--small" disabled={page <= 1} onClick={() => setPage(page - 1)}>
              {t('audit.prev')}
            </button>
            <span data-testid="audit-page">{t('audit.page', { page: formatNumber(events.data.page), pages: formatNumber(pages) })}</span>
            <button type="button" className="btn btn--small" disabled={page >= pages} onClick={() => setPage(page + 1)}>
              {t('audit.next')}
            </button>
          </div>
        </>
      )}
    </div>
  );
}
