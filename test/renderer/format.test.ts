import i18next from 'i18next';
import { beforeAll, describe, expect, it } from 'vitest';
import { datePattern, formatDate, formatDuration, formatNumber, isoToLocalDate, parseLocalDate } from '../../src/renderer/components/format.js';

// Every figure and date the UI shows goes through Intl in the UI's language (src/renderer/components/format.ts).
describe('UI formatting in the chosen language', () => {
  beforeAll(async () => {
    await i18next.init({ lng: 'en', resources: {} });
  });

  it('says numbers, durations and dates as English does', async () => {
    await i18next.changeLanguage('en');
    expect(formatNumber(921600)).toBe('921,600');
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(1340)).toBe('1.3 s');
    expect(formatDuration(125_000)).toBe('2 min 5 s');
    expect(formatDate('2026-12-05T10:00:00')).toBe('12/05/2026');
    expect(datePattern()).toBe('mm/dd/yyyy');
    expect(parseLocalDate('12/05/2026')).toBe('2026-12-05');
    expect(isoToLocalDate('2026-12-05')).toBe('12/05/2026');
  });

  it('says them as Brazilian Portuguese does: 1,3 s and 05/12/2026; a date is typed day first', async () => {
    await i18next.changeLanguage('pt-BR');
    expect(formatNumber(921600)).toBe('921.600');
    expect(formatDuration(1340)).toBe('1,3 s');
    expect(formatDate('2026-12-05T10:00:00')).toBe('05/12/2026');
    expect(datePattern({ day: 'dd', month: 'mm', year: 'aaaa' })).toBe('dd/mm/aaaa');
    expect(parseLocalDate('05/12/2026')).toBe('2026-12-05');
    expect(parseLocalDate('5-12-2026')).toBe('2026-12-05');
    // Not a date: refused rather than guessed.
    expect(parseLocalDate('31/02/2026')).toBeNull();
    expect(parseLocalDate('05/12')).toBeNull();
    expect(isoToLocalDate('2026-12-05')).toBe('05/12/2026');
    expect(formatDate(null)).toBe('—');
  });
});
