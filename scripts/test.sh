#!/usr/bin/env bash
# The project's test command: installs what the tests need, runs the Rust tests, builds the
# release binary and runs the KrakenD CE conformance ratchet against it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo test
cargo build --release
bash scripts/conformance.sh
