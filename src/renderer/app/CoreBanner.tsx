import { useState, useSyncExternalStore } from 'react';
import { useTranslation } from 'react-i18next';
import { useLive } from './context.js';

/**
 * Says when the station core (the process that drives the devices) stopped unexpectedly: while it
 * restarts, and afterwards how many running jobs were interrupted (they show as interrupted, with
 * Retry). The last notice stays until dismissed.
 */
export function CoreBanner() {
  const { t } = useTranslation();
  const live = useLive();
  const core = useSyncExternalStore(live.core.subscribe, live.core.get);
  const [dismissed, setDismissed] = useState(0);
  if (!core || core.restarts === 0 || dismissed === core.restarts) return null;
  if (core.state === 'stopped') {
    return (
      <div className="banner" role="alert" data-testid="core-banner" data-state="stopped">
        {t('app.coreStopped')}
      </div>
    );
  }
  if (core.state === 'restarting') {
    return (
      <div className="banner" role="alert" data-testid="core-banner" data-state="restarting">
        {t('app.coreRestarting', { reason: core.lastExit?.message ?? '' })}
      </div>
    );
  }
  return (
    <div className="banner banner--dismissable" role="alert" data-testid="core-banner" data-state="restarted">
      <span>{t('app.coreRestarted', { count: core.interruptedJobs })}</span>{' '}
      <button type="button" className="btn btn--small" onClick={() => setDismissed(core.restarts)}>
        {t('app.dismiss')}
      </button>
    </div>
  );
}
