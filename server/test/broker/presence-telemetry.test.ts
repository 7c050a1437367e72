/**
 * Presence rules and telemetry parsing on a controlled clock (the end-to-end behaviour against real
 * brokers is in server-mqtt.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { PresenceTracker, type PresenceUpdate } from '../../src/mqtt/presence.js';
import { parseTelemetry } from '../../src/mqtt/telemetry.js';

const A = 'a4:cf:12:00:00:01';

function tracker(freshnessMs = 1_000) {
  let now = 1_000_000;
  const writes: PresenceUpdate[] = [];
  const t = new PresenceTracker({
    freshnessMs,
    lastSeenWriteMs: 100,
    now: () => now,
    sink: { resetAll: () => undefined, update: (u) => void writes.push(u) },
  });
  return { t, writes, advance: (ms: number) => (now += ms) };
}

describe('presence', () => {
  it('several instances (timeouts in the store): no reset at start-up, a local timeout is not written, the store decides it', () => {
    let now = 1_000_000;
    const writes: PresenceUpdate[] = [];
    const expired: number[] = [];
    let resets = 0;
    const t = new PresenceTracker({
      freshnessMs: 1_000,
      lastSeenWriteMs: 100,
      timeoutsInStore: true,
      now: () => now,
      sink: { resetAll: () => void resets++, update: (u) => void writes.push(u), expireStale: (before) => void expired.push(before.getTime()) },
    });
    t.start();
    t.stop();
    expect(resets).toBe(0);
    t.onStatus(A, 'online', false);
    expect(writes.map((w) => w.isOnline)).toEqual([true]);
    now += 1_100; // silent here: another instance may be seeing it
    t.sweep();
    expect(t.isOnline(A)).toBe(false);
    expect(writes.map((w) => w.isOnline)).toEqual([true]);
    expect(expired).toEqual([now - 1_000]);
    t.onActivity(A); // seen again here: written online
    expect(writes.map((w) => w.isOnline)).toEqual([true, true]);
    t.onStatus(A, 'offline', false); // an explicit offline is written at once
    expect(writes.map((w) => w.isOnline)).toEqual([true, true, false]);
  });

  it('live online → online; Last Will offline → offline', () => {
    const { t, writes } = tracker();
    t.onStatus(A, 'online', false);
    expect(t.isOnline(A)).toBe(true);
    t.onStatus(A, 'offline', false);
    expect(t.isOnline(A)).toBe(false);
    expect(writes.map((w) => w.isOnline)).toEqual([true, false]);
  });

  it('a silent device goes offline after the freshness timeout; telemetry keeps it online', () => {
    const { t, advance } = tracker(1_000);
    t.onStatus(A, 'online', false);
    advance(800);
    t.onActivity(A, '1.2.3');
    advance(800);
    t.sweep();
    expect(t.isOnline(A)).toBe(true);
    expect(t.snapshot(A)?.firmwareVersion).toBe('1.2.3');
    advance(300);
    t.sweep();
    expect(t.isOnline(A)).toBe(false);
  });

  it('a retained online is a hint: it counts only until the freshness timeout and does not move last_seen', () => {
    const { t, advance } = tracker(1_000);
    t.onStatus(A, 'online', true);
    expect(t.isOnline(A)).toBe(true);
    expect(t.snapshot(A)?.lastSeen).toBeNull();
    advance(1_100);
    t.sweep();
    expect(t.isOnline(A)).toBe(false);
  });

  it('telemetry after a retained offline (device came back) is online again', () => {
    const { t } = tracker();
    t.onStatus(A, 'offline', true);
    t.onActivity(A);
    expect(t.isOnline(A)).toBe(true);
  });

  it('last_seen writes are throttled, transitions are not', () => {
    const { t, writes, advance } = tracker(10_000);
    t.onStatus(A, 'online', false);
    for (let i = 0; i < 50; i++) {
      advance(10);
      t.onActivity(A);
    }
    expect(writes.length).toBeLessThanOrEqual(6);
    t.sweep();
    expect(writes.at(-1)?.lastSeen?.getTime()).toBe(1_000_000 + 500);
  });
});

describe('telemetry payload', () => {
  const now = Date.parse('2026-01-10T12:00:00Z');
  const body = (o: Record<string, unknown>) => Buffer.from(JSON.stringify({ timestamp: '2026-01-10T11:59:58Z', valor: 3.5, unidade: 'kWh', gateway_mac: A, ...o }));
  it('accepts the seed payload, epoch seconds/ms and ISO', () => {
    const r = parseTelemetry(A, body({ slave_id: 1, register: 40001 - 40000, firmware_version: '2.0.1' }), now);
    expect(r.ok && r.row).toMatchObject({ mac: A, valor: 3.5, unidade: 'kWh', slaveId: 1, register: 1, firmwareVersion: '2.0.1', measuredAt: '2026-01-10T11:59:58.000Z' });
    const s = parseTelemetry(A, body({ timestamp: now / 1000 }), now);
    expect(s.ok && s.row.measuredAt).toBe('2026-01-10T12:00:00.000Z');
    const ms = parseTelemetry(A, body({ timestamp: now }), now);
    expect(ms.ok && ms.row.measuredAt).toBe('2026-01-10T12:00:00.000Z');
    const upper = parseTelemetry(A, body({ gateway_mac: 'A4-CF-12-00-00-01' }), now);
    expect(upper.ok).toBe(true);
  });
  it('rejects bodies that claim another gateway, bad types, junk and implausible times', () => {
    expect(parseTelemetry(A, body({ gateway_mac: 'a4:cf:12:00:00:02' }), now)).toMatchObject({ ok: false, error: /does not match/ });
    expect(parseTelemetry(A, body({ valor: '3.5' }), now)).toMatchObject({ ok: false, error: /valor/ });
    expect(parseTelemetry(A, Buffer.from('not json'), now)).toMatchObject({ ok: false });
    expect(parseTelemetry(A, body({ timestamp: '1970-01-01T00:00:00Z' }), now)).toMatchObject({ ok: false, error: /timestamp/ });
    expect(parseTelemetry(A, Buffer.alloc(10_000, 32), now)).toMatchObject({ ok: false, error: /8 KiB/ });
  });
});
