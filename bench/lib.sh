# Shared by bench/run.sh, bench/ab.sh and bench/pgo.sh (sourced): the port check, the scratch
# folder whose processes are stopped by pid and whose files are removed when the script ends,
# the benchmark's payloads, and the nginx configs of the backend and of the nginx proxy.

# refuse_taken PORT...: exits when one of the ports on 127.0.0.1 is taken
refuse_taken() {
  local p
  for p in "$@"; do
    if (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null; then
      echo "port $p is taken: refusing to run" >&2
      exit 1
    fi
  done
}

# wait_ports PORT...: waits until something listens on each port of 127.0.0.1 (10 s at most
# each)
wait_ports() {
  local p
  for p in "$@"; do
    for _ in $(seq 1 100); do
      (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null && break
      sleep 0.1
    done
  done
}

# scratch: $work becomes a new folder and $pids an empty list; when the script ends, every
# pid in $pids is stopped and $work removed
scratch() {
  work=$(mktemp -d)
  chmod 755 "$work"
  pids=()
  trap cleanup EXIT INT TERM
}

cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 0.3
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}

# cpus: LOAD_CPU for the load generator, SERVER_CPUS for the backend and the proxies: CPU 0
# and CPU 1 on a 2-core machine, CPU 0 and CPUs 1..N-1 with more, all on CPU 0 with one. The
# gateway runs one thread per CPU it may use, so the profile-guided build trains on the same
# CPUs as the benchmark measures on.
cpus() {
  local ncpu
  ncpu=$(nproc)
  LOAD_CPU=0
  SERVER_CPUS=1
  if [ "$ncpu" -gt 2 ]; then SERVER_CPUS="1-$((ncpu - 1))"; fi
  if [ "$ncpu" -lt 2 ]; then SERVER_CPUS=0; fi
}

# backend_files: the payloads in $work/www (a 200-byte JSON object, a second small one for
# merges, a 20 KB one) and $work/backend.conf, nginx (1 worker, keep-alive) serving them on
# 127.0.0.1:$BACKEND_PORT; $work/logs for the servers' logs
backend_files() {
  mkdir -p "$work/www" "$work/logs"
  python3 - "$work/www" <<'PY'
import json, sys
d = sys.argv[1]
small = {"id": 42, "name": "tentacle", "active": True, "score": 9.75,
         "tags": ["a", "b", "c"], "owner": {"login": "octo", "type": "User"},
         "description": "a small object for the proxy benchmark, about two hundred bytes"}
s = json.dumps(small, separators=(",", ":"))
while len(s) < 200:
    small["description"] += "."
    s = json.dumps(small, separators=(",", ":"))
open(f"{d}/small", "w").write(s)
open(f"{d}/small2", "w").write(json.dumps({"id": 7, "kind": "second", "values": [1, 2, 3]}, separators=(",", ":")))
items = []
i = 0
while len(json.dumps({"items": items}, separators=(",", ":"))) < 20000:
    items.append({"i": i, "name": f"item-{i}", "price": 10.5 + i, "ok": i % 2 == 0})
    i += 1
open(f"{d}/large", "w").write(json.dumps({"items": items, "count": len(items)}, separators=(",", ":")))
PY

  backend_conf
}

# nginx_conf NAME HTTP_BODY: $work/NAME.conf, one nginx worker in the foreground, keep-alive
# for clients, its pid and error log in $work, HTTP_BODY inside its http block
nginx_conf() {
  cat > "$work/$1.conf" <<CONF
user root;
worker_processes 1;
daemon off;
pid $work/$1.pid;
error_log $work/logs/$1-error.log error;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  $2
}
CONF
}

# backend_conf: $work/backend.conf, nginx serving the files of $work/www on
# 127.0.0.1:$BACKEND_PORT as JSON
backend_conf() {
  nginx_conf backend "keepalive_timeout 75s;
  server {
    listen 127.0.0.1:$BACKEND_PORT reuseport;
    root $work/www;
    default_type application/json;
    location / { try_files \$uri =404; }
  }"
}

# nginx_proxy_conf NAME PORT: $work/NAME.conf, the anchor: nginx as a reverse proxy on
# 127.0.0.1:PORT for /api/small and /api/large, with upstream keep-alive to the backend
nginx_proxy_conf() {
  nginx_conf "$1" "upstream backend {
    server 127.0.0.1:$BACKEND_PORT;
    keepalive 256;
  }
  server {
    listen 127.0.0.1:$2 reuseport;
    location /api/small { proxy_pass http://backend/small; proxy_http_version 1.1; proxy_set_header Connection \"\"; }
    location /api/large { proxy_pass http://backend/large; proxy_http_version 1.1; proxy_set_header Connection \"\"; }
  }"
}
