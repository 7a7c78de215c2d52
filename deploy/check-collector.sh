#!/usr/bin/env bash
# `make check-deploy`: builds the gateway collector for Kubernetes from
# deploy/collector/manifest.yaml (otelcol-poolscope plus the k8sattributes,
# groupbyattrs and transform processors; cached by the manifest's hash, about
# a minute and a half cold on 2 cores with a warm module cache), validates
# deploy/collector/gateway-k8s.yaml with it, and runs that file's pipeline
# without a cluster: k8s_attributes is replaced by a stand-in that names each
# resource's pod the way it would (k8s.pod.name, k8s.namespace.name), the
# listening addresses are moved to free loopback ports, and one OTLP/HTTP
# export (an agent reporting processes in two pods, a host process and a
# container outside Kubernetes; an application with its pod in its resource)
# must come out of the prometheus exporter with each process's pod on its
# series and the application's labels as they were. Kept out of `make test`
# so that the collector the tests build does not grow by the Kubernetes
# client libraries. OTELCOL=path skips the build (a binary built from the
# manifest).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
config="$here/collector/gateway-k8s.yaml"
log() { echo "check-deploy: $*" >&2; }

if [ -z "${OTELCOL:-}" ]; then
  log "building the collector of deploy/collector/manifest.yaml (cached)"
fi
otelcol="${OTELCOL:-$(POOLSCOPE_MANIFEST="$here/collector/manifest.yaml" "$repo/scripts/build-collector.sh" | tail -n1)}"
components="$("$otelcol" components)"
for component in k8sattributesprocessor groupbyattrsprocessor transformprocessor; do
  if ! grep -q "processor/$component" <<<"$components"; then
    log "$otelcol has no $component"
    exit 1
  fi
done
log "validate deploy/collector/gateway-k8s.yaml"
"$otelcol" validate --config="$config"

# --- the pipeline, run ---
# smoke_init, free_port, wait_for: scripts/collector-smoke.sh
# shellcheck source=../scripts/collector-smoke.sh
source "$repo/scripts/collector-smoke.sh"
smoke_init

# gateway-k8s.yaml's own processor list, with the stand-in in
# k8s_attributes' place: the order under test is the file's.
pipeline="$(sed -n 's/^      processors: \[\(.*\)\]$/\1/p' "$config")"
if [ "$(grep -c . <<<"$pipeline")" != 1 ] || ! grep -qw k8s_attributes <<<"$pipeline"; then
  log "found no single '      processors: [..., k8s_attributes, ...]' line in $config"
  exit 1
fi
pipeline="${pipeline/k8s_attributes/transform/k8s_attributes_stand_in}"

free_port grpc_port; free_port http_port; free_port prom_port; free_port health_port
# Merged over gateway-k8s.yaml (a later --config wins; lists are replaced).
cat >"$work/overlay.yaml" <<YAML
extensions:
  health_check:
    endpoint: 127.0.0.1:$health_port
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$grpc_port
      http:
        endpoint: 127.0.0.1:$http_port
processors:
  # What k8s_attributes would add for a found pod, without overwriting.
  transform/k8s_attributes_stand_in:
    metric_statements:
      - context: resource
        statements:
          - set(resource.attributes["k8s.pod.name"], Concat(["pod", resource.attributes["k8s.pod.uid"]], "-")) where resource.attributes["k8s.pod.uid"] != nil and resource.attributes["k8s.pod.name"] == nil
          - set(resource.attributes["k8s.namespace.name"], "shop") where resource.attributes["k8s.pod.uid"] != nil and resource.attributes["k8s.namespace.name"] == nil
exporters:
  prometheus:
    endpoint: 127.0.0.1:$prom_port
service:
  pipelines:
    metrics:
      processors: [$pipeline]
