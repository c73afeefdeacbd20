# Shared by bench/run.sh and bench/pgo.sh (sourced): the port check, and the scratch folder
# whose processes are stopped by pid and whose files are removed when the script ends.

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
