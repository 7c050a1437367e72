import { useState, type FormEvent } from 'react';
import { z } from 'zod';
import { useTranslation } from 'react-i18next';
import type { GatewayDetailView } from '../../../shared/views.js';
import { RemoteError } from '../../app/client.js';
import { useStation } from '../../app/context.js';
import { useAsync, usePresence } from '../../app/hooks.js';
import { ErrorNotice } from '../../components/ErrorNotice.js';
import { num, TextField, useFieldErrors } from '../../components/form.js';
import { formatDateTime } from '../../components/format.js';
import { zIntRange } from '../../../shared/validation.js';
import { GatewayDetail } from './GatewayDetail.js';
import { ImportDialog } from './ImportDialog.js';
import { ExpiryText, GatewayStateText } from './standing.js';

const DaysSchema = z.object({ expiresWithinDays: zIntRange(1, 36_500).optional() });

/** The admin's view of the server's gateways with live online/offline from this station's monitor. */
export default function GatewaysScreen() {
  const { t } = useTranslation('gateways');
  const { t: tc } = useTranslation();
  const client = useStation();
  const presence = usePresence();
  const [search, setSearch] = useState('');
  const [query, setQuery] = useState('');
  const [daysText, setDaysText] = useState('');
  const [days, setDays] = useState<number | undefined>();
  const [page, setPage] = useState(1);
  const { errors, check } = useFieldErrors('gw-filters');
  const [selected, setSelected] = useState<GatewayDetailView | null>(null);
  const [opened, setOpened] = useState(0);
  const [importing, setImporting] = useState(false);
  const [error, setError] = useState<unknown>();
  const list = useAsync(
    () => client.invoke('gateways.list', { ...(query ? { search: query } : {}), ...(days !== undefined ? { expiresWithinDays: days } : {}), page }),
    [client, query, days, page],
  );
  const open = async (id: number): Promise<void> => {
    try {
      setSelected(await client.invoke('gateways.get', { id }));
      setOpened((n) => n + 1);
    } catch (err) {
      setError(err);
    }
  };
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    const f = check(DaysSchema, { expiresWithinDays: num(daysText) });
    if (!f) return;
    setPage(1);
    setQuery(search.trim());
    setDays(f.expiresWithinDays);
  };
  const notConfigured = list.error instanceof RemoteError && list.error.body.code === 'NOT_CONFIGURED';
  const pages = list.data ? Math.max(1, Math.ceil(list.data.count / list.data.pageSize)) : 1;
  return (
    <section aria-labelledby="gw-title" className="screen">
      <div className="screen__head">
        <h2 id="gw-title">{t('title')}</h2>
        <p className="muted">{t('intro')}</p>
      </div>
      <form id="gw-filters" className="toolbar" onSubmit={submit} role="search" noValidate>
        <label className="field field--grow">
          {t('search')}
          <input type="search" value={search} onChange={(e) => setSearch(e.target.value)} data-testid="gw-search" />
        </label>
        <TextField
          name="expiresWithinDays"
          label={t('expiring')}
          hint={t('expiringHint')}
          value={daysText}
          onChange={setDaysText}
          error={errors.expiresWithinDays}
          inputMode="numeric"
          className="field--narrow"
        />
        <button type="submit" className="btn">
          {t('searchSubmit')}
        </button>
        <button type="button" className="btn" onClick={() => list.reload()}>
          {tc('actions.refresh')}
        </button>
        <button type="button" className="btn" onClick={() => setImporting(true)}>
          {t('import')}
        </button>
      </form>
      {notConfigured ? <p className="notice">{t('notConfigured')}</p> : <ErrorNotice error={list.error} />}
      <ErrorNotice error={error} onDismiss={() => setError(undefined)} />
      {days !== undefined && list.data && <p className="muted">{t('expiringActive', { days })}</p>}
      {list.data && list.data.results.length === 0 && <p>{days !== undefined ? t('noneExpiring', { days }) : t('none')}</p>}
      {list.data && list.data.results.length > 0 && (
        <>
          <p className="muted" aria-live="polite">
            {t('count', { count: list.data.count })}
          </p>
          <table className="table table--click" data-testid="gw-table">
            <thead>
              <tr>
                <th scope="col">{t('columns.status')}</th>
                <th scope="col">{t('columns.code')}</th>
                <th scope="col">{t('columns.name')}</th>
                <th scope="col">{t('columns.mac')}</th>
                <th scope="col">{t('columns.serial')}</th>
                <th scope="col">{t('columns.expires')}</th>
                <th scope="col">{t('columns.lastSeen')}</th>
              </tr>
            </thead>
            <tbody>
              {list.data.results.map((g) => {
                const online = presence[g.mac] ?? g.online;
                return (
                  <tr key={g.id} aria-selected={selected?.id === g.id} data-mac={g.mac} data-online={online && g.standing.kind === 'active'} data-code={g.code}>
                    <td>
                      <GatewayStateText gateway={g} online={online} />
                    </td>
                    <td>
                      <button type="button" className="link" aria-label={t('open', { code: g.code })} onClick={() => void open(g.id)}>
                        {g.code}
                      </button>
                    </td>
                    <td>{g.name}</td>
                    <td className="mono">{g.mac}</td>
                    <td className="mono">{g.activeCertificate?.serialNumber ?? tc('common.none')}</td>
                    <td>{g.standing.kind === 'active' ? <ExpiryText at={g.activeCertificate?.expiresAt} /> : tc('common.none')}</td>
                    <td>{formatDateTime(g.lastSeen)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <div className="pager">
            <button type="button" className="btn btn--small" disabled={page <= 1} onClick={() => setPage(page - 1)}>
              {t('prev')}
            </button>
            <span>{t('page', { page, pages })}</span>
            <button type="button" className="btn btn--small" disabled={page >= pages} onClick={() => setPage(page + 1)}>
              {t('next')}
            </button>
          </div>
        </>
      )}
      {selected && (
        <GatewayDetail
          key={selected.id}
          gateway={selected}
          opened={opened}
          onChanged={(g) => {
            setSelected(g);
            list.reload();
          }}
        />
      )}
      {importing && <ImportDialog onClose={() => setImporting(false)} onImported={() => list.reload()} />}
    </section>
  );
}
