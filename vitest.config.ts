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
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    reporters: ['default'],
    globalSetup: ['test/support/global-setup.ts'],
  },
});
