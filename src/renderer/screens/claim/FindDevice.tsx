import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { ClaimPreviewInputSchema, type ClaimDevice } from '../../../shared/claims.js';
import { FieldShell, FormSummary, TextField, useFieldErrors } from '../../components/form.js';
import { CameraScanner } from './CameraScanner.js';

type Manual = 'code' | 'label';

/**
 * The three ways to name the device: the camera, the scan field (a barcode scanner types the QR's
 * text and Enter, or the text is pasted), or typed by hand (the code on the device's screen or the
 * label's claim secret, with the MAC on the housing). Each is checked with the contract's schema
 * before it is sent; field problems the core finds land under their fields, other errors go to `onError`.
 */
export function FindDevice({ busy, lookUp, onError }: { busy: boolean; lookUp: (device: ClaimDevice) => Promise<void>; onError: (err: unknown) => void }) {
  const { t } = useTranslation('claim');
  const [camera, setCamera] = useState(false);
  const [qr, setQr] = useState('');
  const [manual, setManual] = useState<Manual>('code');
  const [mac, setMac] = useState('');
  const [code, setCode] = useState('');
  const [secret, setSecret] = useState('');
  const scanErrors = useFieldErrors('claim-scan-form');
  const manualErrors = useFieldErrors('claim-manual-form');

  const send = async (device: ClaimDevice, errs: ReturnType<typeof useFieldErrors>): Promise<void> => {
    const req = errs.check(ClaimPreviewInputSchema, { device });
    if (!req) return;
    try {
      await lookUp(device);
    } catch (err) {
      if (!errs.fromError(err)) onError(err);
    }
  };
  const submitScan = (e: FormEvent): void => {
    e.preventDefault();
    void send({ by: 'qr', qr }, scanErrors);
  };
  const submitManual = (e: FormEvent): void => {
    e.preventDefault();
    void send(manual === 'code' ? { by: 'code', mac, code } : { by: 'label', mac, claimSecret: secret }, manualErrors);
  };

  return (
    <section className="card claim-find" aria-labelledby="claim-find-title">
      <h3 id="claim-find-title">{t('find.title')}</h3>
      {camera ? (
        <CameraScanner
          onClose={() => setCamera(false)}
          onScan={(text) => {
            setCamera(false);
            setQr(text);
            void send({ by: 'qr', qr: text }, scanErrors);
          }}
        />
      ) : (
        <button type="button" className="btn" data-testid="claim-camera-start" onClick={() => setCamera(true)}>
          {t('find.camera')}
        </button>
      )}

      <form id="claim-scan-form" className="form-inline" onSubmit={submitScan} noValidate>
        <TextField name="device.qr" label={t('find.scan')} hint={t('find.scanHint')} value={qr} onChange={setQr} error={scanErrors.errors['device.qr']} className="field--wide" autoFocus />
        <button type="submit" className="btn btn--primary" disabled={busy}>
          {busy ? t('find.looking') : t('find.scanSubmit')}
        </button>
      </form>

      <form id="claim-manual-form" onSubmit={submitManual} noValidate aria-labelledby="claim-manual-title">
        <h4 id="claim-manual-title">{t('find.manual')}</h4>
        <FormSummary show={manualErrors.hasErrors} />
        <fieldset className="claim-manual__by">
          <legend>{t('find.manualBy')}</legend>
          {(['code', 'label'] as const).map((m) => (
            <label key={m} className="field--check">
              <input type="radio" name="claim-by" data-field={`by-${m}`} value={m} checked={manual === m} onChange={() => setManual(m)} /> {t(m === 'code' ? 'find.byCode' : 'find.byLabel')}
            </label>
          ))}
        </fieldset>
        <div className="form-grid">
          <TextField name="device.mac" label={t('find.mac')} value={mac} onChange={setMac} error={manualErrors.errors['device.mac']} placeholder="aa:bb:cc:dd:ee:ff" />
          {manual === 'code' ? (
            <TextField name="device.code" label={t('find.code')} hint={t('find.codeHint')} value={code} onChange={setCode} error={manualErrors.errors['device.code']} placeholder="XXXX-XXXX" />
          ) : (
            <FieldShell label={t('find.secret')} hint={t('find.secretHint')} error={manualErrors.errors['device.claimSecret']}>
              {({ id, describedBy, invalid }) => (
                <input
                  id={id}
                  data-field="device.claimSecret"
                  value={secret}
                  onChange={(e) => setSecret(e.target.value)}
                  autoComplete="off"
                  spellCheck={false}
                  aria-invalid={invalid || undefined}
                  aria-describedby={describedBy}
                  className="mono"
                />
              )}
            </FieldShell>
          )}
        </div>
        <button type="submit" className="btn btn--primary" disabled={busy}>
          {busy ? t('find.looking') : t('find.lookUp')}
        </button>
      </form>
    </section>
  );
}
