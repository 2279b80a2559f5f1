# Shared by the bench scripts (`source "$(dirname "$0")/common.sh"` after `set -euo pipefail` and setting KW).
# The test data matches ../shared/peer-bench: client `bench` (keyway needs a secret of 16+ characters), redirect_uri
# http://127.0.0.1:9/cb, user alice / alice-password in the demo customer account.

# One user signing in from C concurrent clients would trip the lockout: every attempt in flight is counted before its
# password is checked (issue 13), so more than `lockout_threshold` concurrent sign-ins of one user lock it. A load
# test is not an attack: raise both limits (the peer has no lockout).
export KEYWAY_LOCKOUT_THRESHOLD=${KEYWAY_LOCKOUT_THRESHOLD:-1000000}
export KEYWAY_LOCKOUT_DEVICE_THRESHOLD=${KEYWAY_LOCKOUT_DEVICE_THRESHOLD:-1000000}

# keyway logs as deployed: KEYWAY_LOG unset is `info`, one access-log line per request (session 7 found that the
# scripts' former RUST_LOG=warn was never read: every figure in docs/PERFORMANCE.md includes that line). The peer
# writes none; `KEYWAY_LOG=warn` in the environment measures keyway without it.

# keyway-bench's login arguments for that data (run from the working directory that holds demo.json).
KW_LOGIN=(--creds demo.json --client-id bench --client-secret bench-secret-0123456 --redirect-uri http://127.0.0.1:9/cb
          --username alice@example.com --password alice-password --account demo-customer)

# The bench measures throughput from one address and one user: the rate limits (README "Operations") would be what
# it measures, so they are off here.
export KEYWAY_RATE_LIMIT_LOGIN_PER_IP=0 KEYWAY_RATE_LIMIT_LOGIN_PER_ACCOUNT=0 KEYWAY_RATE_LIMIT_TOKEN_PER_IP=0 \
  KEYWAY_RATE_LIMIT_TOKEN_PER_CLIENT=0 KEYWAY_RATE_LIMIT_LICENSE_PER_IP=0 KEYWAY_RATE_LIMIT_LICENSE_PER_API_KEY=0 \
  KEYWAY_RATE_LIMIT_MAIL_PER_IP=0 KEYWAY_RATE_LIMIT_MAIL_PER_ADDRESS=0

# kw_use_db DB: sqlite keeps keyway's default file in the working directory; postgres (re)creates database kwbench.
kw_use_db() {
  if [ "$1" = postgres ]; then
    psql -q -h 127.0.0.1 -U postgres -c 'DROP DATABASE IF EXISTS kwbench' -c 'CREATE DATABASE kwbench'
    export KEYWAY_DATABASE_URL=postgres://postgres@127.0.0.1:5432/kwbench
  fi
}

# kw_drop_db DB: drops kwbench after a postgres run (keyway must have stopped).
kw_drop_db() {
  if [ "$1" = postgres ]; then sleep 1; psql -q -h 127.0.0.1 -U postgres -c 'DROP DATABASE IF EXISTS kwbench' || true; fi
}

# kw_seed [--license]: demo data (demo.json), the bench client, alice, and with --license a 1,000,000-seat license of
# the demo user for activation runs.
kw_seed() {
  "$KW" demo --json > demo.json
  "$KW" product create --org "Demo Vendor" --code bench --client-id bench --client-secret bench-secret-0123456 \
    --redirect-uri http://127.0.0.1:9/cb > /dev/null
  echo alice-password | "$KW" user create --org "Demo Vendor" --account demo-customer --email alice@example.com \
    --password-stdin > /dev/null
  if [ "${1:-}" = --license ]; then
    "$KW" license create --org "Demo Vendor" --product demo-app --account demo-customer --max-activations 1000000 \
      --user demo@example.com > /dev/null
  fi
}
