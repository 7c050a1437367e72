import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useServerIdentity } from '../../app/server-identity.js';
import { AccountsPanel } from './AccountsPanel.js';
import { AuditPanel } from './AuditPanel.js';
import { ServerStatePanel } from './ServerStatePanel.js';
import { TokensPanel } from './TokensPanel.js';

const TABS = ['audit', 'accounts', 'tokens', 'server'] as const;
type Tab = (typeof TABS)[number];

/** The server's admin console, for admin tokens: audit log, accounts, API tokens, CRL and brokers. */
export default function AdminScreen() {
  const { t } = useTranslation('admin');
  const identity = useServerIdentity();
  const [tab, setTab] = useState<Tab>('audit');
  return (
    <section aria-labelledby="admin-title" className="screen">
      <div className="screen__head">
        <h2 id="admin-title">{t('title')}</h2>
        <p className="muted">
          {t('intro')} {identity && (identity.serverAdmin ? t('serverAdmin') : t('accountAdmin', { account: identity.accountId }))}
        </p>
      </div>
      <div className="subnav" role="tablist" aria-label={t('title')}>
        {TABS.map((s) => (
          <button
            key={s}
            type="button"
            role="tab"
            id={`admin-tab-${s}`}
            aria-selected={tab === s}
            aria-controls={`admin-panel-${s}`}
            tabIndex={tab === s ? 0 : -1}
            className="subnav__item"
            onClick={() => setTab(s)}
            onKeyDown={(e) => {
              const i = TABS.indexOf(s);
              const next = e.key === 'ArrowRight' ? TABS[(i + 1) % TABS.length] : e.key === 'ArrowLeft' ? TABS[(i + TABS.length - 1) % TABS.length] : undefined;
              if (next) {
                setTab(next);
                document.getElementById(`admin-tab-${next}`)?.focus();
              }
            }}
          >
            {t(`tabs.${s}`)}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`admin-panel-${tab}`} aria-labelledby={`admin-tab-${tab}`}>
        {tab === 'audit' && <AuditPanel />}
        {tab === 'accounts' && <AccountsPanel />}
        {tab === 'tokens' && <TokensPanel />}
        {tab === 'server' && <ServerStatePanel />}
      </div>
    </section>
  );
}