YAML
log "pipeline: [$pipeline] on 127.0.0.1 ports otlp-http $http_port, prometheus $prom_port, health $health_port"
"$otelcol" --config="$config" --config="$work/overlay.yaml" >"$collector_log" 2>&1 &
collector_pid=$!
wait_for "http://127.0.0.1:$health_port/"

# A DaemonSet agent (its own pod uid-agent in its resource) reporting pid 4242
# in pod uid-a, pid 5353 in pod uid-b, pid 777 in a container outside
# Kubernetes and pid 1 on the host; an application in pod uid-a, its pod in
# its resource as deploy/kubernetes sets it (OTEL_RESOURCE_ATTRIBUTES).
now="$(date +%s)000000000"
attr() { printf '{"key": "%s", "value": {"%s": "%s"}}' "$1" "$2" "$3"; }
process_point() { # value pid executable [pod-uid] [container-id]
  local attrs
  attrs="$(attr process.pid intValue "$2"), $(attr process.executable.name stringValue "$3")"
  [ -n "${4:-}" ] && attrs+=", $(attr k8s.pod.uid stringValue "$4")"
  [ -n "${5:-}" ] && attrs+=", $(attr container.id stringValue "$5")"
  printf '{"asInt": "%s", "timeUnixNano": "%s", "attributes": [%s]}' "$1" "$now" "$attrs"
}
cat >"$work/export.json" <<JSON
{"resourceMetrics": [
 {"resource": {"attributes": [
    $(attr service.name stringValue poolscope-agent), $(attr service.instance.id stringValue node-1),
    $(attr k8s.pod.uid stringValue uid-agent)]},
  "scopeMetrics": [{"scope": {"name": "check-deploy"}, "metrics": [
    {"name": "process.memory.usage", "unit": "By", "gauge": {"dataPoints": [
      $(process_point 41000000 4242 checkout uid-a cid-a),
      $(process_point 52000000 5353 checkout uid-b cid-b),
      $(process_point 7000000 777 legacy "" cid-docker),
      $(process_point 9000000 1 systemd)]}},
    {"name": "poolscope.process.redis.connections", "unit": "{connection}", "gauge": {"dataPoints": [
      {"asInt": "8", "timeUnixNano": "$now", "attributes": [
        $(attr process.pid intValue 5353), $(attr process.executable.name stringValue checkout),
        $(attr k8s.pod.uid stringValue uid-b), $(attr container.id stringValue cid-b),
        $(attr server.address stringValue redis), $(attr server.port intValue 6379)]}]}}]}]},
 {"resource": {"attributes": [
    $(attr service.name stringValue checkout), $(attr service.instance.id stringValue checkout-1),
    $(attr process.pid intValue 1), $(attr k8s.pod.uid stringValue uid-a)]},
  "scopeMetrics": [{"scope": {"name": "check-deploy"}, "metrics": [
    {"name": "db.client.connection.count", "unit": "{connection}",
     "sum": {"aggregationTemporality": 2, "isMonotonic": false, "dataPoints": [
       {"asInt": "3", "timeUnixNano": "$now", "attributes": [
         $(attr db.client.connection.pool.name stringValue master),
         $(attr db.client.connection.state stringValue used)]}]}}]}]}]}
JSON
curl -fsS --max-time 5 -H 'Content-Type: application/json' --data-binary @"$work/export.json" \
  "http://127.0.0.1:$http_port/v1/metrics" >/dev/null

metrics_url="http://127.0.0.1:$prom_port/metrics"
for series in 'poolscope_process_redis_connections\{' 'db_client_connection_count\{' \
  'process_memory_usage_bytes\{[^}]*process_pid="4242"' 'process_memory_usage_bytes\{[^}]*process_pid="5353"' \
  'process_memory_usage_bytes\{[^}]*process_pid="777"' 'process_memory_usage_bytes\{[^}]*process_pid="1"'; do
  wait_for "$metrics_url" "$series"
done
body="$(curl -fsS --max-time 5 "$metrics_url")"

