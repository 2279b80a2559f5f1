#!/usr/bin/env bash
# Instructions per complete login flow, counted by valgrind's callgrind: a figure that does not move with the load
# of a shared machine (wall-clock and CPU-time figures do). keyway runs under callgrind with the fast password hash;
# keyway-bench drives WARM flows, the counters are zeroed, then FLOWS flows are counted and dumped. Prints the total
# instructions per flow, the part spent inside RSA signing (inclusive: keyway's `RsaKey::sign`, or where it was
# inlined libcrypto's `EVP_DigestSign` / ring's `KeyPair::sign` for binaries before issue 16) and the rest. Under
# valgrind libcrypto sees no AVX-512 and takes its mulx/adx path, so the RSA count is not what the CPU runs natively.
#
#   bench/callgrind_flow.sh DB [FLOWS] [OUTDIR] [SCENARIO]
#     DB        sqlite | postgres (postgres://postgres@127.0.0.1:5432/kwbench, created and dropped here)
#     SCENARIO  flow (default) | token | sso-url | … (any keyway-bench scenario; "per flow" is then per operation)
#
# Environment: KW (keyway binary), KWB (keyway-bench binary), WARM (uncounted operations, default 40), C (clients).
# Writes OUTDIR/callgrind-<db>-<scenario>.out (callgrind_annotate it for the profile) and …-<scenario>.json.
set -euo pipefail
DB=${1:?sqlite|postgres}; FLOWS=${2:-200}; OUT=${3:-/tmp/kwb-results}; SCEN=${4:-flow}
KW=${KW:-/tmp/kwbench-target/release/keyway}
KWB=${KWB:-/tmp/kwbench-target/release/keyway-bench}
WARM=${WARM:-40}; C=${C:-2}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
source "$HERE/common.sh"
WD=/tmp/kwb-cg-$DB
rm -rf "$WD"; mkdir -p "$WD"; cd "$WD"

export KEYWAY_BIND=127.0.0.1:8081 KEYWAY_ISSUER=http://127.0.0.1:8081
export KEYWAY_ARGON2_MEMORY_KIB=8 KEYWAY_ARGON2_ITERATIONS=1
kw_use_db "$DB"
kw_seed --license

valgrind --tool=callgrind --callgrind-out-file="$WD/cg.out" "$KW" serve > serve.log 2>&1 & VGPID=$!
cleanup() { kill "$VGPID" 2>/dev/null || true; wait "$VGPID" 2>/dev/null || true; kw_drop_db "$DB"; }
trap cleanup EXIT
for _ in $(seq 600); do
  curl -sf http://127.0.0.1:8081/.well-known/openid-configuration > /dev/null && break
  sleep 0.5
done
kwb() { "$KWB" --base http://127.0.0.1:8081 -s "$SCEN" -c "$C" -n "$1" --warmup 0 "${KW_LOGIN[@]}" --label "$2" --json; }
kwb "$WARM" warmup > /dev/null 2>&1
callgrind_control -z "$VGPID" > /dev/null
kwb "$FLOWS" counted > "$OUT/callgrind-$DB-$SCEN-bench.json" 2> /dev/null
callgrind_control -d "$VGPID" > /dev/null
dump=$(ls -t "$WD"/cg.out.* | head -1)
cp "$dump" "$OUT/callgrind-$DB-$SCEN.out"
callgrind_annotate --inclusive=yes "$dump" > "$WD/incl.txt" 2>/dev/null
python3 - "$HERE" "$WD/incl.txt" "$FLOWS" "$DB" "$SCEN" <<'EOF' | tee "$OUT/callgrind-$DB-$SCEN.json"
import json, sys
sys.path.insert(0, sys.argv[1])
from callgrind_parts import RSA_SIGN, parts
path, n, db, scen = sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
total, found = parts(path, {"rsa": RSA_SIGN})
rsa = found["rsa"]
print(json.dumps({"db": db, "scenario": scen, "operations": n, "instructions_per_op": round(total / n),
                  "rsa_instructions_per_op": round(rsa / n), "non_rsa_instructions_per_op": round((total - rsa) / n)}))
EOF
