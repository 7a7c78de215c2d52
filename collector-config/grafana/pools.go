package grafana

import (
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/units"
)

// PoolsDashboardUID is the uid of the client-side dashboard
// (dashboards/poolscope-pools.json).
const PoolsDashboardUID = "poolscope-pools"

// poolSelector restricts client-side series to the chosen services, pools
// and servers.
const poolSelector = `{job=~"$service", db_client_connection_pool_name=~"$pool", server_address=~"$server"}`

// Client-side panels aggregate to one line per service and pool: summed over
// instances, servers and connection kinds.
var byPool = []string{"job", "db_client_connection_pool_name"}

const poolLegend = "{{job}} {{db_client_connection_pool_name}}"

// poolVariables are the service, pool and server variables, each narrowed by
// the ones before it.
func poolVariables(b *dashboard.DashboardBuilder) *dashboard.DashboardBuilder {
	return b.
		WithVariable(queryVariable("service", "Service (job)",
			`label_values(db_client_connection_count, job)`)).
		WithVariable(queryVariable("pool", "Pool (role)",
			`label_values(db_client_connection_count{job=~"$service"}, db_client_connection_pool_name)`)).
		WithVariable(queryVariable("server", "Server (server_address)",
			`label_values(db_client_connection_count{job=~"$service", db_client_connection_pool_name=~"$pool"}, server_address)`))
}

func poolsDashboard() *dashboard.DashboardBuilder {
	b := newDashboard(PoolsDashboardUID, "poolscope: Redis client pools",
		"Client-side view of go-redis connection pools, from poolscope's instrument package.")
	b = poolVariables(b)

	b = b.WithRow(dashboard.NewRowBuilder("Pool usage")).
		WithPanel(timeseriesPanel("Connections by pool: used, idle, max",
			"Connections each pool holds, by state, against the pool's maximum. Used reaching max means callers queue for a connection.",
			units.Short, 12,
			target{`sum by (job, db_client_connection_pool_name, db_client_connection_state) (db_client_connection_count` + poolSelector + `)`,
				poolLegend + " {{db_client_connection_state}}"},
			target{`sum by (job, db_client_connection_pool_name) (db_client_connection_max` + poolSelector + `)`,
				poolLegend + " max"},
		)).
		WithPanel(timeseriesPanel("Pool utilisation (used / max)",
			"Share of the pool's maximum in use. Pub/sub connections are left out: go-redis opens them outside the cap. Pools without a cap (max 0) are left out.",
			units.PercentUnit, 12,
			target{`sum by (job, db_client_connection_pool_name) (db_client_connection_count{db_client_connection_state="used", redis_client_connection_kind!="pubsub", job=~"$service", db_client_connection_pool_name=~"$pool", server_address=~"$server"})` +
				` / sum by (job, db_client_connection_pool_name) (db_client_connection_max` + poolSelector + ` > 0)`,
				poolLegend},
		)).
		WithPanel(timeseriesPanel("Pending requests",
			"Requests waiting for a free connection right now.",
			units.Short, 12,
			target{`sum by (job, db_client_connection_pool_name) (db_client_connection_pending_requests` + poolSelector + `)`, poolLegend},
		)).
		WithPanel(timeseriesPanel("Pool limits: max, idle max, idle min",
			"The configured limits as each process reports them (largest over the service's instances).",
			units.Short, 12,
			target{`max by (job, db_client_connection_pool_name) (db_client_connection_max` + poolSelector + `)`, poolLegend + " max"},
			target{`max by (job, db_client_connection_pool_name) (db_client_connection_idle_max` + poolSelector + `)`, poolLegend + " idle max"},
			target{`max by (job, db_client_connection_pool_name) (db_client_connection_idle_min` + poolSelector + `)`, poolLegend + " idle min"},
		))

	b = adviceRow(b)

	b = b.WithRow(dashboard.NewRowBuilder("Waiting for a connection")).
		WithPanel(timeseriesPanel("Wait time for a connection: p50, p90, p99",
			"How long a command waited to get a connection from the pool. A healthy pool hands one out in microseconds.",
			units.Seconds, 12,
			quantiles("db_client_connection_wait_time_seconds", poolSelector, byPool, poolLegend, 0.5, 0.9, 0.99)...,
		)).
		WithPanel(timeseriesPanel("Pool timeouts per second",
			"Commands that gave up waiting for a connection (PoolTimeout). Each one is a failed request.",
			units.Short, 12,
			target{`sum by (job, db_client_connection_pool_name) (rate(db_client_connection_timeouts_total` + poolSelector + `[$__rate_interval]))`, poolLegend},
		)).
		WithPanel(timeseriesPanel("Waits per second",
			"Commands that found no idle connection and had to wait for one.",
			units.Short, 12,
			target{`sum by (job, db_client_connection_pool_name) (rate(redis_client_connection_waits_total` + poolSelector + `[$__rate_interval]))`, poolLegend},
		)).
		WithPanel(timeseriesPanel("Hit ratio",
			"Share of connection requests served by an idle pooled connection (hits) rather than a new dial (misses).",
			units.PercentUnit, 12,
			target{`sum by (job, db_client_connection_pool_name) (rate(redis_client_connection_hits_total` + poolSelector + `[$__rate_interval]))` +
				` / (sum by (job, db_client_connection_pool_name) (rate(redis_client_connection_hits_total` + poolSelector + `[$__rate_interval]))` +
				` + sum by (job, db_client_connection_pool_name) (rate(redis_client_connection_misses_total` + poolSelector + `[$__rate_interval])))`,
				poolLegend},
		))

	b = b.WithRow(dashboard.NewRowBuilder("Connection lifecycle")).
		WithPanel(bucketHeatmapPanel("Connection lifetime at close",
			"How long connections lived before they were closed, for every close reason. A band at a few seconds means churn: connections are dialled and dropped instead of reused.",
			units.Seconds, 12,
			`sum by (le) (rate(redis_client_connection_lifetime_seconds_bucket`+poolSelector+`[$__rate_interval]))`,
		)).
		WithPanel(timeseriesPanel("Connection lifetime by close reason: p50, p99",
			"Median and 99th percentile age of connections at close, per close reason.",
			units.Seconds, 12,
			quantiles("redis_client_connection_lifetime_seconds", poolSelector, []string{"reason"}, "{{reason}}", 0.5, 0.99)...,
		)).
		WithPanel(timeseriesPanel("Connections closed per second by reason",
			"Why connections close: idle_timeout and max_lifetime are the pool's own recycling; stale, error and failover point at the network or the server.",
			units.Short, 12,
			target{`sum by (job, db_client_connection_pool_name, reason) (rate(redis_client_connection_closed_total` + poolSelector + `[$__rate_interval]))`, poolLegend + " {{reason}}"},
		)).
		WithPanel(timeseriesPanel("Connection create time: p50, p90, p99",
			"Time to dial, (TLS-)handshake and initialise a new connection.",
			units.Seconds, 12,
			quantiles("db_client_connection_create_time_seconds", poolSelector, byPool, poolLegend, 0.5, 0.9, 0.99)...,
		)).
		WithPanel(timeseriesPanel("Connection use time: p50, p99",
			"How long a connection stays checked out of the pool per use.",
			units.Seconds, 12,
			quantiles("db_client_connection_use_time_seconds", poolSelector, byPool, poolLegend, 0.5, 0.99)...,
		)).
		WithPanel(timeseriesPanel("Stale and unusable connections per second",
			"Stale: idle connections found dead when taken from the pool. Unusable: connections discarded after an error.",
			units.Short, 12,
			target{`sum by (job, db_client_connection_pool_name) (rate(redis_client_connection_stale_total` + poolSelector + `[$__rate_interval]))`, poolLegend + " stale"},
			target{`sum by (job, db_client_connection_pool_name) (rate(redis_client_connection_unusable_total` + poolSelector + `[$__rate_interval]))`, poolLegend + " unusable"},
		))

	b = b.WithRow(dashboard.NewRowBuilder("Health checks")).
		WithPanel(upDownStatPanel("Health per pool",
			"Result of each pool's last health check against its server: UP (1) or DOWN (0). The worst instance wins.",
			24,
			target{`min by (job, db_client_connection_pool_name, server_address) (redis_client_health_up` + poolSelector + `)`,
				poolLegend + " {{server_address}}"},
		)).
		WithPanel(timeseriesPanel("Health checks per second by outcome",
			"Health checks by outcome: ok, error or timeout.",
			units.Short, 12,
			target{`sum by (job, db_client_connection_pool_name, outcome) (rate(redis_client_health_checks_total` + poolSelector + `[$__rate_interval]))`, poolLegend + " {{outcome}}"},
		)).
		WithPanel(timeseriesPanel("Health check duration: p50, p99",
			"Round trip of the health check's PING.",
			units.Seconds, 12,
			quantiles("redis_client_health_duration_seconds", poolSelector, byPool, poolLegend, 0.5, 0.99)...,
		))
	return b
}

