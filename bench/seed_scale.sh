#!/usr/bin/env bash
# Prepares the two working directories of bench/scale_compare.sh: EMPTY (the demo data, the bench client, the user
# alice) and SEEDED (the same plus 1,000,000 license users and 1,000,000 expired authorization codes, inserted in
# bulk with SQL through Python's sqlite3, about a minute).
#   bench/seed_scale.sh EMPTY_DIR SEEDED_DIR
set -euo pipefail
EMPTY=${1:?empty dir}; SEEDED=${2:?seeded dir}
KW=${KW:-/tmp/kwbench-target/release/keyway}
source "$(cd "$(dirname "$0")" && pwd)/common.sh"
export KEYWAY_ARGON2_MEMORY_KIB=8 KEYWAY_ARGON2_ITERATIONS=1 KEYWAY_BIND=127.0.0.1:8080 KEYWAY_ISSUER=http://127.0.0.1:8080
for d in "$EMPTY" "$SEEDED"; do
  rm -rf "$d"; mkdir -p "$d"
  (cd "$d" && kw_seed)
done
python3 - "$SEEDED/data/keyway.db" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
now = int(time.time())
account, alice, alice_hash = db.execute(
    "SELECT u.customer_account_id, u.id, u.password_hash FROM license_users u WHERE u.email = 'alice@example.com'").fetchone()
product = db.execute("SELECT id FROM products WHERE client_id = 'bench'").fetchone()[0]
t0 = time.time()
db.execute("""
INSERT INTO license_users (id, customer_account_id, email, name, password_hash, email_verified, disabled, created_at)
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000)
SELECT lower(hex(randomblob(16))), ?, 'user' || i || '@example.com', 'User ' || i, ?, 1, 0, ? FROM n""",
           (account, alice_hash, now))
db.execute("""
INSERT INTO authorization_codes (id, code_hash, product_id, license_user_id, session_id, redirect_uri, scope, nonce,
                                 code_challenge, auth_time, expires_at, created_at)
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000)
SELECT lower(hex(randomblob(16))), lower(hex(randomblob(32))), ?, ?, NULL, 'http://127.0.0.1:9/cb',
       'openid email profile', 'n', 'c', ? - 7200, ? - 7000 + (i % 600), ? - 7200 FROM n""",
           (product, alice, now, now, now))
db.commit()
users = db.execute("SELECT count(*) FROM license_users").fetchone()[0]
codes = db.execute("SELECT count(*) FROM authorization_codes WHERE expires_at < ?", (now,)).fetchone()[0]
print(f"seeded in {time.time() - t0:.0f} s: {users} license users, {codes} expired codes")
PY
