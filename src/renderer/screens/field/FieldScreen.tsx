import { useMemo, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { PiTarget } from '../../../shared/views.js';
import { useStation } from '../../app/context.js';
import { useAsync, usePresence, useTargets } from '../../app/hooks.js';
import { useSettings } from '../../app/settings-context.js';
import { useConfirm } from '../../components/ConfirmDialog.js';
import { ErrorNotice } from '../../components/ErrorNotice.js';
import { useFocusOnAppear } from '../../components/focus.js';
import { formatDateTime } from '../../components/format.js';
import { AddHostForm } from './AddHostForm.js';
import { CredentialsDialog, type CredentialsMode } from './CredentialsDialog.js';
import { PiJobCard } from './PiJobCard.js';
import './field.css';

/** A Pi in the list: what it is, its live online state, its pinned host key, and what can be done with it. */
function TargetRow({ target, disabled, onOpen, onForget }: { target: PiTarget; disabled: boolean; onOpen: (mode: CredentialsMode) => void; onForget: () => void }) {
  const { t } = useTranslation('field');
  const client = useStation();
  const presence = usePresence();
  const [error, setError] = useState<unknown>();
  const name = target.name ?? target.host;
  const online = target.mac ? presence[target.mac] : undefined;
  const state = online === undefined ? 'unknown' : online ? 'online' : 'offline';
  return (
    <li className="card target" data-testid="pi-target" data-host={target.host} data-port={target.port} data-online={state}>
      <div className="target__main">
        <strong>{name}</strong>
        <span className="mono">
          {target.host}:{target.port}
        </span>
        <span className="muted">{t(`source.${target.source}`)}</span>
        {target.model && (
          <span>
            {t('model')}: {target.model}
          </span>
        )}
        {target.mac && <span className="mono">{target.mac}</span>}
        {target.mac && (
          <span className="presence" data-testid="target-presence">
            <span className={`dot ${online ? 'dot--connected' : ''}`} aria-hidden="true" /> {t(`presence.${state}`)}
          </span>
        )}
        {target.hostKey && (
          <span className="mono muted small" title={formatDateTime(target.hostKey.firstSeen)} data-testid="target-host-key">
            {t('hostKey', { fingerprint: target.hostKey.fingerprint })}
          </span>
        )}
      </div>
      <div className="actions">
        <button type="button" className="btn btn--primary" aria-label={t('actions.provisionFor', { name })} onClick={() => onOpen('provision')} disabled={disabled}>
          {t('actions.provision')}
        </button>
        <button type="button" className="btn" aria-label={t('actions.probeFor', { name })} onClick={() => onOpen('probe')} disabled={disabled}>
          {t('actions.probe')}
        </button>
        {target.hostKey && (
          <button type="button" className="btn btn--ghost" aria-label={t('actions.forgetFor', { name })} onClick={onForget}>
            {t('actions.forget')}
          </button>
        )}
        {target.source === 'manual' && (
          <button type="button" className="btn btn--ghost" aria-label={t('actions.removeFor', { name })} onClick={() => client.invoke('field.removeHost', { targetId: target.id }).catch(setError)}>
            {t('actions.remove')}
          </button>
        )}
      </div>
      <ErrorNotice error={error} />
    </li>
  );
}

/**
 * The field installer's screen: discovered + hand-entered Pis with their online state, sign-in
 * (remembered between runs, never a secret), a probe that changes nothing, provisioning with the
 * host-key question in view, forgetting the pinned key of a re-imaged Pi, and each job's SSH log.
 */
export default function FieldScreen() {
  const { t } = useTranslation('field');
  const client = useStation();
  const targets = useTargets();
  const { profiles, settings } = useSettings();
  const [dialog, setDialog] = useState<{ target: PiTarget; mode: CredentialsMode } | null>(null);
  const confirm = useConfirm();
  const [forgetError, setForgetError] = useState<unknown>();
  const [notice, setNotice] = useState<string | null>(null);
  const [shownJobs, setShownJobs] = useState<string[]>([]);
  const [profile, setProfile] = useState(settings.activeProfile ?? profiles[0]?.name ?? '');
  // What the station remembers (user, sign-in, key file, recent Pis): loaded again whenever a dialog opens.
  const state = useAsync(() => client.invoke('field.state'), [client, dialog === null]);
  // A notice (the host key forgotten) takes the focus: the button that led to it may be gone with the key.
  const noticeRef = useFocusOnAppear<HTMLParagraphElement>(notice);
  const chosen = profiles.some((p) => p.name === profile) ? profile : (profiles[0]?.name ?? '');
  const jobIds = useMemo(() => [...new Set([...shownJobs, ...targets.map((x) => x.jobId).filter((x): x is string => !!x)])], [shownJobs, targets]);
  // The dialog gives the focus back to what opened it when it closes (Dialog).
  const open = (target: PiTarget, mode: CredentialsMode): void => {
    setNotice(null);
    setDialog({ target, mode });
  };
  const close = (): void => setDialog(null);
  /** Forgets a re-imaged Pi's pinned host key after an in-app confirmation that shows the key. */
  const askForget = async (target: PiTarget): Promise<void> => {
    const key = target.hostKey;
    if (!key) return;
    const name = target.name ?? target.host;
    setForgetError(undefined);
    const ok = await confirm({
      title: t('forget.title', { name }),
      message: <p>{t('forget.body', { keyType: key.keyType, fingerprint: key.fingerprint, host: `${target.host}:${target.port}`, since: formatDateTime(key.firstSeen) })}</p>,
      confirmLabel: t('forget.confirm'),
      danger: true,
    });
    if (!ok) return;
    try {
      await client.invoke('field.forgetHostKey', { targetId: target.id });
      setNotice(t('forget.done', { name }));
    } catch (err) {
      setForgetError(err);
    }
  };

  return (
    <section aria-labelledby="field-title" className="screen field-screen">
      <div className="screen__head">
        <h2 id="field-title">{t('title')}</h2>
        <p className="muted">{t('intro')}</p>
      </div>
      {profiles.length === 0 ? (
        <p className="notice">{t('noProfiles')}</p>
      ) : (
        <label className="field field--inline">
          {t('profile')}
          <select value={chosen} onChange={(e) => setProfile(e.target.value)} data-testid="field-profile">
            {profiles.map((p) => (
              <option key={p.name} value={p.name}>
                {p.name}
              </option>
            ))}
          </select>
        </label>
      )}
      <h3>{t('discovered')}</h3>
      <p className="muted" aria-live="polite">
        {state.data?.discovery === 'unavailable' ? t('discoveryUnavailable') : t('discoveryRunning')}
      </p>
      <ErrorNotice error={forgetError} onDismiss={() => setForgetError(undefined)} />
      {notice && (
        <p className="notice" role="status" data-testid="field-notice" tabIndex={-1} ref={noticeRef}>
          {notice}
        </p>
      )}
      {targets.length === 0 ? (
        <p>{t('none')}</p>
      ) : (
        <ul className="target-list">
          {targets.map((x) => (
            <TargetRow key={x.id} target={x} disabled={!chosen} onOpen={(mode) => open(x, mode)} onForget={() => void askForget(x)} />
          ))}
        </ul>
      )}
      <AddHostForm recent={state.data?.remembered.recentHosts ?? []} />
      {jobIds.map((id) => (
        // The retry takes the failed attempt's place (it stays in the Log).
        <PiJobCard
          key={id}
          jobId={id}
          targets={targets}
          onRetried={(next) => setShownJobs((s) => [...new Set([next, ...s.filter((x) => x !== id)])])}
          onCredentialsNeeded={() => {
            const target = targets.find((x) => x.jobId === id);
            if (target) open(target, 'provision');
          }}
          onForgetHostKey={(x) => void askForget(x)}
        />
      ))}
      {dialog && (
        <CredentialsDialog
          target={dialog.target}
          profile={chosen}
          mode={dialog.mode}
          remembered={state.data?.remembered}
          keyFiles={state.data?.keyFiles ?? []}
          onClose={close}
          onStarted={(jobId) => {
            // Focus goes back where the dialog was opened from; the job's first question takes it when it comes.
            setDialog(null);
            setShownJobs((s) => [jobId, ...s.filter((x) => x !== jobId)]);
          }}
        />
      )}
    </section>
  );
}
