import { describe, expect, it } from 'vitest';
import { describeProbe, parseProbe } from '../../src/main/pi/probe.js';
import { controlChars } from '../support/control-chars.js';

// What probe.sh prints comes from the Pi: its summary (job detail, `pi probe` in a terminal) must not
// carry the Pi's control characters.
describe('Pi probe summary', () => {
  it('escapes control characters the Pi reports in its model and OS names', () => {
    const probe = parseProbe(
      [
        'probe_version=1',
        'model=Raspberry Pi 4\x1b]0;owned\x07\x1b[2J',
        'os=Debian\rFAKE\u202etxt',
        'arch=aarch64',
        'mac=dc:a6:32:00:00:01',
        'interface=eth0',
        'python=3.11.2',
      ].join('\n'),
    );
    const summary = describeProbe(probe);
    expect(summary).toContain('Raspberry Pi 4\\x1b]0;owned\\x07\\x1b[2J');
    expect(summary).toContain('Debian\\rFAKE\\u202etxt aarch64');
    expect(summary).toContain('MAC dc:a6:32:00:00:01 (eth0)');
    expect(controlChars(summary)).toEqual([]);
  });
});