// adviceRow shows the pool size advice from the recording rules of
// collector-config/prometheus/alerts.yml (group poolscope-advice), so that
// the panels read one recorded series per pool instead of a day of
// histograms.
func adviceRow(b *dashboard.DashboardBuilder) *dashboard.DashboardBuilder {
	return b.WithRow(dashboard.NewRowBuilder("Advice")).
		WithPanel(timeseriesPanel("Advised vs configured pool size",
			"Configured: the pool's max per process. Advised: the busiest process's 99th percentile of one-minute demand (connections in use + callers waiting) over a day, plus 10%, "+
				"or, where larger, the 99th percentile over a day of the demand each caller found as it asked for a connection (which sees bursts shorter than a minute). "+
				"Advised above configured: callers wait for connections; far below: idle connections cost memory in every process and slots on the server. "+
				"`poolscope advise` gives the full advice (wait model, peak, server bottleneck, fleet budget).",
			units.Short, 12,
			target{`max by (job, db_client_connection_pool_name) (poolscope:pool_size_advised:q99_1d` + poolSelector + `)`, poolLegend + " advised"},
			target{`max by (job, db_client_connection_pool_name) (poolscope:pool_size_configured:max` + poolSelector + `)`, poolLegend + " configured"},
		)).
		WithPanel(timeseriesPanel("Demand per process: connections in use + callers waiting",
			"Mean over each minute, from the use and wait time histograms (Little's law: seconds of use and of waiting per second), for the busiest process of the service. Above the configured size, callers queue.",
			units.Short, 12,
			target{`max by (job, db_client_connection_pool_name) (poolscope:pool_demand:rate1m` + poolSelector + `)`, poolLegend},
		)).
		WithPanel(timeseriesPanel("Demand each caller found: p50, p99",
			"The callers holding or waiting for a connection (itself included) that each caller found as it asked for one (redis.client.connection.demand). "+
				"Where nobody waits, a pool of size N makes about the share of callers above N wait: p99 is the size at which 1% would. Callers that wake together show here, not in the one-minute demand.",
			units.Short, 12,
			quantiles("redis_client_connection_demand", poolSelector, byPool, poolLegend, 0.5, 0.99)...,
		))
}
