#!/usr/bin/env bash
# Installs the programs poolscope's tests and demo run, when they are missing:
# redis-server, redis-sentinel and redis-cli (real servers for every test),
# prometheus/promtool (the end-to-end test and the alert-rule checks) and
# systemd-analyze (deploy/'s check of the systemd unit).
# As root with apt-get it installs them; otherwise it prints the exact command
# and fails, so that a missing install step is never hidden by a skipped test.
set -euo pipefail

declare -A package_of=(
  [redis-server]=redis-server
  [redis-sentinel]=redis-sentinel
  [redis-cli]=redis-tools
  [prometheus]=prometheus
  [promtool]=prometheus
  [systemd-analyze]=systemd
)

missing=()
for bin in "${!package_of[@]}"; do
  command -v "$bin" >/dev/null 2>&1 || missing+=("${package_of[$bin]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

# Unique, sorted package names.
mapfile -t packages < <(printf '%s\n' "${missing[@]}" | sort -u)
cmd="apt-get install -y --no-install-recommends ${packages[*]}"

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: installing ${packages[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  $cmd >/dev/null
  # Debian's packages may start services on install; tests start their own
  # servers on free ports, so nothing needs these.
  exit 0
fi

echo "install-deps: missing ${packages[*]}; install them with:" >&2
echo "  sudo apt-get update && sudo $cmd" >&2
exit 1
