import { useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { LogFilter } from '../../../shared/inputs.js';
import type { LogEntryRow, LogEventRow, LogJobDetail, LogJobRow } from '../../../shared/views.js';
import { useStation } from '../../app/context.js';
import { useAsync, useLogVersion } from '../../app/hooks.js';
import { saveFile } from '../../components/download.js';
import { ErrorNotice } from '../../components/ErrorNotice.js';
import { JobDetail } from './JobDetail.js';
import { formatDateTime, formatDuration, formatNumber } from '../../components/format.js';
import { LogFilters } from './LogFilters.js';
import { TodayPanel } from './TodayPanel.js';
import './log.css';

const PAGE = 100;

/** What a revocation or a forgotten host key says in the result column. */
function EventOutcome({ row }: { row: LogEventRow }) {
  const { t } = useTranslation('log');
  const { t: tg, i18n } = useTranslation('gateways');
  if (row.kind === 'revocation') {
    const key = `revoke.reasons.${row.reason ?? 'unspecified'}`;
    const reason = i18n.exists(key, { ns: 'gateways' }) ? tg(key as 'revoke.reasons.unspecified') : (row.reason ?? '');
    return <>{t('event.revocation', { reason })}</>;
  }
  return <>{t('event.hostKey', { fingerprint: row.reason ?? '' })}</>;
}

function Row({ row, selected, onOpen }: { row: LogEntryRow; selected: boolean; onOpen: (row: LogJobRow, button: HTMLButtonElement) => void }) {
  const { t } = useTranslation('log');
  const when = formatDateTime(row.type === 'job' ? row.startedAt : row.at);
  const device = [row.mac, row.gatewayCode].filter(Boolean).join(' · ') || row.target || '';
  return (
    <tr
      className={row.type === 'job' && row.result === 'failed' ? 'row--bad' : ''}
      aria-selected={selected}
      data-entry={row.type}
      data-kind={row.kind}
      data-result={row.type === 'job' ? row.result : 'done'}
      data-mac={row.mac ?? undefined}
    >
      <td className="nowrap">
        {row.type === 'job' ? (
          <button
            type="button"
            className="link"
            aria-label={t('openFor', { kind: t(`kinds.${row.kind}`), device: device || row.target, when })}
            onClick={(e) => onOpen(row, e.currentTarget)}
          >
            {when}
          </button>
        ) : (
          when
        )}
      </td>
      <td>{t(`kinds.${row.kind}`)}</td>
      <td className="log-device">
        {row.mac && <span className="mono">{row.mac}</span>}
        {row.gatewayCode && <span className="mono">{row.gatewayCode}</span>}
        {row.target && (row.type === 'job' || !row.mac) && <span className="mono muted">{row.target}</span>}
      </td>
      <td>{row.type === 'job' ? t(`results.${row.result}`) : <EventOutcome row={row} />}</td>
      <td className="nowrap">{row.type === 'job' ? formatDuration(row.durationMs) : ''}</td>
      <td>{row.operator}</td>
    </tr>
  );
}

/**
 * The admin's log: today's figures (devices), filters with free-text search, every job and every
 * revocation or forgotten host key in pages of 100, a job's details with its steps, log and boot
 * log, and CSV export of everything the filters match.
 */
export default function LogScreen() {
  const { t } = useTranslation('log');
  const client = useStation();
  const version = useLogVersion();
  const [filter, setFilter] = useState<LogFilter>({});
  const [offset, setOffset] = useState(0);
  const [detail, setDetail] = useState<LogJobDetail | null>(null);
  const [error, setError] = useState<unknown>();
  const opener = useRef<HTMLButtonElement | null>(null);
  const tableHead = useRef<HTMLParagraphElement>(null);
  const today = useAsync(() => client.invoke('log.today'), [client, version]);
  const page = useAsync(() => client.invoke('log.query', { ...filter, limit: PAGE, offset }), [client, filter, offset, version]);

  const open = async (row: LogJobRow, button: HTMLButtonElement): Promise<void> => {
    opener.current = button;
    try {
      setDetail(await client.invoke('log.get', { id: row.id }));
    } catch (err) {
      setError(err);
    }
  };
  const close = (): void => {
    setDetail(null);
    // Back to the row the details were opened from.
    requestAnimationFrame(() => opener.current?.focus());
  };
  const goToPage = (next: number): void => {
    setOffset(next);
    requestAnimationFrame(() => tableHead.current?.focus());
  };
  const exportCsv = async (f: LogFilter): Promise<void> => {
    try {
      saveFile(await client.invoke('log.exportCsv', { ...f, limit: 1000 }));
    } catch (err) {
      setError(err);
    }
  };
  const rows = page.data?.rows ?? [];
  const total = page.data?.total ?? 0;
  return (
    <section aria-labelledby="log-title" className="screen log-screen">
      <div className="screen__head">
        <h2 id="log-title">{t('title')}</h2>
        <p className="muted">{t('intro')}</p>
      </div>
      {today.data && <TodayPanel today={today.data} />}
      <LogFilters
        onApply={(f) => {
          setFilter(f);
          setOffset(0);
          setDetail(null);
        }}
        onExport={(f) => void exportCsv(f)}
      />
      <ErrorNotice error={page.error ?? error} onDismiss={() => setError(undefined)} />
      {page.data && (
        <>
          <p className="muted" aria-live="polite" tabIndex={-1} ref={tableHead} data-testid="log-total">
            {t('total', { from: formatNumber(total === 0 ? 0 : offset + 1), to: formatNumber(offset + rows.length), total: formatNumber(total) })}
          </p>
          {rows.length === 0 ? (
            <p>{t('none')}</p>
          ) : (
            <table className="table log-table" data-testid="log-table">
              <thead>
                <tr>
                  <th scope="col">{t('columns.when')}</th>
                  <th scope="col">{t('columns.kind')}</th>
                  <th scope="col">{t('columns.device')}</th>
                  <th scope="col">{t('columns.result')}</th>
                  <th scope="col">{t('columns.duration')}</th>
                  <th scope="col">{t('columns.operator')}</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((r) => (
                  <Row key={`${r.type}:${r.id}`} row={r} selected={detail?.id === r.id} onOpen={(row, button) => void open(row, button)} />
                ))}
              </tbody>
            </table>
          )}
          {total > PAGE && (
            <nav className="actions" aria-label={t('page.label')}>
              <button type="button" className="btn" disabled={offset === 0} onClick={() => goToPage(0)}>
                {t('page.first')}
              </button>
              <button type="button" className="btn" disabled={offset === 0} onClick={() => goToPage(Math.max(0, offset - PAGE))}>
                {t('page.previous')}
              </button>
              <button type="button" className="btn" disabled={offset + PAGE >= total} onClick={() => goToPage(offset + PAGE)}>
                {t('page.next')}
              </button>
            </nav>
          )}
        </>
      )}
      {detail && <JobDetail key={detail.id} job={detail} onClose={close} />}
    </section>
  );
}
