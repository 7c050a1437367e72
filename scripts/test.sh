#!/usr/bin/env bash
# The README's test command runs this (npm test): install missing Debian packages, lint, check for
# import circles, build, type-check, then every test suite. Each step must pass.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s ===\n' "$*"; }

step "Debian packages the tests use"
bash scripts/ensure-test-deps.sh

step "lint"
npm run lint

step "no import circles (src, server/src)"
npm run check:circular

step "build (server, station core, renderer)"
npm run build

step "type-check (renderer, tests, benchmarks)"
npm run typecheck

step "firmware host build (shared by the tests of both lanes, built once here)"
make -C firmware/esp32/host -j2 all

# One file at a time by default: on a 2-core machine the suites' timing checks hold best alone.
# TDS_TEST_LANES=1 runs the two lanes side by side instead (about 40 % faster, for machines with
# cores to spare; see scripts/run-test-lanes.sh).
if [ "${TDS_TEST_LANES:-0}" = 1 ]; then
  step "tests (two lanes side by side)"
  bash scripts/run-test-lanes.sh
else
  step "tests (one file at a time: the station lane, then the server-and-devices lane)"
  npx vitest run
fi
