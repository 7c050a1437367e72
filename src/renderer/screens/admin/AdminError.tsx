import { useTranslation } from 'react-i18next';
import { RemoteError } from '../../app/client.js';
import { ErrorNotice } from '../../components/ErrorNotice.js';

/**
 * An error of the Admin screen: a refusal by the server (403) in words — `forbidden` says what only
 * a server admin may do, when that is the reason — with the server's own sentence kept as a detail.
 */
export function AdminError({ error, forbidden, onDismiss }: { error: unknown; forbidden?: string; onDismiss?: () => void }) {
  const { t } = useTranslation('admin');
  if (error instanceof RemoteError && error.body.code === 'FORBIDDEN') {
    return (
      <div className="notice notice--error" role="alert" data-testid="admin-forbidden">
        <strong>{forbidden ?? t('forbidden.title')}</strong>
        <details>
          <summary>{t('actions.details', { ns: 'common' })}</summary>
          <p className="notice__detail">{error.body.message}</p>
        </details>
      </div>
    );
  }
  return <ErrorNotice error={error} {...(onDismiss ? { onDismiss } : {})} />;
}
