#!/usr/bin/env bash
# keyway vs the reference OP (node-oidc-provider, ../shared/peer-bench) in interleaved rounds, same machine, same
# password-hash class. Every round runs, in alternating order, complete login flows against both servers with two
# load generators: keyway-bench (Rust, the same client for both servers) and the peer's own flow_bench.py.
#
#   bench/side_by_side.sh HASH DB [ROUNDS] [OUTDIR]
#     HASH  fast  keyway argon2id m=8 KiB t=1        vs  peer PW_HASH=sha256
#           prod  keyway defaults (19 MiB, t=2)      vs  peer PW_HASH=scrypt (N=2^14, r=8)
#     DB    sqlite | postgres (postgres://postgres@127.0.0.1:5432/kwbench, created and dropped here)
#
# Environment: KW (keyway binary), KWB (keyway-bench binary), PEER_DIR (a writable copy of peer-bench with
# node_modules, see its setup.sh), DUR (seconds per keyway-bench run), N (flows per flow_bench run), C (clients).
# Writes OUTDIR/<hash>-<db>-r<round>-<tool>-<server>.json and prints them summarised (bench/summarize.py).
set -euo pipefail
HASH=${1:?fast|prod}; DB=${2:?sqlite|postgres}; ROUNDS=${3:-3}; OUT=${4:-/tmp/kwb-results}
KW=${KW:-/tmp/kwbench-target/release/keyway}
KWB=${KWB:-/tmp/kwbench-target/release/keyway-bench}
PEER_DIR=${PEER_DIR:-/tmp/peer-bench}
C=${C:-8}
if [ "$HASH" = fast ]; then DUR=${DUR:-12}; N=${N:-2500}; PW=sha256; else DUR=${DUR:-15}; N=${N:-600}; PW=scrypt; fi
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
source "$HERE/common.sh"
WD=/tmp/kwb-$DB-$HASH
rm -rf "$WD"; mkdir -p "$WD"; cd "$WD"

export KEYWAY_BIND=127.0.0.1:8080 KEYWAY_ISSUER=http://127.0.0.1:8080
if [ "$HASH" = fast ]; then export KEYWAY_ARGON2_MEMORY_KIB=8 KEYWAY_ARGON2_ITERATIONS=1; fi
kw_use_db "$DB"

# Test data: the demo entities, the peer-bench client and user, a license with enough seats for activation runs.
kw_seed --license

"$KW" serve > serve.log 2>&1 & KWPID=$!
(cd "$PEER_DIR" && PW_HASH=$PW PORT=4000 exec node peer-op.mjs > "$WD/peer.log" 2>&1) & PEERPID=$!
cleanup() { kill "$KWPID" "$PEERPID" 2>/dev/null || true; wait "$KWPID" "$PEERPID" 2>/dev/null || true
  kw_drop_db "$DB"; }
trap cleanup EXIT
for _ in $(seq 100); do
  curl -sf http://127.0.0.1:8080/.well-known/openid-configuration > /dev/null && \
  curl -sf http://127.0.0.1:4000/.well-known/openid-configuration > /dev/null && break
  sleep 0.2
done
sleep 2
rss() { grep -E '^VmRSS' "/proc/$1/status" | awk '{printf "%.1f", $2/1024}'; }
echo "{\"keyway_idle_rss_mib\": $(rss $KWPID), \"peer_idle_rss_mib\": $(rss $PEERPID)}" > "$OUT/$HASH-$DB-idle.json"
echo "# idle RSS: keyway $(rss $KWPID) MiB, peer $(rss $PEERPID) MiB" >&2

PEER_LOGIN=(--client-id bench --client-secret bench-secret --redirect-uri http://127.0.0.1:9/cb
            --username alice --password alice-password --account -)
