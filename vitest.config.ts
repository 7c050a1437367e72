import { defineConfig } from 'vitest/config';

// One runner for the whole repo: unit, integration (real server, Mosquitto, OpenSSH, simulators) and
// browser E2E (playwright-core driving Debian's Chromium). Integration tests start real processes, so
// they run in forked workers with generous timeouts.
export default defineConfig({
  resolve: {
    // Tests import workspace packages from source (no stale build); see "source" in server/package.json.
    conditions: ['source'],
  },
  ssr: {
    resolve: { conditions: ['source'], externalConditions: ['source'] },
  },
  test: {
    include: ['test/**/*.test.ts', 'server/test/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    pool: 'forks',
    // One file at a time: many suites start real brokers, SSH servers, simulators and Chromium, and
    // several assert on time (keepalive, flash-stub timeouts, revocation within 5 s). On a 2-core machine
    // two such files side by side starve each other; serial is slower but deterministic.
    maxWorkers: 1,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    reporters: ['default'],
    globalSetup: ['test/support/global-setup.ts'],
  },
});
