#!/usr/bin/env bash
# Builds poolscope's container image (deploy/Containerfile) with podman, or
# buildah when podman is missing: `make image`.
#
# The binary is built here, on the host, with CGO_ENABLED=0 (a static binary
# that runs on an empty base image), and copied into the image with the
# host's CA bundle; the build pulls nothing. As root with apt-get, a missing
# podman/buildah is installed (Debian's podman package); otherwise the script
# prints the command and fails.
#
# Environment:
#   IMAGE    the image name and tag (default poolscope:dev)
#   BUILDER  podman or buildah (default: the first one installed)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
image="${IMAGE:-poolscope:dev}"
log() { echo "build-image: $*" >&2; }

builder="${BUILDER:-}"
if [ -z "$builder" ]; then
  for b in podman buildah; do
    if command -v "$b" >/dev/null 2>&1; then builder=$b; break; fi
  done
fi
if [ -z "$builder" ]; then
  cmd="apt-get install -y --no-install-recommends podman"
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing podman"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    $cmd >/dev/null
    builder=podman
  else
    log "neither podman nor buildah is installed; install one with:"
    log "  sudo apt-get update && sudo $cmd"
    exit 1
  fi
fi

ca=/etc/ssl/certs/ca-certificates.crt
if [ ! -f "$ca" ]; then
  log "$ca not found: install ca-certificates (the image's TLS roots come from the host)"
  exit 1
fi

context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
log "go build ./cmd/poolscope (CGO_ENABLED=0, static)"
(cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$context/poolscope" ./cmd/poolscope)
# The image has no libc: the binary must not need one.
if ! go version -m "$context/poolscope" | grep -q 'CGO_ENABLED=0'; then
  log "the binary was not built with CGO_ENABLED=0"
  exit 1
fi
cp "$ca" "$context/ca-certificates.crt"
cp "$repo/deploy/Containerfile" "$context/Containerfile"

log "$builder build -t $image"
case "$builder" in
  podman) podman build --file "$context/Containerfile" --tag "$image" "$context" >&2 ;;
  buildah) buildah build --file "$context/Containerfile" --tag "$image" "$context" >&2 ;;
  *) log "BUILDER=$builder: want podman or buildah"; exit 2 ;;
esac
log "built $image; running it needs a container runtime that may call setrlimit (see docs/deploy.md)"
echo "$image"
