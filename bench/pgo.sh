#!/usr/bin/env bash
# The release binary built with profile-guided optimisation (PGO): an instrumented build
# serves a training load, and the optimised build lays out, inlines and splits its code by
# what that load ran (hot paths together, cold paths out of the instruction cache's way).
#
# Usage: bench/pgo.sh   → prints the optimised binary's path on its last line
#                         (target/pgo-use/release/tentacle); exit 3 when llvm-profdata is not
#                         at hand (the caller then uses the plain release build).
#
# The training load is not the benchmark: bench/pgo-train.json's endpoints (no-op with
# forwarded headers, JSON with query strings, allow/mapping, a three-backend merge with a
# collection, a flat merge with deny, target on a large object), over payloads of its own
# served by nginx on 127.0.0.1:18085, the gateway on 127.0.0.1:18086, wrk at two
# concurrencies. Needs nginx and wrk (bench/run.sh installs them).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
BACKEND_PORT=18085 GATEWAY_PORT=18086

profdata=""
sysroot=$(rustc --print sysroot)
find_profdata() {
  profdata=$(find "$sysroot/lib/rustlib" -name llvm-profdata -type f 2>/dev/null | head -1)
}
find_profdata
if [ -z "$profdata" ] && command -v rustup >/dev/null 2>&1; then
  rustup component add llvm-tools >/dev/null 2>&1 || true
  find_profdata
fi
if [ -z "$profdata" ]; then
  echo "llvm-profdata not found (rustup component llvm-tools): no PGO build" >&2
  exit 3
fi

refuse_taken $BACKEND_PORT $GATEWAY_PORT
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

scratch

# fixed paths: the instrumented build's dependencies are built once; the optimised build is
# named by its profile's hash, so a new profile rebuilds everything with it
data="$root/target/pgo-data"
rm -rf "$data/raw"
mkdir -p "$data"
echo "PGO: instrumented build..." >&2
(cd "$root" && RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-generate=$data/raw" \
  CARGO_TARGET_DIR="$root/target/pgo-gen" cargo build --release --quiet)

mkdir -p "$work/www" "$work/logs"
python3 - "$work/www" <<'PY'
import json, os, sys
d = sys.argv[1]
def put(name, obj):
    path = os.path.join(d, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "w").write(json.dumps(obj, indent=1 if "catalog" in name else None))
for i in range(1, 51):
    put(f"users/{i}", {"id": i, "name": f"user {i}", "email": f"u{i}@example.com",
                       "roles": ["reader"] + (["admin"] if i % 7 == 0 else []),
                       "address": {"city": "Lisbon", "street": f"Rua {i}", "zip": "1000-001"},
                       "karma": i * 1.5, "verified": i % 2 == 0, "bio": "línea <b>bold</b> & more"})
put("orders", [{"id": n, "total": n * 9.99, "items": n % 4 + 1, "status": "shipped"} for n in range(12)])
put("settings", {"theme": "dark", "locale": "pt-PT", "notifications": {"email": True, "sms": False}})
put("catalog", {"data": {"products": [{"sku": f"P{n:05}", "price": n / 3, "tags": ["x", "y"],
                                        "stock": n % 17} for n in range(400)]}, "page": 1})
PY

backend_conf
# on the CPUs the benchmark gives the servers: the gateway's threads as measured
cpus
taskset -c "$SERVER_CPUS" "$NGINX" -c "$work/backend.conf" -p "$work" >/dev/null 2>&1 &
pids+=($!)
taskset -c "$SERVER_CPUS" "$root/target/pgo-gen/release/tentacle" run -c "$here/pgo-train.json" -p $GATEWAY_PORT \
  >"$work/logs/gateway.log" 2>&1 &
gw=$!
pids+=($gw)
wait_ports $BACKEND_PORT $GATEWAY_PORT

echo "PGO: training load..." >&2
cat > "$work/ids.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  local path = wrk.path:gsub("{id}", tostring(n % 50 + 1))
  return wrk.format(nil, path, {["X-Request-Id"] = tostring(n), ["Authorization"] = "Bearer t"})
end
LUA
for path in "/t/pass/{id}" "/t/pass-big" "/t/user/{id}?fields=name&other=1" \
  "/t/user-filtered/{id}" "/t/profile/{id}" "/t/flat/{id}" "/t/catalog"; do
  for c in 16 128; do
    out=$(taskset -c "$LOAD_CPU" wrk -t1 -c$c -d2s -s "$work/ids.lua" "http://127.0.0.1:$GATEWAY_PORT$path" 2>&1)
    if echo "$out" | grep -q "Non-2xx\|Socket errors"; then
      echo "PGO training: $path answered errors" >&2
      echo "$out" >&2
      exit 1
    fi
  done
done
# the profile is written when the gateway exits
kill -TERM "$gw"
wait "$gw" 2>/dev/null || true
"$profdata" merge -o "$work/merged.profdata" "$data/raw"
profile="$data/$(sha256sum "$work/merged.profdata" | cut -c1-16).profdata"
mv "$work/merged.profdata" "$profile"
find "$data" -name '*.profdata' ! -path "$profile" -delete

echo "PGO: optimised build..." >&2
(cd "$root" && RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-use=$profile" \
  CARGO_TARGET_DIR="$root/target/pgo-use" cargo build --release --quiet)
echo "$root/target/pgo-use/release/tentacle"
