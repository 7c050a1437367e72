import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useSettings } from '../../app/settings-context.js';
import { BackupPanel } from './BackupPanel.js';
import { BrokerForm } from './BrokerForm.js';
import { GeneralForm } from './GeneralForm.js';
import { ProfilesPanel } from './ProfilesPanel.js';
import { ServerForm } from './ServerForm.js';

const ALL_SECTIONS = ['general', 'server', 'broker', 'profiles', 'backup'] as const;
type Section = (typeof ALL_SECTIONS)[number];

/** Station, server, broker/monitor and profile settings; one form per section. */
export default function SettingsScreen() {
  const { t } = useTranslation('settings');
  const { t: tb } = useTranslation('backup');
  const { info, settings } = useSettings();
  // Backups of the bundled server, in standalone mode only.
  const SECTIONS = ALL_SECTIONS.filter((s) => s !== 'backup' || (info.features.bundledServer && settings.server.mode === 'bundled'));
  const [chosen, setSection] = useState<Section>('general');
  const section = SECTIONS.includes(chosen) ? chosen : 'general';
  return (
    <section aria-labelledby="settings-title" className="screen">
      <div className="screen__head">
        <h2 id="settings-title">{t('title')}</h2>
      </div>
      <div className="subnav" role="tablist" aria-label={t('title')}>
        {SECTIONS.map((s) => (
          <button
            key={s}
            type="button"
            role="tab"
            id={`tab-${s}`}
            aria-selected={section === s}
            aria-controls={`panel-${s}`}
            tabIndex={section === s ? 0 : -1}
            className="subnav__item"
            onClick={() => setSection(s)}
            onKeyDown={(e) => {
              const i = SECTIONS.indexOf(s);
              const next = e.key === 'ArrowRight' ? SECTIONS[(i + 1) % SECTIONS.length] : e.key === 'ArrowLeft' ? SECTIONS[(i + SECTIONS.length - 1) % SECTIONS.length] : undefined;
              if (next) {
                setSection(next);
                document.getElementById(`tab-${next}`)?.focus();
              }
            }}
          >
            {s === 'backup' ? tb('tab') : t(`sections.${s}`)}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`panel-${section}`} aria-labelledby={`tab-${section}`}>
        {section === 'general' && <GeneralForm />}
        {section === 'server' && <ServerForm />}
        {section === 'broker' && <BrokerForm />}
        {section === 'profiles' && <ProfilesPanel />}
        {section === 'backup' && <BackupPanel />}
      </div>
    </section>
  );
}
