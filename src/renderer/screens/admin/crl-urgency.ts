import type { CrlStateView } from '../../../shared/admin-views.js';

const HOUR_MS = 3_600_000;

/**
 * Whether the CRL's nextUpdate is near: the server re-signs at half its lifetime, so less than a
 * quarter of it left (or a day, whichever is less) means re-signing has stopped; past it, brokers
 * that check the list refuse every device.
 */
export function crlUrgency(c: Pick<CrlStateView, 'thisUpdate' | 'nextUpdate'>, now = Date.now()): 'ok' | 'near' | 'expired' {
  const next = Date.parse(c.nextUpdate);
  if (next <= now) return 'expired';
  const lifetime = next - Date.parse(c.thisUpdate);
  return next - now < Math.min(lifetime / 4, 24 * HOUR_MS) ? 'near' : 'ok';
}
