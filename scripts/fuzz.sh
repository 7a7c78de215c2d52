#!/usr/bin/env bash
# Runs every fuzz target of the module, one after the other, for FUZZTIME
# each (go test -fuzz takes a single target per package run, hence the loop).
#
#   scripts/fuzz.sh            # FUZZTIME=5m each (make fuzz)
#   FUZZTIME=3s scripts/fuzz.sh  # make fuzz-short, part of make test
#   FUZZTIME=20000x scripts/fuzz.sh  # a number of executions each
#
# Targets are found by name (func FuzzXxx in any _test.go file), so a new
# target is picked up without editing this file. A failure leaves the
# crashing input under the package's testdata/fuzz/FuzzXxx/ (commit it: it
# becomes a regression test of the plain `go test` run) and stops the loop.
# A run that Go 1.26 fails on its own fuzztime deadline, with no input
# written, is repeated once by execution count (see the loop below).
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
# run DIR TARGET BUDGET: the target's fuzzing run, its log in $work/log.
run() {
  # -test.run=^$ skips the package's other tests; the target's seed corpus
  # (and testdata/fuzz/) still runs first.
  # shellcheck disable=SC2086
  (cd "$1" && "$(binary "$1")" -test.run='^$' -test.fuzz="^${2}\$" -test.fuzztime="$3" \
    -test.fuzzcachedir="$fuzzcache/$module/$1" $FUZZFLAGS) >"$work/log" 2>&1
}
# saved DIR TARGET: the inputs under the target's testdata/fuzz/, one per line.
saved() { ls "$1/testdata/fuzz/$2" 2>/dev/null || true; }
# execs: the number of executions the last run's log reports last.
execs() { sed -nE 's/.*execs: ([0-9]+) .*/\1/p' "$work/log" | tail -1; }
while read -r dir target; do
  [ -n "$target" ] || continue
  echo "fuzz: ./$dir $target for $FUZZTIME" >&2
  before="$(saved "$dir" "$target")"
  if ! run "$dir" "$target" "$FUZZTIME"; then
    # Go 1.26's fuzzing coordinator can fail a duration-bounded run whose
    # deadline fires while a worker is still executing: the target FAILs
    # with a bare "context deadline exceeded" and writes no input
    # (golang/go#75804, fixed in Go 1.27). An execution count has no
    # deadline to race, so such a run is repeated once with the count it
    # had reached; a real failure writes its input and is reported as is.
    if grep -qx '    context deadline exceeded' "$work/log" &&
      ! grep -q 'Failing input written to' "$work/log" &&
      [ "$(saved "$dir" "$target")" = "$before" ]; then
      count="$(execs)"
      count="${count:-10000}x"
      [ "$count" != 0x ] || count=10000x
      echo "fuzz: ./$dir $target stopped on Go's fuzztime deadline race (golang/go#75804), no input failed; again for $count" >&2
      if run "$dir" "$target" "$count"; then
        n=$((n + 1))
        continue
      fi
    fi
    cat "$work/log" >&2
    echo "fuzz: ./$dir $target FAILED (a failing input is saved under ./$dir/testdata/fuzz/$target/)" >&2
    exit 1
  fi
  n=$((n + 1))
done <<<"$targets"
echo "fuzz: $n targets passed, ${FUZZTIME} each, $((SECONDS - start))s in all" >&2
