#!/usr/bin/env bash
# Builds otelcol-poolscope, poolscope's minimal OpenTelemetry Collector, with
# the official OpenTelemetry Collector Builder (ocb) and prints the binary's
# path as the last line on stdout (everything else goes to stderr):
#
#   otelcol="$(scripts/build-collector.sh)"
#   "$otelcol" validate --config=collector-config/gateway.yaml
#
# A cold build takes 4-5 minutes on 2 cores (and fills ~2 GB of module cache),
# so the binary is cached under
#   ${POOLSCOPE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/poolscope}/otelcol-<sha256>/otelcol-poolscope
# where <sha256> hashes the manifest and the builder version: editing the
# manifest or bumping the builder builds a new binary, anything else reuses it.
#
# Safe to run twice at once: each run builds in its own temporary directory
# and moves the binary into place with an atomic rename; when flock(1) exists,
# a second run waits for the first instead of building the same thing again.
#
# Environment:
#   POOLSCOPE_CACHE        cache directory (default above)
#   POOLSCOPE_MANIFEST     builder manifest (default collector-config/builder/manifest.yaml)
#   POOLSCOPE_FORCE_BUILD  set to 1 to rebuild even when the cached binary exists
#
# In the manifest, the placeholder @BUILDER_DIR@ is replaced by the absolute
# directory of the manifest before the build, so a `replaces:` entry can point
# at a stub module kept next to it (see collector-config/README.md); the build
# runs elsewhere, where a relative path would not resolve.
set -euo pipefail

BUILDER_VERSION=v0.165.0
BINARY_NAME=otelcol-poolscope

log() { echo "build-collector: $*" >&2; }

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
manifest="${POOLSCOPE_MANIFEST:-$repo_root/collector-config/builder/manifest.yaml}"
if [ ! -f "$manifest" ]; then
  log "manifest $manifest not found"
  exit 1
fi
manifest="$(cd "$(dirname "$manifest")" && pwd)/$(basename "$manifest")"
manifest_dir="$(dirname "$manifest")"

cache="${POOLSCOPE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/poolscope}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"

key="$({ cat "$manifest"; echo "builder=$BUILDER_VERSION"; } | sha256sum | cut -d' ' -f1)"
out_dir="$cache/otelcol-$key"
binary="$out_dir/$BINARY_NAME"

cached() { [ -x "$binary" ] && "$binary" --version >/dev/null 2>&1; }

if [ "${POOLSCOPE_FORCE_BUILD:-0}" != 1 ] && cached; then
  echo "$binary"
  exit 0
fi

# One build per key at a time; others wait, then find the binary in place.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$cache/otelcol-$key.lock"
  if ! flock -n 9; then
    log "another build of $key is running; waiting for it"
    flock 9
  fi
  if [ "${POOLSCOPE_FORCE_BUILD:-0}" != 1 ] && cached; then
    echo "$binary"
    exit 0
  fi
fi

work="$(mktemp -d "$cache/build.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# The builder itself, installed once per version into the cache.
builder="$cache/builder-$BUILDER_VERSION/builder"
if [ ! -x "$builder" ]; then
  log "installing go.opentelemetry.io/collector/cmd/builder@$BUILDER_VERSION"
  mkdir -p "$work/gobin" "$(dirname "$builder")"
  GOBIN="$work/gobin" GOWORK=off go install "go.opentelemetry.io/collector/cmd/builder@$BUILDER_VERSION" >&2
  mv -f "$work/gobin/builder" "$builder"
fi

sed "s#@BUILDER_DIR@#$manifest_dir#g" "$manifest" >"$work/manifest.yaml"

log "building $BINARY_NAME (manifest sha256 $key); a cold build takes several minutes"
start=$SECONDS
# output_path in the manifest is relative, so the generated sources and the
# binary land in $work/_build. GOWORK=off: a go.work around the caller must not
# leak into the generated module.
(cd "$work" && GOWORK=off "$builder" --config="$work/manifest.yaml") >&2

built="$(find "$work" -type f -name "$BINARY_NAME" -perm -u+x | head -n1)"
if [ -z "$built" ]; then
  log "the builder finished but produced no $BINARY_NAME under $work"
  exit 1
fi
mkdir -p "$out_dir"
# Copy next to the target, then rename: readers see either no binary or a
# complete one, never a half-written file.
cp "$built" "$out_dir/.$BINARY_NAME.$$"
mv -f "$out_dir/.$BINARY_NAME.$$" "$binary"
cp "$manifest" "$out_dir/manifest.yaml"
log "built $binary in $((SECONDS - start))s"
echo "$binary"
