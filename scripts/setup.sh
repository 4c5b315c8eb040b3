#!/usr/bin/env bash
# Set up sipwatch on a fresh Debian machine with Python 3.11.
#   scripts/setup.sh          create .venv and install sipwatch
#   scripts/setup.sh --test   also install the test tools: Python test extras, and (as root) the
#                             Debian packages the real-traffic tests use: tshark (decode oracle),
#                             tcpdump (live capture engine), sip-tester (sipp), kamailio and
#                             sngrep (HEP senders).
# Where cargo is installed, the native core (native/, the extension sipwatch._core) is built too;
# without it sipwatch runs on its pure-Python engine, with the same output.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

debs=(tcpdump)
[ "$want_test" = 1 ] && debs+=(tshark sip-tester kamailio sngrep iproute2 chromium)
missing=()
for pkg in "${debs[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "note: not root; install these Debian packages for live capture and the full test suite: ${missing[*]}" >&2
    fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# Editable: .venv/bin/sipwatch runs this checkout as it is now (it finds knowledge/ beside the
# package), never a copy taken at set-up time. tests/test_packaging.py checks the wheel.
if [ "$want_test" = 1 ]; then
    .venv/bin/python -m pip install -q -e ".[test]"
else
    .venv/bin/python -m pip install -q -e .
fi

# The native core: a release build of native/ copied in as sipwatch/_core.abi3.so (gitignored),
# where an editable install imports it and a wheel build picks it up (hatch artifacts).
if command -v cargo >/dev/null; then
    PYO3_PYTHON="$PWD/.venv/bin/python" cargo build -q --release --locked --features python \
        --manifest-path native/Cargo.toml
    cp native/target/release/lib_core.so sipwatch/_core.abi3.so.tmp
    mv -f sipwatch/_core.abi3.so.tmp sipwatch/_core.abi3.so
else
    rm -f sipwatch/_core.abi3.so
    echo "note: cargo not found: using the pure-Python engine"
fi
