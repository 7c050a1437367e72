import { describe, expect, it } from 'vitest';
import type { CertificateSummary } from '@tds/server/contract';
import { splitRevokeReason, standingOf } from '../../src/main/station/gateways.js';
import { crlUrgency } from '../../src/renderer/screens/admin/crl-urgency.js';
import { stretchesOf } from '../../src/renderer/screens/gateways/presence-stretches.js';

/**
 * The rules behind what the Gateways and Admin screens say, on the server's own wire shapes: a
 * gateway's standing from its certificates, a revocation's reason and note, when the CRL's end is
 * near, and a presence history cut into stretches for the timeline.
 */
const DAY = 86_400_000;
const NOW = Date.parse('2026-12-05T12:00:00Z');
const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function cert(over: Partial<CertificateSummary>): CertificateSummary {
  return {
    id: 1,
    mac_address: 'aa:bb:cc:dd:ee:01',
    serial_number: '01',
    issued_at: iso(NOW - 10 * DAY),
    expires_at: iso(NOW + 10 * DAY),
    is_revoked: false,
    revoked_at: null,
    revoke_reason: null,
    key_origin: 'device',
    status: 'active',
    ...over,
  };
}

describe('a gateway’s standing', () => {
  it('active while its active certificate is valid; expired once it is past its end', () => {
    const active = cert({});
    expect(standingOf(active, null, NOW)).toEqual({ kind: 'active' });
    const old = cert({ expires_at: iso(NOW - DAY) });
    expect(standingOf(old, null, NOW)).toEqual({ kind: 'expired', at: old.expires_at });
  });

  it('revoked: the newest certificate that is not pending decides, with the reason and the server’s note apart', () => {
    const history = [
      cert({ id: 3, status: 'pending', serial_number: '03' }),
      cert({ id: 2, status: 'revoked', is_revoked: true, revoked_at: iso(NOW - DAY), revoke_reason: 'cessationOfOperation: pending renewal cancelled' }),
      cert({ id: 1, status: 'revoked', is_revoked: true, revoked_at: iso(NOW - 2 * DAY), revoke_reason: 'superseded: successor confirmed' }),
    ];
    expect(standingOf(null, history, NOW)).toEqual({ kind: 'revoked', at: iso(NOW - DAY), reason: 'cessationOfOperation', note: 'pending renewal cancelled' });
    const plain = [cert({ status: 'revoked', is_revoked: true, revoked_at: iso(NOW), revoke_reason: 'keyCompromise' })];
    expect(standingOf(null, plain, NOW)).toMatchObject({ kind: 'revoked', reason: 'keyCompromise', note: null });
    expect(standingOf(null, [], NOW)).toEqual({ kind: 'none' });
    expect(standingOf(null, null, NOW)).toEqual({ kind: 'none' });
  });

  it('an admin’s free text is kept whole as the note (reason unspecified), even with a colon in it', () => {
    expect(splitRevokeReason('unspecified: moved to site B: rack 4')).toEqual({ reason: 'unspecified', note: 'moved to site B: rack 4' });
    expect(splitRevokeReason('keyCompromise')).toEqual({ reason: 'keyCompromise', note: null });
    expect(splitRevokeReason(null)).toEqual({ reason: null, note: null });
  });
});

describe('the CRL’s end', () => {
  const week = { thisUpdate: iso(NOW - 3 * DAY), nextUpdate: iso(NOW + 4 * DAY) };
  it('ok with more than a day (and a quarter of its lifetime) left; near within it; expired past it', () => {
    expect(crlUrgency(week, NOW)).toBe('ok');
    expect(crlUrgency(week, Date.parse(week.nextUpdate) - DAY + 60_000)).toBe('near');
    expect(crlUrgency(week, Date.parse(week.nextUpdate))).toBe('expired');
    // A short-lived list: a quarter of its lifetime is the limit.
    const hours = { thisUpdate: iso(NOW), nextUpdate: iso(NOW + 8 * 3_600_000) };
    expect(crlUrgency(hours, NOW + 5 * 3_600_000)).toBe('ok');
    expect(crlUrgency(hours, NOW + 6.5 * 3_600_000)).toBe('near');
  });
});

describe('the online history as stretches', () => {
  const since = iso(NOW - DAY);
  const until = iso(NOW);
  const base = { since, until, onlineSeconds: 0, windowSeconds: 86_400, uptimePercent: 0, truncated: false };
  it('unknown before the history, then one stretch per state, a change undone in the same second leaving none', () => {
    const s = stretchesOf({
      ...base,
      stateAtStart: null,
      transitions: [
        { online: true, at: iso(NOW - 12 * 3_600_000) },
        { online: false, at: iso(NOW - 6 * 3_600_000) },
        { online: true, at: iso(NOW - 6 * 3_600_000) },
        { online: false, at: iso(NOW - 3_600_000) },
      ],
    });
    expect(s.map((x) => x.online)).toEqual([null, true, false]);
    expect(s.map((x) => [x.from, x.to])).toEqual([
      [NOW - DAY, NOW - 12 * 3_600_000],
      [NOW - 12 * 3_600_000, NOW - 3_600_000],
      [NOW - 3_600_000, NOW],
    ]);
  });

  it('a state known at the start fills the window when nothing changed', () => {
    expect(stretchesOf({ ...base, stateAtStart: true, transitions: [] })).toEqual([{ from: NOW - DAY, to: NOW, online: true }]);
  });
});
