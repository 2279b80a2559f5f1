#!/usr/bin/env bash
# Instructions per federated login flow (keyway-bench -s federated-flow through tests/federation/oidc_idp.mjs, see
# bench/federated.sh) counted by callgrind in keyway alone: total, inside RSA signing (keyway's two JWTs; libcrypto since issue 16, ring before), and
# inside num-bigint-dig (the RustCrypto `rsa` verification of the upstream id_token, where openidconnect does it).
#
#   bench/callgrind_federated.sh DB [FLOWS] [OUTDIR]
# Environment: KW, KWB, WARM (uncounted flows, default 20), C (clients, default 2).
set -euo pipefail
DB=${1:?sqlite|postgres}; FLOWS=${2:-100}; OUT=${3:-/tmp/kwb-results}
KW=${KW:-/tmp/kwbench-target/release/keyway}
KWB=${KWB:-/tmp/kwbench-target/release/keyway-bench}
WARM=${WARM:-20}; C=${C:-2}
HERE=$(cd "$(dirname "$0")" && pwd)
IDP_SCRIPT="$HERE/../tests/federation/oidc_idp.mjs"
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
source "$HERE/common.sh"
WD=/tmp/kwb-cg-federated-$DB
rm -rf "$WD"; mkdir -p "$WD"; cd "$WD"

export KEYWAY_BIND=127.0.0.1:8080 KEYWAY_ISSUER=http://127.0.0.1:8080
export KEYWAY_ARGON2_MEMORY_KIB=8 KEYWAY_ARGON2_ITERATIONS=1
kw_use_db "$DB"
kw_seed

# The federated account: IdP-only, one user known by e-mail (linked on the first flow).
IDP_SECRET=bench-idp-secret-0123456789
"$KW" account create --org "Demo Vendor" --code globex --name "Globex Corp." > /dev/null
echo unused-password-123 | "$KW" user create --org "Demo Vendor" --account globex --email alice@globex.example \
  --password-stdin > /dev/null
IDP_CONFIG=$(printf '{"clients":[{"client_id":"keyway","client_secret":"%s","redirect_uris":["http://127.0.0.1:8080/federation/oidc/callback"]}],"accounts":[{"sub":"alice","email":"alice@globex.example","email_verified":true,"name":"Alice","password":"idp-password"}]}' "$IDP_SECRET")
IDP_PORT=4100 IDP_CONFIG="$IDP_CONFIG" node "$IDP_SCRIPT" > idp.ready 2> idp.log & IDPPID=$!
valgrind --tool=callgrind --callgrind-out-file="$WD/cg.out" "$KW" serve > serve.log 2>&1 & KWPID=$!
cleanup() { kill "$KWPID" "$IDPPID" 2>/dev/null || true; wait "$KWPID" "$IDPPID" 2>/dev/null || true; kw_drop_db "$DB"; }
trap cleanup EXIT
for _ in $(seq 600); do
  curl -sf http://127.0.0.1:8080/.well-known/openid-configuration > /dev/null && \
  curl -sf http://127.0.0.1:4100/.well-known/openid-configuration > /dev/null && break
  sleep 0.2
done
printf '%s' "$IDP_SECRET" | "$KW" idp set --org "Demo Vendor" --account globex --oidc-issuer http://127.0.0.1:4100 \
  --client-id keyway --client-secret-stdin --name "Globex SSO" > /dev/null

FED_LOGIN=(--creds demo.json --client-id bench --client-secret bench-secret-0123456 --redirect-uri http://127.0.0.1:9/cb
           --username alice@globex.example --password idp-password --account globex)
cg() { "$KWB" --base http://127.0.0.1:8080 -s federated-flow -c "$C" -n "$1" --warmup 0 "${FED_LOGIN[@]}" --label "$2" --json; }
cg "$WARM" warmup > /dev/null 2>&1
callgrind_control -z "$KWPID" > /dev/null
cg "$FLOWS" counted > "$OUT/callgrind-$DB-federated-bench.json" 2> /dev/null
callgrind_control -d "$KWPID" > /dev/null
dump=$(ls -t "$WD"/cg.out.* | head -1)
cp "$dump" "$OUT/callgrind-$DB-federated.out"
callgrind_annotate --inclusive=yes --threshold=100 "$dump" > "$WD/incl.txt" 2>/dev/null
python3 - "$HERE" "$WD/incl.txt" "$FLOWS" "$DB" <<'PY' | tee "$OUT/callgrind-$DB-federated.json"
import json, sys
sys.path.insert(0, sys.argv[1])
from callgrind_parts import RSA_SIGN, parts
path, n, db = sys.argv[2], int(sys.argv[3]), sys.argv[4]
# keyway's own signatures; the upstream id_token's RS256 check in openidconnect (RustCrypto rsa) or in keyway's
# federation::rs256 (ring), inclusive.
total, found = parts(path, {"rsa_sign": RSA_SIGN,
                            "upstream_verify_openidconnect": r"openidconnect::core::crypto::verify_rsa_signature\b",
                            "upstream_verify_ring": r"keyway::federation::rs256::verify\b"})
print(json.dumps({"db": db, "scenario": "federated-flow", "operations": n, "instructions_per_op": round(total / n),
                  **{k + "_per_op": round(v / n) for k, v in found.items()},
                  "non_rsa_sign_instructions_per_op": round((total - found["rsa_sign"]) / n)}))
PY
