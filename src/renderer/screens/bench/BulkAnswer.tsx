import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { JobSnapshot } from '../../../shared/jobs.js';
import { useStation } from '../../app/context.js';
import { ErrorNotice } from '../../components/ErrorNotice.js';
import { returnFocusHome, useFocusOnAppear } from '../../components/focus.js';

/**
 * When several boards ask the same question ("already provisioned: replace or stop?"), one answer
 * for all of them. It takes focus when it appears; each board's own question stays on its card.
 */
export function BulkAnswer({ jobs }: { jobs: JobSnapshot[] }) {
  const { t } = useTranslation('bench');
  const client = useStation();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const key = jobs.map((j) => j.question?.id).join(',');
  const ref = useFocusOnAppear<HTMLButtonElement>(jobs.length > 1 ? key.split(',')[0] : false);
  const answer = async (choice: 'replace' | 'stop'): Promise<void> => {
    setBusy(true);
    setError(undefined);
    try {
      // Each board is answered on its own: a question answered meanwhile on its card is skipped.
      const results = await Promise.allSettled(jobs.map((j) => (j.question ? client.invoke('jobs.answer', { jobId: j.id, questionId: j.question.id, choice }) : Promise.resolve())));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) setError(failed.reason);
      else returnFocusHome();
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="bulk" role="group" aria-label={t('bulk.label')} data-testid="bulk-answer" data-focus-keep>
      <p>
        <strong>{t('bulk.reprovision', { count: jobs.length })}</strong>
      </p>
      <div className="actions">
        <button ref={ref} type="button" className="btn btn--primary" disabled={busy} onClick={() => void answer('replace')}>
          {t('bulk.replaceAll')}
        </button>
        <button type="button" className="btn" disabled={busy} onClick={() => void answer('stop')}>
          {t('bulk.stopAll')}
        </button>
      </div>
      <ErrorNotice error={error} />
    </section>
  );
}
