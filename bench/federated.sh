#!/usr/bin/env bash
# keyway's CPU per login flow through a customer's own OpenID Provider (federation, issue 14) next to the password
# flow, in interleaved rounds on one keyway process. The IdP is tests/federation/oidc_idp.mjs (panva's
# oidc-provider, `npm ci` there first: .ci/install-deps.sh does it) on 127.0.0.1:4100.
#
#   bench/federated.sh DB [ROUNDS] [OUTDIR]        DB = sqlite | postgres
#
# Per round (order alternating): keyway-bench -s flow (keyway's own password form, account demo-customer, the fast
# argon2id setting as in side_by_side.sh) and -s federated-flow (account globex, IdP-only: authorize → the IdP's
# login form → keyway's callback, which redeems the IdP's code and verifies its id_token → keyway's code → token).
# keyway-bench's --server-pid is keyway, so "server CPU per flow" is keyway's alone; the IdP's and the client's CPU
# show as "other". Environment: KW, KWB (binaries), DUR (seconds per run, default 12), C (clients, default 4),
# PERF_OUT (optional: a `perf record -e cpu-clock -g` profile of keyway during the first federated run, to that file).
set -euo pipefail
DB=${1:?sqlite|postgres}; ROUNDS=${2:-3}; OUT=${3:-/tmp/kwb-results}
KW=${KW:-/tmp/kwbench-target/release/keyway}
KWB=${KWB:-/tmp/kwbench-target/release/keyway-bench}
DUR=${DUR:-12}; C=${C:-4}
HERE=$(cd "$(dirname "$0")" && pwd)
IDP_SCRIPT="$HERE/../tests/federation/oidc_idp.mjs"
mkdir -p "$OUT"
source "$HERE/common.sh"
WD=/tmp/kwb-federated-$DB
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
"$KW" serve > serve.log 2>&1 & KWPID=$!
cleanup() { kill "$KWPID" "$IDPPID" 2>/dev/null || true; wait "$KWPID" "$IDPPID" 2>/dev/null || true; kw_drop_db "$DB"; }
trap cleanup EXIT
for _ in $(seq 100); do
  curl -sf http://127.0.0.1:8080/.well-known/openid-configuration > /dev/null && \
  curl -sf http://127.0.0.1:4100/.well-known/openid-configuration > /dev/null && break
  sleep 0.2
done
printf '%s' "$IDP_SECRET" | "$KW" idp set --org "Demo Vendor" --account globex --oidc-issuer http://127.0.0.1:4100 \
  --client-id keyway --client-secret-stdin --name "Globex SSO" > /dev/null

FED_LOGIN=(--creds demo.json --client-id bench --client-secret bench-secret-0123456 --redirect-uri http://127.0.0.1:9/cb
           --username alice@globex.example --password idp-password --account globex)
run() { # run SCENARIO LABEL
  if [ "$1" = flow ]; then args=("${KW_LOGIN[@]}"); else args=("${FED_LOGIN[@]}"); fi
  "$KWB" --base http://127.0.0.1:8080 -s "$1" -c "$C" -d "$DUR" --warmup 2 --server-pid $KWPID "${args[@]}" \
    --label "$2" --json
}
DUR=4 run flow warmup > /dev/null 2>&1 || true
DUR=4 run federated-flow warmup > /dev/null

for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then order="flow federated-flow"; else order="federated-flow flow"; fi
  for sc in $order; do
    echo "# $DB round $r: $sc" >&2
    if [ -n "${PERF_OUT:-}" ] && [ "$r" = 1 ] && [ "$sc" = federated-flow ]; then
      (sleep 2; perf record -q -e cpu-clock -g -p "$KWPID" -o "$PERF_OUT" -- sleep $((DUR - 3)) 2>/dev/null) &
      PERFPID=$!
    fi
    run "$sc" "$DB r$r $sc" > "$OUT/federated-$DB-r$r-$sc.json"
    if [ -n "${PERFPID:-}" ]; then wait "$PERFPID" || true; PERFPID=; fi
  done
done
python3 - "$OUT" "$DB" "$ROUNDS" <<'PY'
import json, sys
out, db, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
print("| round | password flow: keyway CPU/flow | federated: keyway CPU/flow | ratio | password flows/s "
      "| federated flows/s | errors | other cores (federated: IdP + client) |")
print("|---|---|---|---|---|---|---|---|")
for r in range(1, rounds + 1):
    p, f = (json.load(open(f"{out}/federated-{db}-r{r}-{sc}.json"))["results"][0] for sc in ("flow", "federated-flow"))
    errors = sum(p["errors"].values()) + sum(f["errors"].values()) if isinstance(p["errors"], dict) else p["errors"] + f["errors"]
    print(f"| {r} | {p['server_cpu_ms_per_op']:.2f} ms | {f['server_cpu_ms_per_op']:.2f} ms "
          f"| {f['server_cpu_ms_per_op'] / p['server_cpu_ms_per_op']:.2f} | {p['ops_per_s']:.0f} | {f['ops_per_s']:.0f} "
          f"| {errors} | {f['other_cores']:.2f} |")
PY
