import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { ProfileView } from '../../../shared/profile.js';
import { useStation } from '../../app/context.js';
import { useSettings } from '../../app/settings-context.js';
import { useConfirm } from '../../components/ConfirmDialog.js';
import { ErrorNotice } from '../../components/ErrorNotice.js';
import { returnFocusHome } from '../../components/focus.js';
import { ProfileForm } from './ProfileForm.js';
import { ProfileLockPanel } from './ProfileLockPanel.js';

export function ProfilesPanel() {
  const { t } = useTranslation('settings');
  const { t: tc } = useTranslation();
  const client = useStation();
  const { profiles, settings, reloadProfiles, setSettings } = useSettings();
  const locked = settings.profileLock.locked;
  const [editing, setEditing] = useState<ProfileView | 'new' | null>(profiles.length === 0 && !locked ? 'new' : null);
  const [status, setStatus] = useState('');
  const [error, setError] = useState<unknown>();
  const confirm = useConfirm();
  const run = async (p: Promise<unknown>): Promise<void> => {
    setError(undefined);
    try {
      await p;
      await reloadProfiles();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <div>
      <section className="card" aria-labelledby="profiles-title">
        <h3 id="profiles-title">{t('profiles.list')}</h3>
        {profiles.length === 0 ? (
          <p>{t('profiles.none')}</p>
        ) : (
          <ul className="profile-list">
            {profiles.map((p) => (
              <li key={p.name} data-testid="profile-item">
                <strong>{p.name}</strong>
                {settings.activeProfile === p.name && <span className="badge badge--succeeded">{t('profiles.isActive')}</span>}
                <span className="muted">
                  {[p.esp32 ? t('profiles.kinds.esp32') : null, p.pi ? t('profiles.kinds.pi') : null].filter(Boolean).join(' + ')} · {p.brokerHost}:{p.brokerPort} · {t(`profiles.keyTypeShort.${p.keyType}`)} ·{' '}
                  {t(`profiles.keyModeShort.${p.keyMode}`)}
                </span>
                <span className="actions">
                  {!locked && (
                    <button type="button" className="btn btn--small" onClick={() => setEditing(p)} aria-label={`${t('profiles.edit')} ${p.name}`}>
                      {t('profiles.edit')}
                    </button>
                  )}
                  {settings.activeProfile !== p.name && (
                    <button type="button" className="btn btn--small" onClick={() => void run(client.invoke('settings.update', { activeProfile: p.name }).then(setSettings))} aria-label={`${t('profiles.active')}: ${p.name}`}>
                      {t('profiles.active')}
                    </button>
                  )}
                  {!locked && (
                    <button
                      type="button"
                      className="btn btn--small btn--danger"
                      aria-label={t('profiles.deleteNamed', { name: p.name })}
                      onClick={() => {
                        void confirm({ title: t('profiles.deleteTitle', { name: p.name }), message: t('profiles.deleteConfirm', { name: p.name }), confirmLabel: t('profiles.deleteNamed', { name: p.name }), danger: true }).then((yes) => {
                          if (yes) void run(client.invoke('profiles.delete', { name: p.name }));
                        });
                      }}
                    >
                      {tc('actions.delete')}
                    </button>
                  )}
                </span>
              </li>
            ))}
          </ul>
        )}
        {locked ? (
          <p className="notice">{t('profiles.locked')}</p>
        ) : (
          <button type="button" className="btn" onClick={() => setEditing('new')}>
            {t('profiles.new')}
          </button>
        )}
        <p role="status">{status}</p>
        <ErrorNotice error={error} />
      </section>
      {editing && !locked && (
        <ProfileForm
          key={editing === 'new' ? 'new' : editing.name}
          profile={editing === 'new' ? null : editing}
          onCancel={() => {
            setEditing(null);
            returnFocusHome();
          }}
          onSaved={(p) => {
            setEditing(null);
            setStatus(`${tc('actions.saved')} (${p.name})`);
            void reloadProfiles();
          }}
        />
      )}
      <ProfileLockPanel />
    </div>
  );
}
