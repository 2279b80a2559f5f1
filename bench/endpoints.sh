#!/usr/bin/env bash
# Single-endpoint figures for keyway (fast hash) against the RSA bound measured in the same run:
#   bench/endpoints.sh DB [OUTDIR]      DB = sqlite | postgres
# Runs, against a fresh keyway: openssl speed rsa2048 (1 process and -multi 2), code redemption closed loop, then
# open loop at half of that peak (16 and 4 clients), refresh, userinfo, introspect, signed sso_url, activation with a
# fresh code, JWKS and discovery (keyway-bench and wrk), and the idle / peak RSS. Results: OUTDIR/ep-<DB>-*.json,
# a summary on stdout.
# Environment: KW, KWB (binaries), WRK (default wrk). KEYWAY_ACCESS_TOKEN_SIGNING_ALG=ES256 measures ES256 access
# tokens (results tagged -es256; a redemption or refresh then needs one RSA signature, the id_token's).
set -euo pipefail
DB=${1:?sqlite|postgres}; OUT=${2:-/tmp/kwb-results}
KW=${KW:-/tmp/kwbench-target/release/keyway}
KWB=${KWB:-/tmp/kwbench-target/release/keyway-bench}
WRK=${WRK:-wrk}
mkdir -p "$OUT"
ALG=${KEYWAY_ACCESS_TOKEN_SIGNING_ALG:-RS256}
if [ "$ALG" = ES256 ]; then TAG=$DB-es256; else TAG=$DB; fi
source "$(cd "$(dirname "$0")" && pwd)/common.sh"
WD=/tmp/kwb-ep-$TAG
rm -rf "$WD"; mkdir -p "$WD"; cd "$WD"

export KEYWAY_BIND=127.0.0.1:8080 KEYWAY_ISSUER=http://127.0.0.1:8080
export KEYWAY_ARGON2_MEMORY_KIB=8 KEYWAY_ARGON2_ITERATIONS=1
kw_use_db "$DB"
kw_seed --license

"$KW" serve > serve.log 2>&1 & KWPID=$!
cleanup() { kill "$KWPID" 2>/dev/null || true; wait "$KWPID" 2>/dev/null || true; kw_drop_db "$DB"; }
trap cleanup EXIT
for _ in $(seq 100); do curl -sf http://127.0.0.1:8080/.well-known/openid-configuration > /dev/null && break; sleep 0.2; done
sleep 1
idle=$(awk '/VmRSS/{printf "%.1f",$2/1024}' /proc/$KWPID/status)

run() { local name=$1; shift; echo "# $TAG: $name" >&2; "$KWB" --server-pid $KWPID --label "$TAG $name" --json "$@" > "$OUT/ep-$TAG-$name.json"; }

one=$(openssl speed -seconds 3 rsa2048 2>/dev/null | awk '/^rsa 2048/ {print $6}')
two=$(openssl speed -seconds 3 -multi 2 rsa2048 2>/dev/null | awk '/^rsa 2048/ {print $6}')
echo "{\"rsa2048_sign_per_s_1core\": $one, \"rsa2048_sign_per_s_multi2\": $two}" > "$OUT/ep-$TAG-rsa.json"

"$KWB" -s flow -c 8 -d 3 --warmup 1 "${KW_LOGIN[@]}" > /dev/null 2>&1 || true     # warm caches and pools
run token        -s token -c 16 -n 4000 "${KW_LOGIN[@]}"
peak=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["ops_per_s"])' "$OUT/ep-$TAG-token.json")
half=$(python3 -c "print(round($peak / 2))")
run token-half16 -s token -c 16 -n 3000 --rate "$half" "${KW_LOGIN[@]}"
run token-half4  -s token -c 4  -n 3000 --rate "$half" "${KW_LOGIN[@]}"
run refresh      -s refresh -c 16 -d 8 "${KW_LOGIN[@]}"
run userinfo     -s userinfo,introspect -c 16 -d 8 "${KW_LOGIN[@]}"
run sso-url      -s sso-url -c 16 -d 8 --creds demo.json
run activate     -s activate -c 16 -n 3000 --creds demo.json
run static       -s jwks,discovery -c 32 -d 8 "${KW_LOGIN[@]}"
for path in .well-known/jwks.json .well-known/openid-configuration; do
  name=$(basename "$path" | cut -d. -f1)
  if command -v "$WRK" > /dev/null; then
    "$WRK" -t2 -c32 -d8s --latency "http://127.0.0.1:8080/$path" > "$OUT/ep-$TAG-wrk-$name.txt"
  else
    echo "(wrk not installed: keyway-bench's static row only)" > "$OUT/ep-$TAG-wrk-$name.txt"
  fi
done
peak_rss=$(awk '/VmHWM/{printf "%.1f",$2/1024}' /proc/$KWPID/status)
echo "{\"idle_rss_mib\": $idle, \"vmhwm_mib\": $peak_rss}" > "$OUT/ep-$TAG-rss.json"

python3 - "$OUT" "$TAG" "$ALG" <<'PY'
import json, re, sys
out, db, alg = sys.argv[1:]
rsa = json.load(open(f"{out}/ep-{db}-rsa.json"))
one, two = rsa["rsa2048_sign_per_s_1core"], rsa["rsa2048_sign_per_s_multi2"]
print(f"RSA-2048 signs/s: 1 process {one}, -multi 2 {two}")
# RSA-2048 signatures per operation; with ES256 access tokens only the id_token of a redemption or refresh is RSA.
rsa_per_grant = 1 if alg == "ES256" else 2
sigs = {"token": rsa_per_grant, "sso-url": 1, "activate": 2, "refresh": rsa_per_grant}
print(f"{'scenario':<22} {'ops/s':>9} {'p50':>7} {'p99':>8} {'p99.9':>8} {'err':>4} {'cpu ms/op':>9} {'cores':>5}  bound(-multi 2)")
for name in ["token", "token-half16", "token-half4", "refresh", "userinfo", "sso-url", "activate", "static"]:
    for r in json.load(open(f"{out}/ep-{db}-{name}.json"))["results"]:
        sc = r["scenario"]
        n = sigs.get(sc) if name in sigs else None
        bound = f"{two / n:.0f}/s -> {100 * r['ops_per_s'] / (two / n):.0f} %" if n else ""
        lat = r["latency_ms"]
        print(f"{name + ('/' + sc if sc != name else ''):<22} {r['ops_per_s']:9.1f} {lat['p50']:7.2f} {lat['p99']:8.2f} {lat['p999']:8.2f} {r['errors']:4} "
              f"{r['server_cpu_ms_per_op'] or 0:9.3f} {r.get('server_cores') or 0:5.2f}  {bound}  other={r.get('other_cores')}")
for name in ("jwks", "openid-configuration"):
    txt = open(f"{out}/ep-{db}-wrk-{name}.txt").read()
    if "Requests/sec" not in txt:
        print(f"wrk {name:<24} {txt.strip()}")
        continue
    rps = re.search(r"Requests/sec:\s+([\d.]+)", txt).group(1)
    p99 = re.search(r"99%\s+(\S+)", txt).group(1)
    print(f"wrk {name:<24} {float(rps):9.0f} req/s  p99 {p99}")
print("RSS MiB:", json.load(open(f"{out}/ep-{db}-rss.json")))
PY
