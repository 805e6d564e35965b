#!/usr/bin/env bash
# floodgate-load against wrk and oha on floodgate-demo's /fast, as reported in BENCHMARKS.md.
#
#   cargo build --release -p floodgate-load -p floodgate-demo
#   apt-get install -y wrk; cargo install oha --locked   (outside the project)
#   load-tests/bench/compare.sh [throughput|cpu|open-loop|rss|retry-after|all]
#
# Environment: TARGET (default target/release), OHA (default oha), ROUNDS (5), DUR (10, seconds),
# OUT (a fresh temporary directory for the raw results).
set -euo pipefail
cd "$(dirname "$0")/../.."

TARGET=${TARGET:-target/release}
DEMO=$TARGET/floodgate-demo
LOAD=$TARGET/floodgate-load
OHA=${OHA:-oha}
ROUNDS=${ROUNDS:-5}
DUR=${DUR:-10}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
WHAT=${1:-all}
echo "raw results in $OUT"

# Starts floodgate-demo with the given flags on an ephemeral port; sets SERVER and PORT.
start_demo() {
  "$DEMO" --addr 127.0.0.1:0 "$@" >"$OUT/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 50); do
    PORT=$(grep -o 'addr=127.0.0.1:[0-9]*' "$OUT/server.log" | cut -d: -f2 || true)
    [ -n "$PORT" ] && return
    sleep 0.1
  done
  echo "floodgate-demo did not start" >&2
  exit 1
}
stop_demo() { kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; }
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

# Interleaved rounds: wrk, oha, floodgate-load (hyper), floodgate-load (reqwest); -c 64, DUR s.
throughput() {
  start_demo
  local url=http://127.0.0.1:$PORT/fast
  for r in $(seq "$ROUNDS"); do
    wrk -t2 -c64 -d"${DUR}s" "$url" >"$OUT/wrk.$r.txt"
    "$OHA" -c 64 -z "${DUR}s" --no-tui --output-format json "$url" >"$OUT/oha.$r.json"
    "$LOAD" -c 64 -d "${DUR}s" --engine hyper --no-progress --json "$OUT/hyper.$r.json" "$url" >/dev/null
    "$LOAD" -c 64 -d "${DUR}s" --engine reqwest --no-progress --json "$OUT/reqwest.$r.json" "$url" >/dev/null
    echo "round $r req/s: wrk $(awk '/Requests\/sec/ {printf "%.0f", $2}' "$OUT/wrk.$r.txt")" \
      "oha $(json "$OUT/oha.$r.json" "round(d['summary']['requestsPerSec'])")" \
      "hyper $(json "$OUT/hyper.$r.json" "round(d['rps'])")" \
      "reqwest $(json "$OUT/reqwest.$r.json" "round(d['rps'])")"
  done
  stop_demo
}

# Client CPU (user + sys) per request, -c 64 -n 200k, interleaved.
cpu() {
  start_demo
  local url=http://127.0.0.1:$PORT/fast n=200000
  measure() {
    local label=$1
    shift
    /usr/bin/time -f "%U %S %e" -o "$OUT/time.txt" "$@" >/dev/null 2>&1
    read -r user sys wall <"$OUT/time.txt"
    python3 -c "print('%-8s %.1f us of client CPU per request (%.0f req/s)' % ('$label', ($user + $sys) / $n * 1e6, $n / $wall))"
  }
  for _ in $(seq "$ROUNDS"); do
    measure oha "$OHA" -c 64 -n $n --no-tui --output-format json "$url"
    measure hyper "$LOAD" -c 64 -n $n --engine hyper --no-progress "$url"
    measure reqwest "$LOAD" -c 64 -n $n --engine reqwest --no-progress "$url"
  done
  stop_demo
}

# Open loop at 20k req/s: achieved / target.
open_loop() {
  start_demo
  local url=http://127.0.0.1:$PORT/fast
  for r in $(seq "$ROUNDS"); do
    "$LOAD" -r 20000 -c 64 -d "${DUR}s" --no-progress --json "$OUT/open.$r.json" "$url" >/dev/null
    json "$OUT/open.$r.json" "'achieved %.0f of %.0f/s (%.2f %%), late starts %.1f %%, max lag %.1f ms, p50 %.2f ms, p99 %.2f ms, service-time p99 %.2f ms' % (d['achieved_rate'], d['target_rate'], 100 * d['achieved_rate'] / d['target_rate'], 100 * d['late_starts'] / d['requests'], d['max_start_lag_ms'], d['latency_ms']['p50'], d['latency_ms']['p99'], d['service_time_ms']['p99'])"
  done
  stop_demo
}

# Peak RSS of 60 s runs.
rss() {
  start_demo
  local url=http://127.0.0.1:$PORT/fast
  for args in "-c 64 --engine hyper" "-c 64 --engine reqwest" "-r 20000 -c 64 --engine hyper"; do
    # shellcheck disable=SC2086
    /usr/bin/time -v "$LOAD" $args -d 60s --no-progress --json "$OUT/rss.json" "$url" >/dev/null 2>"$OUT/time-v.txt"
    echo "$args -d 60s: peak RSS $(awk '/Maximum resident/ {print $6}' "$OUT/time-v.txt") KB," \
      "$(json "$OUT/rss.json" "'%d requests' % d['requests']")"
  done
  stop_demo
}

# What --respect-retry-after does to 503s and goodput: the demo story's gated app, 4x overload.
retry_after() {
  start_demo --backend-capacity 8 --delay 50ms --max-concurrency 8
  local url=http://127.0.0.1:$PORT/slow
  for args in "-r 640 -c 4096" "-r 640 -c 4096 --respect-retry-after --clients 1" \
      "-r 640 -c 4096 --respect-retry-after" "-r 640 -c 4096 --respect-retry-after --clients 640" \
      "-r 640 -c 4096 --respect-retry-after --clients 64" "-c 64" "-c 64 --respect-retry-after"; do
    # shellcheck disable=SC2086
    "$LOAD" $args -d 10s --no-progress --json "$OUT/retry.json" "$url" >/dev/null
    json "$OUT/retry.json" "'%-62s 503s %5d, goodput %5.1f/s, success p99 %5.1f ms, deferred %d' % ('$args', d['status'].get('503', 0), d['success_rps'], d['success_latency_ms']['p99'] or 0, d['deferred'])"
  done
  stop_demo
}

case $WHAT in
throughput) throughput ;;
cpu) cpu ;;
open-loop) open_loop ;;
rss) rss ;;
retry-after) retry_after ;;
all) throughput && cpu && open_loop && rss && retry_after ;;
*)
  echo "usage: $0 [throughput|cpu|open-loop|rss|retry-after|all]" >&2
  exit 2
  ;;
esac
