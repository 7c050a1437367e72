import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { AccountView } from '../../../shared/admin-views.js';
import { useStation } from '../../app/context.js';
import { useAsync } from '../../app/hooks.js';
import { useServerIdentity } from '../../app/server-identity.js';
import { formatDateTime } from '../../components/format.js';
import { AdminError } from './AdminError.js';
import { NameDialog } from './NameDialog.js';

const panelHeading = (): HTMLElement | null => document.getElementById('accounts-title');

/** Accounts: an account's admin sees and renames its own; a server admin sees, creates and renames any. */
export function AccountsPanel() {
  const { t } = useTranslation('admin');
  const { t: tc } = useTranslation();
  const client = useStation();
  const identity = useServerIdentity();
  const list = useAsync(() => client.invoke('admin.accounts'), [client]);
  const [editing, setEditing] = useState<AccountView | 'new' | null>(null);
  const [status, setStatus] = useState('');
  return (
    <section className="card" aria-labelledby="accounts-title">
      <h3 id="accounts-title" tabIndex={-1}>
        {t('accounts.title')}
      </h3>
      <AdminError error={list.error} />
      {list.data && (
        <table className="table" data-testid="accounts-table">
          <thead>
            <tr>
              <th scope="col">{t('accounts.id')}</th>
              <th scope="col">{t('accounts.name')}</th>
              <th scope="col">{t('accounts.active')}</th>
              <th scope="col">{t('accounts.created')}</th>
              <th scope="col">
                <span className="visually-hidden">{t('accounts.rename')}</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {list.data.map((a) => (
              <tr key={a.id} data-account={a.id}>
                <td>{a.id}</td>
                <td>{a.name}</td>
                <td>{a.active ? tc('common.yes') : tc('common.no')}</td>
                <td>{formatDateTime(a.createdAt)}</td>
                <td>
                  <button type="button" className="btn btn--small" aria-label={t('accounts.renameLabel', { name: a.name })} onClick={() => setEditing(a)}>
                    {t('accounts.rename')}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div className="actions">
        {identity?.serverAdmin ? (
          <button type="button" className="btn" onClick={() => setEditing('new')}>
            {t('accounts.create')}
          </button>
        ) : (
          <p className="muted">{t('accounts.onlyServerAdmin')}</p>
        )}
        <span role="status">{status}</span>
      </div>
      {editing && (
        <NameDialog
          title={editing === 'new' ? t('accounts.createTitle') : t('accounts.renameLabel', { name: editing.name })}
          label={editing === 'new' ? t('accounts.name') : t('accounts.newName', { name: editing.name })}
          initial={editing === 'new' ? '' : editing.name}
          submitLabel={editing === 'new' ? t('accounts.createSubmit') : t('accounts.rename')}
          fallbackFocus={panelHeading}
          onClose={() => setEditing(null)}
          onSubmit={async (name) => {
            const a = editing === 'new' ? await client.invoke('admin.createAccount', { name }) : await client.invoke('admin.renameAccount', { id: editing.id, name });
            setEditing(null);
            setStatus(editing === 'new' ? t('accounts.createdDone', { name: a.name }) : t('accounts.renamed', { name: a.name }));
            list.reload();
          }}
        />
      )}
    </section>
  );
}
