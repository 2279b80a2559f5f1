#!/usr/bin/env bash
# Installs the Debian 12 packages keyway's build links against (run as root or with sudo):
#   - pkg-config, libssl-dev: the openssl crate (SAML SP keys, xmlsec's crypto backend)
#   - libxml2-dev, libxmlsec1-dev (+ libxmlsec1-openssl): XML signature verification of SAML responses (samael)
#   - clang, libclang-dev: bindgen generates samael's xmlsec bindings at build time
# Idempotent and quiet: each package is asked for only when the file it provides is missing.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
fi

PKGS=()
command -v pkg-config >/dev/null 2>&1 || PKGS+=(pkg-config)
[ -f /usr/include/openssl/ssl.h ] || PKGS+=(libssl-dev)
[ -f /usr/include/libxml2/libxml/parser.h ] || PKGS+=(libxml2-dev)
[ -x /usr/bin/xmlsec1-config ] || PKGS+=(libxmlsec1-dev libxmlsec1-openssl)
compgen -G '/usr/lib/llvm-*/lib/libclang.so*' >/dev/null || PKGS+=(libclang-dev)
command -v clang >/dev/null 2>&1 || PKGS+=(clang)
[ "${#PKGS[@]}" -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "build-deps: install ${PKGS[*]} (Debian names) with your package manager" >&2
    exit 1
fi
LOG="$(mktemp -t keyway-build-deps.XXXXXX)"
trap 'rm -f "$LOG"' EXIT
echo "build-deps: installing ${PKGS[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -q && $SUDO apt-get install -y -q --no-install-recommends "${PKGS[@]}"; } >"$LOG" 2>&1; then
    echo "build-deps: apt-get failed" >&2
    cat "$LOG" >&2
    exit 1
fi
