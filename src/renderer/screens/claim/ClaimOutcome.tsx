import { useEffect, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { ClaimApprovedView, ClaimRefusal } from '../../../shared/claims.js';
import { useMonitor, usePresence } from '../../app/hooks.js';

/** A refusal in words (role=alert, focused so keyboard and screen-reader users land on it). */
export function RefusalNotice({ refusal, mac, at }: { refusal: ClaimRefusal; mac: string; at: number }) {
  const { t } = useTranslation('claim');
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => box.current?.focus(), [refusal]);
  const r = refusal.reason;
  let text: string;
  if (r === 'wrong-code' || r === 'wrong-secret') text = t(`refusal.${r}`, { mac, count: refusal.attemptsLeft ?? 0 });
  else if (r === 'locked-out') {
    const seconds = refusal.retryAfterSeconds ?? 900;
    const until = new Date(at + seconds * 1000).toLocaleTimeString();
    text = t('refusal.locked-out', { minutes: Math.ceil(seconds / 60), until });
  } else text = t(`refusal.${r}`);
  return (
    <div ref={box} tabIndex={-1} className="notice notice--error" role="alert" data-testid="claim-refusal" data-reason={r}>
      <strong>{t('refusal.title')}</strong>
      <p>{text}</p>
      {refusal.message && <p className="notice__detail">{t('refusal.serverSaid', { message: refusal.message })}</p>}
    </div>
  );
}

function elapsed(ms: number): string {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/**
 * After the approval: the device fetches its certificate on its next poll and connects to the
 * broker; the station's monitor says when it is online (live presence events).
 */
export function ClaimLive({ approved, onAnother }: { approved: ClaimApprovedView; onAnother: () => void }) {
  const { t } = useTranslation('claim');
  const presence = usePresence();
  const monitor = useMonitor();
  const heading = useRef<HTMLHeadingElement>(null);
  const [since] = useState(() => Date.now());
  const [now, setNow] = useState(() => Date.now());
  const online = presence[approved.mac] === true || (monitor?.online.includes(approved.mac) ?? false);
  useEffect(() => heading.current?.focus(), []);
  useEffect(() => {
    if (online) return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [online]);
  return (
    <section className="card claim-live" aria-labelledby="claim-live-title" data-testid="claim-live" data-state={online ? 'online' : 'waiting'}>
      <h3 id="claim-live-title" ref={heading} tabIndex={-1}>
        {t('live.title')}
      </h3>
      <p>{t('live.summary', { mac: approved.mac, account: approved.accountId, code: approved.gatewayCode, name: approved.name, serial: approved.certificateSerial })}</p>
      <p role="status" aria-live="polite" data-testid="claim-live-status">
        <span className={`dot dot--${online ? 'connected' : 'connecting'}`} aria-hidden="true" /> {online ? t('live.online', { mac: approved.mac }) : t('live.waiting')}
      </p>
      {!online && <p className="muted">{t('live.elapsed', { elapsed: elapsed(now - since) })}</p>}
      {monitor?.state !== 'connected' && !online && <p className="notice">{t('live.noMonitor')}</p>}
      <button type="button" className="btn" onClick={onAnother}>
        {t('live.another')}
      </button>
    </section>
  );
}
