import { useTranslation } from 'react-i18next';
import type { GatewayView } from '../../../shared/views.js';
import { formatDate, formatRelative } from './interim.js';
import { en } from './strings.js';

type Reason = keyof typeof en.revoke.reasons;
type Note = keyof typeof en.notes;

/** A revocation in words: the reason's name, and the note (the server's own notes translated; an admin's text as typed). */
export function useRevocationWords(): (reason: string | null, note: string | null) => string {
  const { t } = useTranslation('gateways');
  return (reason, note) => {
    const name = reason && reason in en.revoke.reasons ? t(`revoke.reasons.${reason as Reason}`) : (reason ?? t('revoke.reasons.unspecified'));
    if (!note) return name;
    const noteText = note in en.notes ? t(`notes.${note as Note}`) : note;
    return reason === 'unspecified' ? noteText : `${name} (${noteText})`;
  };
}

export type GatewayState = 'online' | 'offline' | 'revoked' | 'expired' | 'none';

/** Revoked, expired or never certified wins over presence: such a gateway cannot connect at all. */
export function gatewayState(g: GatewayView, online: boolean): GatewayState {
  if (g.standing.kind !== 'active') return g.standing.kind;
  return online ? 'online' : 'offline';
}

const DOT: Record<GatewayState, string> = { online: 'connected', offline: 'unconfigured', revoked: 'error', expired: 'error', none: 'unconfigured' };

/** The gateway's state as a dot and words, the same in the list and the detail (`long`: with the date). */
export function GatewayStateText({ gateway, online, long }: { gateway: GatewayView; online: boolean; long?: boolean }) {
  const { t } = useTranslation('gateways');
  const words = useRevocationWords();
  const state = gatewayState(gateway, online);
  const s = gateway.standing;
  let text: string;
  if (s.kind === 'revoked') text = long && s.at ? t('state.revokedOn', { at: formatDate(s.at), reason: words(s.reason, s.note) }) : t('state.revoked', { reason: words(s.reason, s.note) });
  else if (s.kind === 'expired') text = long ? t('state.expiredOn', { at: formatDate(s.at) }) : t('state.expired');
  else text = t(`state.${state as 'online' | 'offline' | 'none'}`);
  return (
    <span data-state={state}>
      <span className={`dot dot--${DOT[state]}`} aria-hidden="true" /> {text}
    </span>
  );
}

/** "in 3 years (05/12/2029)": when a certificate expires, in words and as a date. */
export function ExpiryText({ at }: { at: string | null | undefined }) {
  const { t } = useTranslation('gateways');
  if (!at) return <>—</>;
  return <time dateTime={at}>{t('expires', { relative: formatRelative(at), date: formatDate(at) })}</time>;
}
