#!/usr/bin/env bash
# Runs every fuzz target of the module, one after the other, for FUZZTIME
# each (go test -fuzz takes a single target per package run, hence the loop).
#
#   scripts/fuzz.sh            # FUZZTIME=5m each (make fuzz)
#   FUZZTIME=4s scripts/fuzz.sh  # make fuzz-short, part of make test
#
# Targets are found by name (func FuzzXxx in any _test.go file), so a new
# target is picked up without editing this file. A failure leaves the
# crashing input under the package's testdata/fuzz/FuzzXxx/ (commit it: it
# becomes a regression test of the plain `go test` run) and stops the loop.
#
# Environment: FUZZTIME (default 5m), GO (default go), FUZZFLAGS (flags for
# the test binary; default -test.parallel=2, the number of fuzzing workers).
set -euo pipefail

GO="${GO:-go}"
FUZZTIME="${FUZZTIME:-5m}"
# Two workers: the machine has two cores, and others may be using them.
FUZZFLAGS="${FUZZFLAGS:--test.parallel=2}"

cd "$(dirname "${BASH_SOURCE[0]}")/.."

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fuzzcache="$("$GO" env GOCACHE)/fuzz" # where `go test -fuzz` keeps its corpus
module="$("$GO" list -m)"
n=0
start=$SECONDS
# Every "func FuzzXxx(" of a _test.go file, as "dir target" lines (grep is
# much faster than `go test -list`, which builds every test binary).
# The harness modules (e2e/, bench/, collector-config/: each has its own
# go.mod) hold no fuzz targets; they are left out so that a target there
# would not be built against the wrong module.
targets="$(grep -rHo --include='*_test.go' --exclude-dir=e2e --exclude-dir=bench --exclude-dir=collector-config --exclude-dir=deploy \
  '^func Fuzz[A-Za-z0-9_]*(' . |
  sed -E 's#^\./(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\($#\1 \2#' | sort -u)"
# One instrumented test binary per package (go test -fuzz would link one per
# target, seconds each; go test -c -fuzz takes one package at a time, so the
# builds run side by side). Each runs from its package directory so that
# testdata/fuzz/ is read, and written when an input fails.
binary() { echo "$work/$(echo "$1" | tr / _).test"; }
pids=()
for dir in $(echo "$targets" | cut -d' ' -f1 | sort -u); do
  "$GO" test -c -fuzz=. -o "$(binary "$dir")" "./$dir" >"$(binary "$dir").log" 2>&1 &
  pids+=("$!:$dir")
done
for p in "${pids[@]}"; do
  if ! wait "${p%%:*}"; then
    cat "$(binary "${p#*:}").log" >&2
    echo "fuzz: ./${p#*:} does not build" >&2
    exit 1
  fi
done
echo "fuzz: built ${#pids[@]} test binaries in $((SECONDS - start))s" >&2
while read -r dir target; do
  [ -n "$target" ] || continue
  bin="$(binary "$dir")"
  echo "fuzz: ./$dir $target for $FUZZTIME" >&2
  # -test.run=^$ skips the package's other tests; the target's seed corpus
  # (and testdata/fuzz/) still runs first.
  # shellcheck disable=SC2086
  if ! (cd "$dir" && "$bin" -test.run='^$' -test.fuzz="^${target}\$" -test.fuzztime="$FUZZTIME" \
    -test.fuzzcachedir="$fuzzcache/$module/$dir" $FUZZFLAGS) >"$work/log" 2>&1; then
    cat "$work/log" >&2
    echo "fuzz: ./$dir $target FAILED (the failing input is saved under ./$dir/testdata/fuzz/$target/)" >&2
    exit 1
  fi
  n=$((n + 1))
done <<<"$targets"
echo "fuzz: $n targets passed, ${FUZZTIME} each, $((SECONDS - start))s in all" >&2