kwb_kw()   { "$KWB" --base http://127.0.0.1:8080 -s flow -c "$C" -d "$DUR" --warmup 2 --server-pid $KWPID "${KW_LOGIN[@]}" --label "$1" --json; }
kwb_peer() { "$KWB" --base http://127.0.0.1:4000 -s flow -c "$C" -d "$DUR" --warmup 2 --server-pid $PEERPID "${PEER_LOGIN[@]}" --label "$1" --json; }
fb_kw()    { python3 "$PEER_DIR/flow_bench.py" --base http://127.0.0.1:8080 -n "$N" -c "$C" --server-pid $KWPID --json \
               --client-secret bench-secret-0123456 --username alice@example.com --user-field email \
               --extra customer_account_code=demo-customer | tail -1; }
fb_peer()  { python3 "$PEER_DIR/flow_bench.py" --base http://127.0.0.1:4000 -n "$N" -c "$C" --server-pid $PEERPID --json | tail -1; }

# CPU seconds (utime+stime) of keyway and of the PostgreSQL backends serving database kwbench, read before and after
# each keyway run: the database's share of a flow (SQLite runs inside keyway, so there is nothing to add there).
cpu_s() { awk '{s += $14 + $15} END {printf "%.2f", s / 100}' "$@" 2>/dev/null || echo 0; }
pg_backends() { for p in $(pgrep -f 'postgres: .* kwbench ' || true); do echo "/proc/$p/stat"; done; }
declare -A PG0
pg_mark() { PG0=(); for f in $(pg_backends); do PG0[$f]=$(cpu_s "$f"); done; KW0=$(cpu_s /proc/$KWPID/stat); }
pg_since() {  # JSON: CPU seconds since pg_mark (a backend started meanwhile counts from 0)
  local total=0 f
  for f in $(pg_backends); do total=$(python3 -c "print($total + $(cpu_s "$f") - ${PG0[$f]:-0})"); done
  echo "{\"postgres_cpu_s\": $total, \"keyway_cpu_s\": $(python3 -c "print($(cpu_s /proc/$KWPID/stat) - $KW0)")}"
}

# Warm-up (JIT for the peer, caches and connection pools for keyway): WARM seconds each, alternating, so the peer's
# JIT has settled before the first counted round (issue 16).
WARM=${WARM:-20}
for w in 1 2; do
  DUR=$((WARM / 2)) kwb_kw warmup > /dev/null 2>&1 || true
  DUR=$((WARM / 2)) kwb_peer warmup > /dev/null 2>&1 || true
done

for r in $(seq 1 "$ROUNDS"); do
  canary=$(openssl speed -seconds 2 rsa2048 2>/dev/null | awk '/^rsa 2048/ {print $6}')
  echo "{\"rsa2048_sign_per_s_1core\": ${canary:-null}}" > "$OUT/$HASH-$DB-r$r-canary.json"
  if [ $((r % 2)) = 1 ]; then order="kw peer"; else order="peer kw"; fi
  for who in $order; do
    echo "# $HASH $DB round $r: keyway-bench -> $who" >&2
    [ "$who" = kw ] && pg_mark
    kwb_$who "$HASH $DB r$r" > "$OUT/$HASH-$DB-r$r-kwb-$who.json"
    if [ "$who" = kw ] && [ "$DB" = postgres ]; then pg_since > "$OUT/$HASH-$DB-r$r-kwb-kw-pgcpu.json"; fi
  done
  for who in $order; do
    echo "# $HASH $DB round $r: flow_bench.py -> $who" >&2
    [ "$who" = kw ] && pg_mark
    fb_$who > "$OUT/$HASH-$DB-r$r-fb-$who.json"
    if [ "$who" = kw ] && [ "$DB" = postgres ]; then pg_since > "$OUT/$HASH-$DB-r$r-fb-kw-pgcpu.json"; fi
  done
done
grep -E '^Vm(RSS|HWM)' /proc/$KWPID/status | tr -s ' \n' ' ' | sed 's/^/# keyway after the rounds: /' >&2; echo >&2
grep -E '^Vm(RSS|HWM)' /proc/$PEERPID/status | tr -s ' \n' ' ' | sed 's/^/# peer after the rounds: /' >&2; echo >&2
echo "{\"keyway_vmhwm_mib\": $(awk '/VmHWM/{printf "%.1f",$2/1024}' /proc/$KWPID/status), \"peer_vmhwm_mib\": $(awk '/VmHWM/{printf "%.1f",$2/1024}' /proc/$PEERPID/status)}" > "$OUT/$HASH-$DB-hwm.json"
python3 "$HERE/summarize.py" "$OUT" "$HASH" "$DB"
