#!/usr/bin/env bash
# Smoke test of the federation test IdPs (see smoke.py for what it checks and the HTTP steps it takes).
# Needs what .ci/install-deps.sh installs: xmlsec1, the pins of requirements.txt, node_modules here.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ ! -d "$HERE/node_modules/oidc-provider" ]; then
    echo "smoke.sh: $HERE/node_modules is missing: run .ci/install-deps.sh first" >&2
    exit 1
fi
exec "${PYTHON:-python3}" "$HERE/smoke.py" "$@"
