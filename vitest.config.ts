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
    exclude: ['**/node_modules/**', '**/dist/**'],
    pool: 'forks',
    // One file at a time within a lane: many suites start real brokers, SSH servers, simulators and
    // Chromium, and several assert on time (keepalive, flash-stub timeouts, revocation within 5 s).
    // The two lanes below share nothing (free ports, own temp folders, the firmware host build made
    // beforehand): `npx vitest run` (what `npm test` runs) takes them one after the other;
    // scripts/run-test-lanes.sh (`TDS_TEST_LANES=1 npm test`) runs one process per lane side by side.
    maxWorkers: 1,
    projects: [
      {
        extends: true,
        test: {
          name: 'station',
          include: ['test/{e2e,electron,station,cli,jobs,log,devices,esp32}/**/*.test.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'server-devices',
          include: ['server/test/**/*.test.ts', 'test/{firmware,rpi-agent,pi,core}/**/*.test.ts'],
        },
      },
    ],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    reporters: ['default'],
    globalSetup: ['test/support/global-setup.ts'],
  },
});
