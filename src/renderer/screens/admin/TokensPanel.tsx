import { useEffect, useRef, useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { CreateTokenInputSchema } from '../../../shared/admin-inputs.js';
import { TOKEN_ROLES, type TokenCreatedView, type TokenRole, type TokenView } from '../../../shared/admin-views.js';
import { useStation } from '../../app/context.js';
import { useAsync } from '../../app/hooks.js';
import { useAdminIdentity } from '../../app/server-identity.js';
import { Dialog } from '../../components/Dialog.js';
import { CheckboxField, FormSummary, SelectField, TextField, useFieldErrors } from '../../components/form.js';
import { formatDateTime } from '../../components/format.js';
import { useConfirm } from '../../components/ConfirmDialog.js';
import { focusIfLost } from '../../components/focus.js';
import { AdminError } from './AdminError.js';

const panelHeading = (): HTMLElement | null => document.getElementById('tokens-title');

function CreateTokenDialog({ onClose, onCreated }: { onClose: () => void; onCreated: (t: TokenCreatedView) => void }) {
  const { t } = useTranslation('admin');
  const { t: tc } = useTranslation();
  const client = useStation();
  const identity = useAdminIdentity();
  const serverAdmin = identity?.serverAdmin === true;
  const accounts = useAsync(() => (serverAdmin ? client.invoke('admin.accounts') : Promise.resolve([])), [client, serverAdmin]);
  const [role, setRole] = useState<TokenRole>('operator');
  const [label, setLabel] = useState('');
  const [account, setAccount] = useState(identity ? String(identity.accountId) : '');
  const [makeServerAdmin, setMakeServerAdmin] = useState(false);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const form = useRef<HTMLFormElement>(null);
  const { errors, check, fromError, hasErrors } = useFieldErrors('token-form');
  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    const req = check(CreateTokenInputSchema, {
      role,
      ...(label.trim() ? { label } : {}),
      ...(serverAdmin && account && Number(account) !== identity?.accountId ? { accountId: Number(account) } : {}),
      ...(serverAdmin && role === 'admin' && makeServerAdmin ? { serverAdmin: true } : {}),
    });
    if (!req) return;
    setBusy(true);
    setError(undefined);
    try {
      onCreated(await client.invoke('admin.createToken', req));
    } catch (err) {
      if (!fromError(err)) setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog open title={t('tokens.createTitle')} onClose={onClose} initialFocus={form} returnFocusTo={panelHeading}>
      <form id="token-form" ref={form} onSubmit={(e) => void submit(e)} noValidate>
        <FormSummary show={hasErrors} />
        <SelectField<TokenRole>
          name="role"
          label={t('tokens.role')}
          value={role}
          onChange={setRole}
          options={TOKEN_ROLES.map((r) => ({ value: r, label: t(`tokens.roles.${r}`) }))}
          // What the chosen role may do, under the field: inside the option it was cut at the dialog's width.
          hint={t(`tokens.roleHints.${role}`)}
          error={errors.role}
        />
        <TextField name="label" label={t('tokens.label')} hint={t('tokens.labelHint')} value={label} onChange={setLabel} error={errors.label} />
        {serverAdmin && (
          <SelectField
            name="accountId"
            label={t('tokens.forAccount')}
            value={account}
            onChange={setAccount}
            options={(accounts.data ?? []).map((a) => ({ value: String(a.id), label: `${a.id} · ${a.name}` }))}
            error={errors.accountId}
          />
        )}
        {serverAdmin && role === 'admin' && <CheckboxField name="serverAdmin" label={t('tokens.makeServerAdmin')} checked={makeServerAdmin} onChange={setMakeServerAdmin} />}
        <AdminError error={error} forbidden={t('forbidden.serverAdminOnly')} />
        <div className="actions">
          <button type="submit" className="btn btn--primary" disabled={busy}>
            {t('tokens.createSubmit')}
          </button>
          <button type="button" className="btn" onClick={onClose}>
            {tc('actions.cancel')}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** The new token's secret, shown this once, with a copy button and the warning that it will not be shown again. */
function SecretDialog({ created, onClose }: { created: TokenCreatedView; onClose: () => void }) {
  const { t } = useTranslation('admin');
  const [copied, setCopied] = useState('');
  const copy = useRef<HTMLButtonElement>(null);
  const doCopy = async (): Promise<void> => {
    try {
      await navigator.clipboard.writeText(created.secret);
      setCopied(t('tokens.copied'));
    } catch {
      setCopied(t('tokens.copyFailed'));
    }
  };
  return (
    <Dialog open title={t('tokens.secretTitle', { id: created.token.id })} onClose={onClose} initialFocus={copy} returnFocusTo={panelHeading}>
      <p className="notice notice--warn" role="alert">
        {t('tokens.secretWarn')}
      </p>
      <p id="token-secret-label">{t('tokens.secretLabel')}</p>
      <div className="secret">
        <code aria-labelledby="token-secret-label" data-testid="token-secret">
          {created.secret}
        </code>
        <button type="button" className="btn" ref={copy} onClick={() => void doCopy()}>
          {t('tokens.copy')}
        </button>
        <span role="status">{copied}</span>
      </div>
      <div className="actions">
        <button type="button" className="btn btn--primary" onClick={onClose}>
          {t('tokens.done')}
        </button>
      </div>
    </Dialog>
  );
}

/** API tokens: listed without secrets, made with a role (the secret shown once), revoked after asking. */
export function TokensPanel() {
  const { t } = useTranslation('admin');
  const client = useStation();
  const identity = useAdminIdentity();
  const list = useAsync(() => client.invoke('admin.tokens', {}), [client]);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<TokenCreatedView | null>(null);
  const confirm = useConfirm();
  const [status, setStatus] = useState('');
  const [error, setError] = useState<unknown>();
  const labelOf = (x: TokenView): string => `${x.label ?? t('tokens.noLabel')}${x.id === identity?.tokenId ? ` · ${t('tokens.this')}` : ''}`;
  const revoke = async (x: TokenView): Promise<void> => {
    const sure = await confirm({
      title: t('tokens.revokeTitle', { id: x.id }),
      message: <p className="notice notice--warn">{t('tokens.revokeText', { label: labelOf(x) })}</p>,
      confirmLabel: t('tokens.revoke'),
      danger: true,
      returnFocusTo: panelHeading,
    });
    if (!sure) return;
    try {
      await client.invoke('admin.revokeToken', { id: x.id });
      setStatus(t('tokens.revoked', { id: x.id }));
      refocus.current = true;
      list.reload();
    } catch (err) {
      setError(err);
    }
  };
  // The row's revoke button goes once the list shows the revocation: the panel's heading takes the focus then.
  const refocus = useRef(false);
  useEffect(() => {
    if (!refocus.current || !list.data) return;
    refocus.current = false;
    focusIfLost(panelHeading);
  }, [list.data]);
  return (
    <section className="card" aria-labelledby="tokens-title">
      <h3 id="tokens-title" tabIndex={-1}>
        {t('tokens.title')}
      </h3>
      <AdminError error={list.error} />
      {list.data && (
        <table className="table" data-testid="tokens-table">
          <thead>
            <tr>
              <th scope="col">{t('tokens.id')}</th>
              <th scope="col">{t('tokens.account')}</th>
              <th scope="col">{t('tokens.role')}</th>
              <th scope="col">{t('tokens.label')}</th>
              <th scope="col">{t('tokens.created')}</th>
              <th scope="col">{t('tokens.state')}</th>
              <th scope="col">
                <span className="visually-hidden">{t('tokens.revoke')}</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {list.data.map((x) => (
              <tr key={x.id} data-token={x.id} className={x.revokedAt ? 'row--muted' : ''}>
                <td>{x.id}</td>
                <td>{x.accountId}</td>
                <td>
                  {t(`tokens.roles.${x.role}`)}
                  {x.serverAdmin && ` (${t('tokens.serverAdmin')})`}
                </td>
                <td>{labelOf(x)}</td>
                <td>{formatDateTime(x.createdAt)}</td>
                <td>{x.revokedAt ? t('tokens.revokedAt', { at: formatDateTime(x.revokedAt) }) : t('tokens.active')}</td>
                <td>
                  {!x.revokedAt && (
                    <button type="button" className="btn btn--small btn--danger" aria-label={t('tokens.revokeLabel', { id: x.id, label: labelOf(x) })} onClick={() => void revoke(x)}>
                      {t('tokens.revoke')}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <AdminError error={error} onDismiss={() => setError(undefined)} />
      <div className="actions">
        <button type="button" className="btn" onClick={() => setCreating(true)}>
          {t('tokens.create')}
        </button>
        <span role="status">{status}</span>
      </div>
      {creating && (
        <CreateTokenDialog
          onClose={() => setCreating(false)}
          onCreated={(c) => {
            setCreating(false);
            setCreated(c);
            list.reload();
          }}
        />
      )}
      {created && <SecretDialog created={created} onClose={() => setCreated(null)} />}
    </section>
  );
}
