import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { claimMac, type ClaimApprovedView, type ClaimDevice, type ClaimOutcome, type ClaimPreviewView, type ClaimRefusal } from '../../../shared/claims.js';
import { useStation } from '../../app/context.js';
import { useSettings } from '../../app/settings-context.js';
import { ErrorNotice } from '../../components/ErrorNotice.js';
import { ClaimLive, RefusalNotice } from './ClaimOutcome.js';
import { FindDevice } from './FindDevice.js';
import { PreviewPanel, type ApproveDraft } from './PreviewPanel.js';
import './claim.css';

type Stage =
  | { kind: 'find' }
  | { kind: 'preview'; device: ClaimDevice; preview: ClaimPreviewView }
  | { kind: 'approved'; approved: ClaimApprovedView }
  | { kind: 'rejected'; mac: string; reason: string };

/** Suggested gateway code and name for a MAC (the station's usual `GW-{mac12}` / `Gateway {MAC12}`). */
function defaultsFor(mac: string, accountId: number | null): ApproveDraft {
  const hex = mac.replace(/:/g, '');
  return { accountId: accountId ?? undefined, gatewayCode: `GW-${hex}`, name: `Gateway ${hex.toUpperCase()}` };
}

/**
 * The Claim screen (zero-touch onboarding): find the device that asked to join, see what the server
 * saw, approve it for an account (or reject it), then watch until the broker sees it online. The
 * claim secret or code the installer holds goes to the station core for this request only.
 */
export default function ClaimScreen() {
  const { t } = useTranslation('claim');
  const client = useStation();
  const { settings } = useSettings();
  const [stage, setStage] = useState<Stage>({ kind: 'find' });
  /** `at`: when the refusal came (a lockout says until when). */
  const [refusal, setRefusal] = useState<{ refusal: ClaimRefusal; mac: string; at: number } | null>(null);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  /** Runs one request; a refusal is shown in words, other errors are thrown for the form to place. */
  const run = async <T,>(mac: string, call: () => Promise<ClaimOutcome<T>>, done: (value: T) => void): Promise<void> => {
    setRefusal(null);
    setError(undefined);
    setBusy(true);
    try {
      const r = await call();
      if (r.ok) done(r.value);
      else setRefusal({ refusal: r.refusal, mac, at: Date.now() });
    } finally {
      setBusy(false);
    }
  };

  const lookUp = (device: ClaimDevice): Promise<void> =>
    run(claimMac(device), () => client.invoke('claim.preview', { device }), (preview) => setStage({ kind: 'preview', device, preview }));

  const startOver = (): void => {
    setRefusal(null);
    setError(undefined);
    setStage({ kind: 'find' });
  };

  return (
    <div className="screen claim" data-testid="claim-screen">
      <h2>{t('title')}</h2>
      <p className="muted">{t('intro')}</p>
      {refusal && <RefusalNotice refusal={refusal.refusal} mac={refusal.mac} at={refusal.at} />}
      <ErrorNotice error={error} onDismiss={() => setError(undefined)} />
      {stage.kind === 'find' && <FindDevice busy={busy} lookUp={lookUp} onError={setError} />}
      {stage.kind === 'preview' && (
        <PreviewPanel
          key={stage.preview.bootstrapId}
          preview={stage.preview}
          defaults={defaultsFor(stage.preview.mac, settings.server.accountId)}
          busy={busy}
          onError={setError}
          startOver={startOver}
          approve={(form) =>
            run(stage.preview.mac, () => client.invoke('claim.approve', { ...form, device: stage.device, bootstrapId: stage.preview.bootstrapId }), (approved) =>
              setStage({ kind: 'approved', approved }),
            )
          }
          reject={(reason) =>
            run(
              stage.preview.mac,
              () => client.invoke('claim.reject', { device: stage.device, bootstrapId: stage.preview.bootstrapId, ...(reason.trim() ? { reason } : {}) }),
              (r) => setStage({ kind: 'rejected', mac: stage.preview.mac, reason: r.reason }),
            )
          }
        />
      )}
      {stage.kind === 'approved' && <ClaimLive approved={stage.approved} onAnother={startOver} />}
      {stage.kind === 'rejected' && (
        <section className="card" aria-labelledby="claim-rejected-title" data-testid="claim-rejected">
          <h3 id="claim-rejected-title">{t('rejected.title')}</h3>
          <p role="status">{t('rejected.summary', { mac: stage.mac, reason: stage.reason })}</p>
          <button type="button" className="btn" onClick={startOver}>
            {t('live.another')}
          </button>
        </section>
      )}
    </div>
  );
}
