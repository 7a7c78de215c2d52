#!/usr/bin/env bash
# `make check-deploy`: builds the gateway collector for Kubernetes from
# deploy/collector/manifest.yaml (otelcol-poolscope plus the k8sattributes
# processor; cached by the manifest's hash, about a minute cold on 2 cores
# with a warm module cache) and validates deploy/collector/gateway-k8s.yaml
# with it. Kept out of `make test` so that the collector the tests build does
# not grow by the Kubernetes client libraries.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
log() { echo "check-deploy: $*" >&2; }

log "building the collector of deploy/collector/manifest.yaml (cached)"
otelcol="$(POOLSCOPE_MANIFEST="$here/collector/manifest.yaml" "$repo/scripts/build-collector.sh" | tail -n1)"
if ! "$otelcol" components | grep -q 'processor/k8sattributesprocessor'; then
  log "$otelcol has no k8sattributes processor"
  exit 1
fi
log "validate deploy/collector/gateway-k8s.yaml"
"$otelcol" validate --config="$here/collector/gateway-k8s.yaml"
log "all checks passed"
