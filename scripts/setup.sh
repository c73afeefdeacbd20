#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine: a Rust toolchain is expected
# (cargo), Python 3.11+ runs the conformance suite. Nothing else is needed.
set -euo pipefail
need_apt=()
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
command -v cc >/dev/null 2>&1 || need_apt+=(gcc)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${need_apt[@]}"
  else
    echo "missing: ${need_apt[*]} (install them with apt-get)" >&2
    exit 1
  fi
fi
python3 - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit("python3 >= 3.11 is needed for the conformance runner")
PY
command -v cargo >/dev/null 2>&1 || { echo "cargo is needed (rustup)" >&2; exit 1; }
