# Sourced (not run) by collector-config/check.sh and deploy/check-collector.sh
# for their smoke runs: a collector started on free loopback ports, polled
# until its endpoints answer.
#
# The caller defines log(), calls smoke_init, starts the collector with its
# output in $collector_log and sets collector_pid to its process id, so that
# a collector that exits or never answers shows its log, and that it is
# stopped on exit.

# smoke_init creates the temporary directory $work, removed on exit once the
# collector (collector_pid, when set) has been stopped, and sets
# collector_log to a file in it.
smoke_init() {
  work="$(mktemp -d)"
  collector_pid=""
  collector_log="$work/collector.log"
  trap smoke_cleanup EXIT
}

smoke_cleanup() {
  if [ -n "$collector_pid" ]; then
    kill "$collector_pid" 2>/dev/null || true
    wait "$collector_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}

port_is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

declare -A smoke_taken_ports=()

# free_port NAME sets the variable NAME to a loopback port nothing listens on
# and that no earlier call handed out. (It assigns rather than prints: in a
# $(...) subshell the record of the ports handed out would be lost, and two
# calls could hand out the same port.) The port is below the kernel's
# ephemeral range: a port in it can be taken by any outgoing connection (a
# test's, curl's) between this check and the collector's bind, which then
# fails with "address already in use" (it happened here once, on a busy
# machine, with a port from the old 20000-60000 range).
free_port() {
  local port lo=32768 _hi
  read -r lo _hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  if [ "$lo" -le 11024 ]; then lo=32768; fi
  for _ in $(seq 100); do
    port=$((10000 + RANDOM % (lo - 10000)))
    if [ -z "${smoke_taken_ports[$port]:-}" ] && port_is_free "$port"; then
      smoke_taken_ports[$port]=1
      printf -v "$1" '%s' "$port"
      return 0
    fi
  done
  log "no free port found"
  return 1
}

# wait_for URL [REGEXP] polls URL until it answers (and, when given, its body
# matches REGEXP), for up to 30 seconds: a loaded machine starts a collector
# slowly. It fails at once when the collector has exited.
wait_for() {
  local url=$1 pattern=${2:-} deadline=$((SECONDS + 30)) body
  while [ $SECONDS -lt $deadline ]; do
    if body="$(curl -fsS --max-time 2 "$url" 2>/dev/null)"; then
      if [ -z "$pattern" ] || grep -Eq "$pattern" <<<"$body"; then
        return 0
      fi
    fi
    if ! kill -0 "$collector_pid" 2>/dev/null; then
      log "the collector exited; its log:"
      cat "$collector_log" >&2
      return 1
    fi
    sleep 0.2
  done
  log "timed out waiting for $url${pattern:+ to match $pattern}; collector log:"
  cat "$collector_log" >&2
  [ -n "${body:-}" ] && printf '%s\n' "$body" | head -50 >&2
  return 1
}
