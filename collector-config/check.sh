#!/usr/bin/env bash
# Checks everything in collector-config/ that a program can check (`make check-config`):
#   1. otelcol-poolscope validate on gateway.yaml and agent.yaml, and on
#      gateway.yaml with its commented alternatives (remote write, vendor OTLP)
#      switched on, so that the documented alternatives stay valid too;
#   2. promtool check config / check rules / test rules on prometheus/;
#   3. a smoke run: the gateway on free loopback ports answers its health
#      check, accepts one OTLP/HTTP export and serves it on /metrics under the
#      names the dashboards and alerts use.
# The collector comes from scripts/build-collector.sh (cached after the first
# build) unless OTELCOL points at a binary.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
log() { echo "check-config: $*" >&2; }

otelcol="${OTELCOL:-$("$repo/scripts/build-collector.sh" | tail -n1)}"
# smoke_init ($work, the collector stopped on exit), free_port, wait_for:
# scripts/collector-smoke.sh
# shellcheck source=../scripts/collector-smoke.sh
source "$repo/scripts/collector-smoke.sh"
smoke_init

for config in gateway agent; do
  log "validate $config.yaml"
  "$otelcol" validate --config="$here/$config.yaml"
done

# Uncomment the config lines between the "alternative: ... (begin/end)"
# markers and list the alternatives' exporters in the pipeline.
sed -e '/# --- alternative: .* (begin) ---/,/# --- alternative: .* (end) ---/{/# ---/!s/^\(\s*\)# /\1/}' \
    -e 's/^\(\s*\)exporters: \[prometheus, debug\]$/\1exporters: [prometheus, debug, prometheus_remote_write, otlp_http\/vendor]/' \
    "$here/gateway.yaml" >"$work/gateway-alternatives.yaml"
if ! grep -q '^  prometheus_remote_write:' "$work/gateway-alternatives.yaml" ||
   ! grep -q '^  otlp_http/vendor:' "$work/gateway-alternatives.yaml" ||
   ! grep -q 'exporters: \[prometheus, debug, prometheus_remote_write, otlp_http/vendor\]' "$work/gateway-alternatives.yaml"; then
  log "could not switch on the alternatives in gateway.yaml: are the (begin)/(end) markers and the pipeline's exporters line intact?"
  exit 1
fi
log "validate gateway.yaml with the remote write and vendor alternatives"
VENDOR_TOKEN=check-config-dummy POOLSCOPE_REMOTE_WRITE_TOKEN=check-config-dummy \
  "$otelcol" validate --config="$work/gateway-alternatives.yaml"

log "promtool check config / check rules / test rules"
promtool check config "$here/prometheus/prometheus.yml"
promtool check rules "$here/prometheus/alerts.yml"
(cd "$here/prometheus" && promtool test rules alerts_test.yml advice_test.yml)

# --- smoke run ---
free_port grpc_port; free_port http_port; free_port prom_port; free_port health_port
log "smoke: gateway on 127.0.0.1 ports otlp-grpc $grpc_port, otlp-http $http_port, prometheus $prom_port, health $health_port"
POOLSCOPE_GATEWAY_OTLP_GRPC_ENDPOINT="127.0.0.1:$grpc_port" \
POOLSCOPE_GATEWAY_OTLP_HTTP_ENDPOINT="127.0.0.1:$http_port" \
POOLSCOPE_GATEWAY_PROMETHEUS_ENDPOINT="127.0.0.1:$prom_port" \
POOLSCOPE_GATEWAY_HEALTH_ENDPOINT="127.0.0.1:$health_port" \
  "$otelcol" --config="$here/gateway.yaml" >"$collector_log" 2>&1 &
collector_pid=$!
wait_for "http://127.0.0.1:$health_port/"
log "smoke: health check answers"

now="$(date +%s)000000000"
cat >"$work/export.json" <<JSON
{"resourceMetrics": [{
  "resource": {"attributes": [
    {"key": "service.name", "value": {"stringValue": "smoke-service"}},
    {"key": "service.instance.id", "value": {"stringValue": "smoke-1"}},
    {"key": "host.name", "value": {"stringValue": "smoke-host"}}]},
  "scopeMetrics": [{"scope": {"name": "poolscope-check-config"}, "metrics": [
    {"name": "db.client.connection.count", "unit": "{connection}",
     "sum": {"aggregationTemporality": 2, "isMonotonic": false, "dataPoints": [
       {"asInt": "3", "timeUnixNano": "$now", "attributes": [
         {"key": "db.client.connection.pool.name", "value": {"stringValue": "master"}},
         {"key": "db.client.connection.state", "value": {"stringValue": "used"}},
         {"key": "server.address", "value": {"stringValue": "127.0.0.1"}}]}]}},
    {"name": "db.client.connection.timeouts", "unit": "{timeout}",
     "sum": {"aggregationTemporality": 2, "isMonotonic": true, "dataPoints": [
       {"asInt": "2", "startTimeUnixNano": "$now", "timeUnixNano": "$now", "attributes": [
         {"key": "db.client.connection.pool.name", "value": {"stringValue": "master"}}]}]}}]}]}]}
JSON
curl -fsS --max-time 5 -H 'Content-Type: application/json' --data-binary @"$work/export.json" \
  "http://127.0.0.1:$http_port/v1/metrics" >/dev/null
metrics_url="http://127.0.0.1:$prom_port/metrics"
wait_for "$metrics_url" 'db_client_connection_count\{.*db_client_connection_pool_name="master"'
body="$(curl -fsS --max-time 2 "$metrics_url")"
for pattern in \
  'db_client_connection_count\{[^}]*db_client_connection_state="used"' \
  'db_client_connection_count\{[^}]*job="smoke-service"' \
  'db_client_connection_count\{[^}]*instance="smoke-1"' \
  'db_client_connection_count\{[^}]*server_address="127.0.0.1"' \
  'db_client_connection_timeouts_total\{' \
  'target_info\{[^}]*host_name="smoke-host"'; do
  if ! grep -Eq "$pattern" <<<"$body"; then
    log "smoke: /metrics has no line matching $pattern; it serves:"
    printf '%s\n' "$body" >&2
    exit 1
  fi
done
log "smoke: OTLP in, Prometheus names out as the dashboards and alerts expect"
log "all checks passed"
