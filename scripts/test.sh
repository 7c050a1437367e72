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

step "tests (two lanes side by side)"
bash scripts/run-test-lanes.sh