# labels NAME MATCH: the labels of the one series of NAME whose labels
# contain MATCH, one a line, sorted, without the otel_scope_* labels the
# exporter puts on every series.
labels() {
  local lines
  lines="$(grep -E "^$1\\{" <<<"$body" | grep -F "$2" || true)"
  if [ "$(grep -c . <<<"$lines" || true)" != 1 ]; then
    log "expected one $1 series with $2 in /metrics, found: ${lines:-none}"
    return 1
  fi
  sed -E 's/^[^{]*\{(.*)\} [^ ]+$/\1/' <<<"$lines" | tr ',' '\n' | grep -v '^otel_scope_' | sort
}
# expect WHAT NAME MATCH LABEL...: the series' labels are exactly LABEL...
expect() {
  local what=$1 name=$2 match=$3 got want
  shift 3
  got="$(labels "$name" "$match" | paste -sd, - || true)"
  want="$(printf '%s\n' "$@" | sort | paste -sd, -)"
  if [ "$got" != "$want" ]; then
    log "FAIL $what: $name{$got}, want {$want}; /metrics serves:"
    printf '%s\n' "$body" >&2
    exit 1
  fi
  log "ok: $what: $name{$got}"
}
agent=('job="poolscope-agent"' 'instance="node-1"')
expect "pod uid-a's process keeps its pod, with names" process_memory_usage_bytes 'process_pid="4242"' \
  "${agent[@]}" 'process_pid="4242"' 'process_executable_name="checkout"' \
  'k8s_pod_uid="uid-a"' 'container_id="cid-a"' 'k8s_pod_name="pod-uid-a"' 'k8s_namespace_name="shop"'
expect "pod uid-b's process keeps its pod, apart from uid-a's" process_memory_usage_bytes 'process_pid="5353"' \
  "${agent[@]}" 'process_pid="5353"' 'process_executable_name="checkout"' \
  'k8s_pod_uid="uid-b"' 'container_id="cid-b"' 'k8s_pod_name="pod-uid-b"' 'k8s_namespace_name="shop"'
expect "every per-process metric gets its pod back" poolscope_process_redis_connections 'process_pid="5353"' \
  "${agent[@]}" 'process_pid="5353"' 'process_executable_name="checkout"' \
  'k8s_pod_uid="uid-b"' 'container_id="cid-b"' 'k8s_pod_name="pod-uid-b"' 'k8s_namespace_name="shop"' \
  'server_address="redis"' 'server_port="6379"'
expect "a container outside Kubernetes keeps its container, gets no pod" process_memory_usage_bytes 'process_pid="777"' \
  "${agent[@]}" 'process_pid="777"' 'process_executable_name="legacy"' 'container_id="cid-docker"'
expect "a host process does not get the agent's own pod" process_memory_usage_bytes 'process_pid="1"' \
  "${agent[@]}" 'process_pid="1"' 'process_executable_name="systemd"'
expect "the application's labels are as before (its pod stays in target_info)" db_client_connection_count 'job="checkout"' \
  'job="checkout"' 'instance="checkout-1"' \
  'db_client_connection_pool_name="master"' 'db_client_connection_state="used"'
if ! grep -Eq 'target_info\{[^}]*job="checkout"[^}]*k8s_pod_uid="uid-a"' <<<"$body" &&
   ! grep -Eq 'target_info\{[^}]*k8s_pod_uid="uid-a"[^}]*job="checkout"' <<<"$body"; then
  log "FAIL: the application's target_info lost its k8s_pod_uid; /metrics serves:"
  printf '%s\n' "$body" >&2
  exit 1
fi
log "ok: the application's target_info keeps k8s_pod_uid=\"uid-a\""
if grep -q 'poolscope_stash' <<<"$body"; then
  log "FAIL: a transform/stash_pod key reached Prometheus:"
  grep 'poolscope_stash' <<<"$body" >&2
  exit 1
fi
log "ok: no stash key reaches Prometheus"
log "all checks passed"
