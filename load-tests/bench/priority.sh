#!/usr/bin/env bash
# Priority classes under overload, as reported in BENCHMARKS.md ("Priority classes"): the demo
# (8 backend slots of 50 ms: 160 req/s, the gate at 8) gets sheddable load at 4x capacity and
# critical load at 0.25x capacity at the same time, from two floodgate-load processes, once per
# variant of the demo's flags. Prints one line per class and variant.
#
#   cargo build --release -p floodgate-load -p floodgate-demo
#   load-tests/bench/priority.sh
#
# Environment: TARGET (default target/release), DUR (20s), OUT (a fresh temporary directory).
set -euo pipefail
cd "$(dirname "$0")/../.."

TARGET=${TARGET:-target/release}
DUR=${DUR:-20s}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
echo "raw results in $OUT"

# Runs one variant: NAME, then the demo's extra flags.
run() {
  local label=$1 name
  name=$(echo "$label" | tr -c 'a-z0-9.\n' '-')
  shift
  "$TARGET/floodgate-demo" --addr 127.0.0.1:0 --backend-capacity 8 --delay 50ms \
    --max-concurrency 8 "$@" >"$OUT/$name-server.log" 2>&1 &
  local server=$! port=""
  for _ in $(seq 50); do
    port=$(grep -o 'addr=127.0.0.1:[0-9]*' "$OUT/$name-server.log" | cut -d: -f2 || true)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "the demo did not start: $OUT/$name-server.log"; exit 1; }
  local url=http://127.0.0.1:$port/slow
  "$TARGET/floodgate-load" -r 640 -c 256 -d "$DUR" --no-progress -H 'x-priority: sheddable' \
    --json "$OUT/$name-sheddable.json" "$url" >/dev/null &
  local sheddable=$!
  "$TARGET/floodgate-load" -r 40 -c 64 -d "$DUR" --no-progress -H 'x-priority: critical' \
    --json "$OUT/$name-critical.json" "$url" >/dev/null
  wait "$sheddable"
  kill "$server"
  wait "$server" 2>/dev/null || true
  for class in sheddable critical; do
    python3 - "$OUT/$name-$class.json" "$label" "$class" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ok = r["success_latency_ms"]
print(f"{sys.argv[2]:<34} {sys.argv[3]:<9} offered {r['rps']:6.1f}/s  200s {r['success_rps']:6.1f}/s"
      f"  success {r['success_rate']:7.2%}  p50 {ok['p50']:6.1f} ms  p99 {ok['p99']:6.1f} ms")
PY
  done
}

run "no classes" --priority-header ''
run "classes"
run "classes, reserve 0.25" --critical-reserve 0.25
run "classes, reserve 0.25, shed at once" --critical-reserve 0.25 --sheddable-max-wait 0s
run "classes, reserve 0.375, shed at once" --critical-reserve 0.375 --sheddable-max-wait 0s
