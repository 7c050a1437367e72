import { describe, expect, it } from 'vitest';
import { runMake } from './host-build.js';

// The firmware's portable core (config, console, Improv, Modbus RTU, CSR, renewal, HTTP parsing,
// zero-touch bootstrap, app logic) built with g++ and Debian's mbedTLS, and its doctest unit tests.
describe('ESP32 firmware core on the host', () => {
  it('builds and passes its unit tests', () => {
    const r = runMake('test');
    const summary = /test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed/.exec(r.output);
    expect(summary, r.output.slice(-3000)).not.toBeNull();
    expect(Number(summary![3]), r.output.slice(-3000)).toBe(0);
    expect(Number(summary![1])).toBeGreaterThanOrEqual(44);
    expect(r.status, r.output.slice(-3000)).toBe(0);
  }, 300_000);
});
