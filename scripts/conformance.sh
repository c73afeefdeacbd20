#!/usr/bin/env bash
# Runs the KrakenD CE conformance suite against the release binary and enforces the ratchet:
# every spec listed in tests/conformance-passing.txt must pass.
set -euo pipefail
cd "$(dirname "$0")/.."
suite=${CONFORMANCE_DIR:-../shared/conformance/krakend-ce}
bin=target/release/tentacle
[ -x "$bin" ] || cargo build --release
version=$("$bin" version | sed -n 's/^Tentacle Version \([^ ]*\).*/\1/p')
report=$(mktemp)
set +e
python3 "$suite/run.py" --gateway-cmd "$bin run -d -c {config}" \
  --gateway-port 0 --backend-port 0 \
  --expect-user-agent "Tentacle Version $version" --expect-version "$version" \
  --json conformance.json | tee "$report"
status=${PIPESTATUS[0]}
set -e
if [ "$status" = 2 ]; then
  echo "conformance: setup failed" >&2
  exit 2
fi
missing=0
while read -r spec; do
  case "$spec" in ''|'#'*) continue ;; esac
  if ! grep -qx "PASS $spec" "$report"; then
    echo "RATCHET: $spec is listed in tests/conformance-passing.txt but did not pass" >&2
    missing=$((missing + 1))
  fi
done < tests/conformance-passing.txt
newly=$(grep '^PASS ' "$report" | cut -d' ' -f2 | grep -vxFf <(grep -v '^#' tests/conformance-passing.txt) || true)
if [ -n "$newly" ]; then
  echo "conformance: passing but not yet in the ratchet file: $(echo $newly)"
fi
rm -f "$report"
if [ "$missing" -gt 0 ]; then
  exit 1
fi
echo "conformance: ratchet holds ($(grep -cv '^#' tests/conformance-passing.txt) specs)"
