import { useRef, useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { BundledBackupInputSchema, BundledCheckInputSchema } from '../../../shared/inputs.js';
import type { FieldIssue } from '../../../shared/validation.js';
import type { BundledBackupContents, BundledRestoreView } from '../../../shared/views.js';
import { useStation } from '../../app/context.js';
import { useSettings } from '../../app/settings-context.js';
import { ErrorNotice } from '../../components/ErrorNotice.js';
import { FormSummary, TextField, useFieldErrors } from '../../components/form.js';
import { formatDateTime } from '../../components/format.js';
import { ConfirmDialog, formatBytes, formatNumber } from '../gateways/interim.js';
import { en } from './backup-strings.js';

type Refusal = keyof typeof en.refusals;

/** A field issue from the core in words: a backup refusal's cause (`backup.truncated`, …) in the UI language. */
function useRefusalText(): (issue: FieldIssue | undefined) => FieldIssue | undefined {
  const { t } = useTranslation('backup');
  return (issue) => {
    if (!issue) return undefined;
    const cause = issue.key.startsWith('backup.') ? issue.key.slice(7) : issue.key === 'caPassphrase' ? 'caPassphrase' : undefined;
    if (cause === undefined) return issue;
    // A key the validation dictionary does not have shows its message: the translated sentence.
    return { ...issue, key: 'backupRefusal', message: t(`refusals.${(cause in en.refusals ? cause : 'other') as Refusal}`) };
  };
}

/** Make a backup: where (a folder, or a new file's path) and the passphrase typed twice. */
function MakeBackup() {
  const { t } = useTranslation('backup');
  const client = useStation();
  const words = useRefusalText();
  const [path, setPath] = useState('');
  const [passphrase, setPassphrase] = useState('');
  const [again, setAgain] = useState('');
  const [mismatch, setMismatch] = useState<FieldIssue>();
  const [status, setStatus] = useState('');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const { errors, check, fromError, hasErrors } = useFieldErrors('backup-form');
  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setStatus('');
    setError(undefined);
    const req = check(BundledBackupInputSchema, { path, passphrase });
    if (!req) return;
    if (again !== passphrase) {
      setMismatch({ field: 'again', key: 'passphraseMismatch', message: t('make.mismatch') });
      requestAnimationFrame(() => document.querySelector<HTMLElement>('#backup-form [data-field="again"]')?.focus());
      return;
    }
    setMismatch(undefined);
    setBusy(true);
    try {
      const r = await client.invoke('bundled.backup', req);
      setStatus(t('make.done', { file: r.file, size: formatBytes(r.bytes), count: r.files }));
      setPassphrase('');
      setAgain('');
    } catch (err) {
      if (!fromError(err)) setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form id="backup-form" className="card form" onSubmit={(e) => void submit(e)} noValidate aria-labelledby="backup-make-title">
      <h3 id="backup-make-title">{t('make.title')}</h3>
      <p className="muted">{t('make.intro')}</p>
      <FormSummary show={hasErrors || mismatch !== undefined} />
      <TextField name="path" label={t('make.path')} hint={t('make.pathHint')} value={path} onChange={setPath} error={words(errors.path)} />
      <TextField name="passphrase" type="password" label={t('make.passphrase')} hint={t('make.passphraseHint')} value={passphrase} onChange={setPassphrase} error={errors.passphrase} autoComplete="new-password" />
      <TextField name="again" type="password" label={t('make.again')} value={again} onChange={setAgain} error={mismatch} autoComplete="new-password" />
      <ErrorNotice error={error} />
      <div className="actions">
        <button type="submit" className="btn btn--primary" disabled={busy}>
          {busy ? t('actions.working', { ns: 'common' }) : t('make.submit')}
        </button>
        <span role="status" data-testid="backup-status">
          {status}
        </span>
      </div>
    </form>
  );
}

function Contents({ c }: { c: BundledBackupContents }) {
  const { t } = useTranslation('backup');
  const store = c.store.kind in en.restore.stores ? t(`restore.stores.${c.store.kind as keyof typeof en.restore.stores}`) : c.store.kind;
  return (
    <section className="notice" aria-labelledby="backup-contents-title" data-testid="backup-contents" data-same-ca={String(c.sameCa)}>
      <strong id="backup-contents-title">{t('restore.contents')}</strong>
      <dl className="facts facts--words">
        <div>
          <dt>{t('restore.made')}</dt>
          <dd>{formatDateTime(c.createdAt)}</dd>
        </div>
        <div>
          <dt>{t('restore.size')}</dt>
          <dd>{formatBytes(c.bytes)}</dd>
        </div>
        <div>
          <dt>{t('restore.store')}</dt>
          <dd>
            {store}
            {c.store.schemaVersion !== null && `, ${t('restore.schema', { version: formatNumber(c.store.schemaVersion) })}`}
          </dd>
        </div>
        <div>
          <dt>{t('restore.files')}</dt>
          <dd>{formatNumber(c.files)}</dd>
        </div>
      </dl>
      <ul className="backup-contents">
        {c.paths.map((p) => (
          <li key={p}>{p}</li>
        ))}
      </ul>
      <p>{c.sameCa === null ? t('restore.noServer') : c.sameCa ? t('restore.sameCa') : t('restore.otherCa')}</p>
    </section>
  );
}

/** Restore: the file is read and verified first and what it holds is shown; then a confirmation; then the result. */
function RestoreBackup() {
  const { t } = useTranslation('backup');
  const client = useStation();
  const words = useRefusalText();
  const [path, setPath] = useState('');
  const [passphrase, setPassphrase] = useState('');
  const [caPassphrase, setCaPassphrase] = useState('');
  const [checked, setChecked] = useState<BundledBackupContents>();
  const [confirming, setConfirming] = useState(false);
  const [result, setResult] = useState<BundledRestoreView>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const { errors, check, fromError, hasErrors } = useFieldErrors('restore-form');
  const heading = useRef<HTMLHeadingElement>(null);
  const reset = (): void => {
    setChecked(undefined);
    setResult(undefined);
  };
  const inspect = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setError(undefined);
    reset();
    const req = check(BundledCheckInputSchema, { path, passphrase });
    if (!req) return;
    setBusy(true);
    try {
      setChecked(await client.invoke('bundled.checkBackup', req));
    } catch (err) {
      if (!fromError(err)) setError(err);
    } finally {
      setBusy(false);
    }
  };
  const restore = async (): Promise<void> => {
    setBusy(true);
    setError(undefined);
    try {
      const r = await client.invoke('bundled.restore', { path, passphrase, ...(checked?.sameCa === false && caPassphrase ? { caPassphrase } : {}) });
      setConfirming(false);
      setChecked(undefined);
      setResult(r);
      setPassphrase('');
      setCaPassphrase('');
    } catch (err) {
      setConfirming(false);
      if (!fromError(err)) setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form id="restore-form" className="card form" onSubmit={(e) => void inspect(e)} noValidate aria-labelledby="backup-restore-title">
      <h3 id="backup-restore-title" ref={heading} tabIndex={-1}>
        {t('restore.title')}
      </h3>
      <p className="notice notice--warn">{t('restore.warn')}</p>
      <FormSummary show={hasErrors} />
      <TextField name="path" label={t('restore.path')} hint={t('restore.pathHint')} value={path} onChange={(v) => {
          setPath(v);
          reset();
        }} error={words(errors.path)} />
      <TextField name="passphrase" type="password" label={t('restore.passphrase')} value={passphrase} onChange={(v) => {
          setPassphrase(v);
          reset();
        }} error={words(errors.passphrase)} autoComplete="off" />
      <div className="actions">
        <button type="submit" className="btn" disabled={busy}>
          {busy && !checked ? t('restore.checking') : t('restore.check')}
        </button>
      </div>
      {checked && <Contents c={checked} />}
      {checked?.sameCa === false && (
        <TextField name="caPassphrase" type="password" label={t('restore.caPassphrase')} hint={t('restore.caPassphraseHint')} value={caPassphrase} onChange={setCaPassphrase} error={words(errors.caPassphrase)} autoComplete="off" />
      )}
      <ErrorNotice error={error} />
      {checked && (
        <div className="actions">
          <button type="button" className="btn btn--danger" disabled={busy} onClick={() => setConfirming(true)}>
            {t('restore.submit')}
          </button>
        </div>
      )}
      <div role="status" data-testid="restore-status">
        {result && (
          <>
            <p>{t('restore.done', { at: formatDateTime(result.createdAt) })}</p>
            {result.previousDataDir && <p className="mono">{t('restore.kept', { dir: result.previousDataDir })}</p>}
          </>
        )}
      </div>
      {confirming && checked && (
        <ConfirmDialog
          title={t('restore.confirmTitle')}
          confirmLabel={t('restore.confirm')}
          danger
          busy={busy}
          onConfirm={() => void restore()}
          onClose={() => setConfirming(false)}
          fallbackFocus={() => heading.current}
        >
          <p className="notice notice--warn">{t('restore.confirmText', { at: formatDateTime(checked.createdAt) })}</p>
          <p className="mono">{checked.file}</p>
        </ConfirmDialog>
      )}
    </form>
  );
}

/** Settings → Backup: the bundled server's backups, made and restored from here (standalone mode only). */
export function BackupPanel() {
  const { t } = useTranslation('backup');
  const { settings } = useSettings();
  if (settings.server.mode !== 'bundled') return <p className="notice">{t('onlyBundled')}</p>;
  return (
    <div className="stack">
      <MakeBackup />
      <RestoreBackup />
    </div>
  );
}
