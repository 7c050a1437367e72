import { describe, expect, it } from 'vitest';
import { dispatch, type StationHandlers } from '../../src/main/station/dispatch.js';
import { controlChars } from '../support/control-chars.js';

// An unexpected handler error is logged on the station's terminal; its message may quote a device or
// a peer, so its control characters are escaped there (the stack keeps its line breaks).
describe('dispatch log', () => {
  it('escapes control characters of an unexpected error before logging it', async () => {
    const logged: string[] = [];
    const handlers = {
      'monitor.status': () => Promise.reject(new Error('board said \x1b[2J\x1b[H\rall good\u202e')),
    } as unknown as StationHandlers;
    const result = await dispatch(handlers, 'monitor.status', undefined, (m) => logged.push(m));
    expect(result).toMatchObject({ ok: false, error: { code: 'INTERNAL' } });
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain('board said \\x1b[2J\\x1b[H\\rall good\\u202e');
    expect(logged[0]).toContain('\n    at ');
    expect(controlChars(logged[0] ?? '', { allowLf: true })).toEqual([]);
  });
});
