#!/usr/bin/env bash
# Installs what the protocol and browser tests need on a Debian 12 machine (run as root):
#   - the libraries keyway's build links against (scripts/build-deps.sh: libxmlsec1-dev, libclang-dev, …)
#   - Debian's chromium + chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver)
#   - Debian's xmlsec1 (/usr/bin/xmlsec1: the SAML test IdP signs with it, saml_forge.py re-signs and verifies)
#   - the Python packages pinned in tests/sdk/requirements.txt (selenium, Authlib, aiosmtpd for the SMTP test server,
#     pyotp for the MFA browser test), then those of tests/federation/requirements.txt
#     (installed with --no-deps: see the comment at the top of that file)
#   - one virtual environment per Python SDK version in the test matrix: tests/sdk/.venvs/<version>, with the
#     packages pinned in tests/sdk/python-sdk-versions/<version>.txt
#   - the npm packages locked in tests/sdk, tests/federation (oidc-provider), tests/browser (axe-core) and
#     tests/oidc (openid-client)
# Idempotent, quiet on success (output of each step goes to a log that is printed only on failure),
# and fast when everything is already there: each step first checks and skips.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SDK="$ROOT/tests/sdk"
REQS="$SDK/requirements.txt"
FED="$ROOT/tests/federation"
FED_REQS="$FED/requirements.txt"
PYTHON="${PYTHON:-python3}"
LOG="$(mktemp -t keyway-install-deps.XXXXXX)"
trap 'rm -f "$LOG"' EXIT

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
fi

# Runs a command with its output captured; on failure prints the output and stops.
run() {
    local what="$1"
    shift
    if ! "$@" >"$LOG" 2>&1; then
        echo "install-deps: $what failed: $*" >&2
        cat "$LOG" >&2
        exit 1
    fi
}

# --- Debian packages -------------------------------------------------------------------------------------
bash "$ROOT/scripts/build-deps.sh"
# Each package is asked for only when the file it provides is missing.
APT_PKGS=()
[ -x /usr/bin/chromium ] || APT_PKGS+=(chromium fonts-liberation)
[ -x /usr/bin/chromedriver ] || APT_PKGS+=(chromium-driver)
[ -x /usr/bin/xmlsec1 ] || APT_PKGS+=(xmlsec1)
if [ "${#APT_PKGS[@]}" -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    run "apt-get update" $SUDO apt-get update -q
    run "apt-get install" $SUDO apt-get install -y -q --no-install-recommends "${APT_PKGS[@]}"
fi

# --- Python packages -------------------------------------------------------------------------------------
for reqs in "$REQS" "$FED_REQS"; do
    if [ ! -f "$reqs" ]; then
        echo "install-deps: $reqs is missing" >&2
        exit 1
    fi
done
# Skip pip when every `name==version` pin is already installed at that version (no index round trip).
# Any line that is not a plain pin makes the check fail, and pip then decides.
# pins_satisfied PYTHON REQUIREMENTS_FILE
pins_satisfied() {
    "$1" - "$2" <<'PY'
import re, sys
from importlib import metadata
ok = True
for raw in open(sys.argv[1], encoding="utf-8"):
    line = raw.split("#", 1)[0].strip()
    if not line:
        continue
    m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([A-Za-z0-9.+!_-]+)", line)
    if not m:
        ok = False
        break
    try:
        if metadata.version(m.group(1)) != m.group(2):
            ok = False
            break
    except metadata.PackageNotFoundError:
        ok = False
        break
sys.exit(0 if ok else 1)
PY
}
if ! pins_satisfied "$PYTHON" "$REQS"; then
    run "pip install" "$PYTHON" -m pip install --quiet --disable-pip-version-check \
        --root-user-action=ignore -r "$REQS"
fi
# After tests/sdk (they share pins); --no-deps because pysaml2 and licensespring declare disjoint pyOpenSSL ranges
# (every transitive dependency is pinned in the file instead).
if ! pins_satisfied "$PYTHON" "$FED_REQS"; then
    run "pip install (federation)" "$PYTHON" -m pip install --quiet --disable-pip-version-check \
        --root-user-action=ignore --no-deps -r "$FED_REQS"
fi

# --- Python SDK version matrix ---------------------------------------------------------------------------
# Each SDK version gets its own venv (they pin different dependencies). A venv whose pins are all installed is kept;
# otherwise it is made afresh (--clear), so no package of an earlier pin set lingers.
for pins in "$SDK"/python-sdk-versions/*.txt; do
    [ -e "$pins" ] || continue
    version="$(basename "$pins" .txt)"
    venv="$SDK/.venvs/$version"
    if [ -x "$venv/bin/python" ] && pins_satisfied "$venv/bin/python" "$pins"; then
        continue
    fi
    run "venv for licensespring $version" "$PYTHON" -m venv --clear "$venv"
    run "pip install (licensespring $version)" "$venv/bin/python" -m pip install --quiet \
        --disable-pip-version-check --root-user-action=ignore -r "$pins"
    if ! pins_satisfied "$venv/bin/python" "$pins"; then
        echo "install-deps: $venv does not have the versions pinned in $pins after pip install" >&2
        exit 1
    fi
done

# --- npm packages ----------------------------------------------------------------------------------------
# `npm ci` always wipes node_modules, so it runs only when the lock file changed since the last install
# (a stamp with the lock file's hash is kept inside node_modules).
npm_ci_locked() {
    local dir="$1"
    [ -f "$dir/package-lock.json" ] || return 0
    local sum stamp
    sum="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
    stamp="$dir/node_modules/.keyway-lock.sha256"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
        run "npm ci ($dir)" npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
        echo "$sum" >"$stamp"
    fi
}
npm_ci_locked "$SDK"
npm_ci_locked "$FED"
npm_ci_locked "$ROOT/tests/browser"
npm_ci_locked "$ROOT/tests/oidc"
