#!/usr/bin/env bash
# Runs the test suite's two lanes (projects in vitest.config.ts) side by side, each one file at a
# time: "station" (browser E2E, station service, ESP32 jobs) and "server-devices" (the issuance
# server, brokers, PostgreSQL, SoftHSM, firmware host build, Pi jobs and agent, core supervisor). They share nothing but the
# machine, so a 2-core machine runs the suite in about half the serial time. The station lane prints
# as it goes; the other lane's output follows when both are done. Extra arguments go to both vitest
# runs (e.g. a file filter). Fails when either lane fails; stops both lanes on Ctrl+C.
set -uo pipefail
cd "$(dirname "$0")/.."

out=$(mktemp -d)
pids=()
stop_lanes() {
  # Each lane is its own process group (setsid): stopping it stops every process its tests started.
  for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null; done
}
trap 'stop_lanes; rm -rf "$out"; exit 130' INT TERM

setsid npx vitest run --passWithNoTests --project server-devices "$@" >"$out/server-devices.log" 2>&1 &
pids+=($!)
setsid npx vitest run --passWithNoTests --project station "$@" &
pids+=($!)

wait "${pids[1]}"; station=$?
echo
echo "=== lane server-devices (ran alongside the station lane) ==="
wait "${pids[0]}"; server=$?
cat "$out/server-devices.log"
rm -rf "$out"

echo
echo "lane station: $([ "$station" -eq 0 ] && echo passed || echo "FAILED ($station)")"
echo "lane server-devices: $([ "$server" -eq 0 ] && echo passed || echo "FAILED ($server)")"
[ "$station" -eq 0 ] && [ "$server" -eq 0 ]
