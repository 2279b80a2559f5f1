#!/usr/bin/env bash
# Cost growth: login flows and code redemption on an (almost) empty SQLite database vs one seeded with 1,000,000
# license users and 1,000,000 expired authorization codes (seeded with SQL in bulk, see docs/PERFORMANCE.md).
#   bench/scale_compare.sh EMPTY_DIR SEEDED_DIR [ROUNDS] [OUTDIR]     (fast hash; dirs prepared by the caller)
set -euo pipefail
EMPTY=$1; SEEDED=$2; ROUNDS=${3:-2}; OUT=${4:-/tmp/kwb-results}
KW=${KW:-/tmp/kwbench-target/release/keyway}; KWB=${KWB:-/tmp/kwbench-target/release/keyway-bench}
export KEYWAY_BIND=127.0.0.1:8080 KEYWAY_ISSUER=http://127.0.0.1:8080 KEYWAY_ARGON2_MEMORY_KIB=8 KEYWAY_ARGON2_ITERATIONS=1
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
source "$(cd "$(dirname "$0")" && pwd)/common.sh"   # rate limits off, lockout raised, KW_LOGIN
L=("${KW_LOGIN[@]}")
for r in $(seq 1 "$ROUNDS"); do
  for which in empty seeded; do
    if [ $which = empty ]; then cd "$EMPTY"; else cd "$SEEDED"; fi
    "$KW" serve > serve.log 2>&1 & PID=$!
    for _ in $(seq 100); do curl -sf http://127.0.0.1:8080/.well-known/openid-configuration >/dev/null && break; sleep 0.2; done
    "$KWB" -s flow -c 8 -d 10 --warmup 2 --server-pid $PID "${L[@]}" --label "$which r$r" --json > "$OUT/scale-$which-r$r-flow.json" 2>/dev/null
    "$KWB" -s token -c 16 -n 2000 --server-pid $PID "${L[@]}" --label "$which r$r" --json > "$OUT/scale-$which-r$r-token.json" 2>/dev/null
    kill $PID; wait $PID 2>/dev/null || true
    python3 - "$OUT" "$which" "$r" <<'PY'
import json, sys
out, which, r = sys.argv[1:]
for sc in ("flow", "token"):
    d = json.load(open(f"{out}/scale-{which}-r{r}-{sc}.json"))["results"][0]
    print(f"round {r} {which:7} {sc:5} {d['ops_per_s']:8.1f}/s  cpu {d['server_cpu_ms_per_op']:.3f} ms/op  p99 {d['latency_ms']['p99']} ms  errors {d['errors']}  other {d['other_cores']}")
PY
  done
done
