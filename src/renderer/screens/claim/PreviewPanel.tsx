import { useEffect, useRef, useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { ClaimApproveInputSchema, shortFingerprint, type ClaimApproveInput, type ClaimPreviewView } from '../../../shared/claims.js';
import { formatDateTime } from '../../components/format.js';
import { FormSummary, num, TextField, useFieldErrors } from '../../components/form.js';

export interface ApproveDraft {
  accountId: number | undefined;
  gatewayCode: string;
  name: string;
}

/**
 * What the server saw of the device (focus lands on this panel's heading when it opens), and the
 * account / code / name form with Approve and Reject. The request id previewed goes with the
 * approval, so the server refuses it if the device asked again meanwhile.
 */
export function PreviewPanel(props: {
  preview: ClaimPreviewView;
  defaults: ApproveDraft;
  busy: boolean;
  approve: (r: Omit<ClaimApproveInput, 'device' | 'bootstrapId'>) => Promise<void>;
  reject: (reason: string) => Promise<void>;
  startOver: () => void;
  onError: (err: unknown) => void;
}) {
  const { t } = useTranslation('claim');
  const { preview: p } = props;
  const heading = useRef<HTMLHeadingElement>(null);
  const [account, setAccount] = useState(props.defaults.accountId !== undefined ? String(props.defaults.accountId) : '');
  const [code, setCode] = useState(props.defaults.gatewayCode);
  const [name, setName] = useState(props.defaults.name);
  const [rejecting, setRejecting] = useState(false);
  const [reason, setReason] = useState('');
  const { errors, check, fromError, hasErrors } = useFieldErrors('claim-form');
  useEffect(() => heading.current?.focus(), [p.bootstrapId]);

  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    const draft = { accountId: num(account), gatewayCode: code, name };
    const ok = check(ClaimApproveInputSchema.omit({ device: true, bootstrapId: true }), draft);
    if (!ok) return;
    try {
      await props.approve(ok);
    } catch (err) {
      if (!fromError(err)) props.onError(err);
    }
  };
  const asked = t('preview.askedFrom', { when: formatDateTime(p.requestedAt), address: p.sourceIp ?? t('preview.unknownAddress') });
  return (
    <section className="card claim-preview" aria-labelledby="claim-preview-title" data-testid="claim-preview" data-bootstrap-id={p.bootstrapId}>
      <h3 id="claim-preview-title" ref={heading} tabIndex={-1}>
        {t('preview.title')}
      </h3>
      <p className="muted">{t('preview.intro')}</p>
      <dl className="facts">
        <div>
          <dt>{t('preview.mac')}</dt>
          <dd className="mono" data-testid="claim-mac">{p.mac}</dd>
        </div>
        <div>
          <dt>{t('preview.path')}</dt>
          <dd>{p.path === 'attested' ? t('preview.attested') : t('preview.open')}</dd>
        </div>
        {p.birthSerial && (
          <div>
            <dt>{t('preview.birthSerial')}</dt>
            <dd className="mono claim-preview__serial">{p.birthSerial}</dd>
          </div>
        )}
        <div>
          <dt>{t('preview.model')}</dt>
          <dd>{p.model ?? '—'}</dd>
        </div>
        <div>
          <dt>{t('preview.firmware')}</dt>
          <dd>{p.firmwareVersion ?? '—'}</dd>
        </div>
        <div>
          <dt>{t('preview.fingerprint')}</dt>
          <dd className="mono" data-testid="claim-fingerprint" title={t('preview.fingerprintHint', { full: p.keyFingerprint })}>
            {shortFingerprint(p.keyFingerprint)}
          </dd>
        </div>
        <div>
          <dt>{t('preview.keyType')}</dt>
          <dd>{p.keyType}</dd>
        </div>
        <div>
          <dt>{t('preview.asked')}</dt>
          <dd>{asked}</dd>
        </div>
        <div>
          <dt>{t('preview.expires')}</dt>
          <dd>{formatDateTime(p.expiresAt)}</dd>
        </div>
      </dl>
      {!p.macAvailable && (
        <p className="notice notice--error" role="alert">
          {t('preview.unavailable', { problem: p.problem ?? '' })}
        </p>
      )}
      <form id="claim-form" onSubmit={(e) => void submit(e)} noValidate aria-labelledby="claim-form-title">
        <h4 id="claim-form-title">{t('form.title')}</h4>
        <FormSummary show={hasErrors} />
        <div className="form-grid">
          <TextField name="accountId" label={t('form.account')} value={account} onChange={setAccount} error={errors.accountId} inputMode="numeric" className="field--narrow" />
          <TextField name="gatewayCode" label={t('form.code')} value={code} onChange={setCode} error={errors.gatewayCode} />
          <TextField name="name" label={t('form.name')} value={name} onChange={setName} error={errors.name} className="field--wide" />
        </div>
        <div className="actions">
          <button type="submit" className="btn btn--primary" disabled={props.busy || !p.macAvailable}>
            {props.busy ? t('form.approving') : t('form.approve')}
          </button>
          <button type="button" className="btn" aria-expanded={rejecting} onClick={() => setRejecting((x) => !x)}>
            {t('form.reject')}
          </button>
          <button type="button" className="btn btn--ghost" onClick={props.startOver}>
            {t('form.startOver')}
          </button>
        </div>
      </form>
      {rejecting && (
        <form
          id="claim-reject-form"
          className="form-inline"
          noValidate
          onSubmit={(e) => {
            e.preventDefault();
            props.reject(reason).catch(props.onError);
          }}
        >
          <TextField name="reason" label={t('form.rejectReason')} value={reason} onChange={setReason} className="field--wide" autoFocus />
          <button type="submit" className="btn btn--danger" disabled={props.busy}>
            {t('form.rejectConfirm')}
          </button>
        </form>
      )}
    </section>
  );
}
