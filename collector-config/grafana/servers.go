package grafana

import (
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/units"
)

// ServersDashboardUID is the uid of the server-side and process dashboard
// (dashboards/poolscope-servers.json).
const ServersDashboardUID = "poolscope-servers"

// Several agents may watch the same Redis server and report the same view
// of it, so server-side series are deduplicated with max by (server, ...)
// before they are summed.
const (
	serverSelector     = `{server_address=~"$server"}`
	serverLegend       = "{{server_address}}:{{server_port}}"
	clientNameSelector = `{server_address=~"$server", poolscope_client_service=~"$service|", poolscope_client_role=~"$pool|"}`
	processLegend      = "{{process_executable_name}} pid {{process_pid}} ({{instance}})"
	byProcess          = "instance, process_pid, process_executable_name"
)

// The server-side count per pool, across every server: per server and client
// name first (deduplicating agents), then summed per service and role.
const serverSidePerPool = `sum by (poolscope_client_service, poolscope_client_role) (` +
	`max by (server_address, server_port, redis_client_name, poolscope_client_service, poolscope_client_role) (` +
	`poolscope_server_connections{poolscope_client_service=~"$service", poolscope_client_role=~"$pool", redis_client_name!="other"}))`

// The client-side count per pool, relabelled from job and
// db_client_connection_pool_name to the server side's label names.
const clientSidePerPool = `label_replace(label_replace(` +
	`sum by (job, db_client_connection_pool_name) (db_client_connection_count{job=~"$service", db_client_connection_pool_name=~"$pool"}), ` +
	`"poolscope_client_service", "$1", "job", "(.*)"), ` +
	`"poolscope_client_role", "$1", "db_client_connection_pool_name", "(.*)")`

func serversDashboard() *dashboard.DashboardBuilder {
	b := newDashboard(ServersDashboardUID, "poolscope: Redis servers and processes",
		"Server-side view of Redis clients and the memory of the processes that hold them, from poolscope's agent.").
		WithVariable(queryVariable("service", "Service (job)",
			`label_values(db_client_connection_count, job)`)).
		WithVariable(queryVariable("pool", "Pool (role)",
			`label_values(db_client_connection_count{job=~"$service"}, db_client_connection_pool_name)`)).
		WithVariable(queryVariable("server", "Server (server_address)",
			`label_values(redis_clients_connected, server_address)`))

	b = b.WithRow(dashboard.NewRowBuilder("Redis servers")).
		WithPanel(upDownStatPanel("Redis up",
			"Whether the agent reached each server at its last poll. The worst agent wins.",
			24,
			target{`min by (server_address, server_port) (poolscope_redis_up` + serverSelector + `)`, serverLegend},
		)).
		WithPanel(timeseriesPanel("Server clients: connected, blocked, maxclients",
			"Clients connected to each server in total (INFO clients), those blocked in BLPOP and the like, and the server's maxclients.",
			units.Short, 12,
			target{`max by (server_address, server_port) (redis_clients_connected` + serverSelector + `)`, serverLegend + " connected"},
			target{`max by (server_address, server_port) (redis_clients_blocked` + serverSelector + `)`, serverLegend + " blocked"},
			target{`max by (server_address, server_port) (redis_clients_max` + serverSelector + `)`, serverLegend + " maxclients"},
		)).
		WithPanel(timeseriesPanel("Share of maxclients in use",
			"Connected clients over maxclients; at 100% the server refuses new connections.",
			units.PercentUnit, 12,
			target{`max by (server_address, server_port) (redis_clients_connected` + serverSelector + `)` +
				` / max by (server_address, server_port) (redis_clients_max` + serverSelector + ` > 0)`, serverLegend},
		)).
		WithPanel(timeseriesPanel("Connections accepted and rejected per second",
			"New connections the server accepted and those it refused (maxclients). A high accept rate with a flat client count is connection churn.",
			units.Short, 12,
			target{`max by (server_address, server_port) (rate(redis_connections_received_total` + serverSelector + `[$__rate_interval]))`, serverLegend + " received"},
			target{`max by (server_address, server_port) (rate(redis_connections_rejected_total` + serverSelector + `[$__rate_interval]))`, serverLegend + " rejected"},
		)).
		WithPanel(timeseriesPanel("Server main thread busy",
			"CPU time of each server's main thread per second (INFO cpu: used_cpu_sys_main_thread + used_cpu_user_main_thread). "+
				"Near 100% the single-threaded server is the bottleneck: a larger pool only moves the queue into the server (poolscope advise says server-bound). Redis before 6.2 does not report it.",
			units.PercentUnit, 12,
			target{`max by (server_address, server_port) (sum without (state) (rate(redis_cpu_time_seconds_total{server_address=~"$server", state=~"sys_main_thread|user_main_thread"}[$__rate_interval])))`, serverLegend},
		)).
		WithPanel(timeseriesPanel("CLIENT LIST skipped per second",
			"The agent skips CLIENT LIST on servers with too many clients; the per-client-name panels are then stale for that server.",
			units.Short, 12,
			target{`sum by (job, server_address, server_port) (rate(poolscope_agent_client_list_skipped_total` + serverSelector + `[$__rate_interval]))`, "{{job}} " + serverLegend},
		))

	b = b.WithRow(dashboard.NewRowBuilder("Fleet connection budget")).
		WithPanel(timeseriesPanel("Fleet budget vs maxclients",
			"What every process pointed at a server may open (the sum of their pools' max plus health-check connections), at the configured sizes and at the advised ones, against the server's maxclients. "+
				"A deploy that runs old and new processes side by side, or a traffic spike that fills every pool, can reach the budget.",
			units.Short, 12,
			target{`max by (server_address, server_port) (poolscope:server_fleet_budget:connections` + serverSelector + `)`, serverLegend + " budget"},
			target{`max by (server_address, server_port) (poolscope:server_fleet_budget_advised:connections` + serverSelector + `)`, serverLegend + " budget at advised sizes"},
			target{`max by (server_address, server_port) (redis_clients_max` + serverSelector + `)`, serverLegend + " maxclients"},
		)).
		WithPanel(timeseriesPanel("Fleet budget share of maxclients",
			"The fleet budget over maxclients; the FleetBudgetNearMaxClients alert fires above 90%.",
			units.PercentUnit, 12,
			target{`max by (server_address, server_port) (poolscope:server_fleet_budget:ratio` + serverSelector + `)`, serverLegend},
		))

	b = b.WithRow(dashboard.NewRowBuilder("Server connections by client name")).
		WithPanel(timeseriesPanel("Server connections by client name",
			`Connections each server holds, grouped by client name ("service:role:pid"); names beyond the agent's top N are summed in "other".`,
			units.Short, 12,
			target{`max by (server_address, redis_client_name) (poolscope_server_connections` + clientNameSelector + `)`, "{{server_address}} {{redis_client_name}}"},
		)).
		WithPanel(timeseriesPanel("Oldest and longest-idle connection by client name",
			"Age of the oldest connection and idle time of the longest-idle connection per client name. Idle times near the pool's idle timeout are normal; ages that only grow with no reuse point at leaked connections.",
			units.Seconds, 12,
			target{`max by (server_address, redis_client_name) (poolscope_server_connection_age_max_seconds` + clientNameSelector + `)`, "{{server_address}} {{redis_client_name}} oldest"},
			target{`max by (server_address, redis_client_name) (poolscope_server_connection_idle_max_seconds` + clientNameSelector + `)`, "{{server_address}} {{redis_client_name}} longest idle"},
		)).
		WithPanel(timeseriesPanel("Server-side vs client-side connections per pool",
			"Connections Redis sees from each service and role (server-side, all servers) against the connections the service's pools report (client-side). Server-side above client-side means connections the pools no longer track: a leak.",
			units.Short, 24,
			target{serverSidePerPool, "server-side {{poolscope_client_service}}/{{poolscope_client_role}}"},
			target{clientSidePerPool, "client-side {{poolscope_client_service}}/{{poolscope_client_role}}"},
			target{serverSidePerPool + ` - on (poolscope_client_service, poolscope_client_role) ` + clientSidePerPool,
				"server minus client {{poolscope_client_service}}/{{poolscope_client_role}}"},
		))

	b = b.WithRow(dashboard.NewRowBuilder("Process memory")).
		WithPanel(timeseriesPanel("Process RSS and PSS",
			"Resident memory of each process the agent watches; PSS (shared pages divided among their users) when the agent runs with --pss.",
			units.BytesIEC, 12,
			target{`sum by (` + byProcess + `) (process_memory_usage_bytes)`, processLegend + " RSS"},
			target{`sum by (` + byProcess + `) (poolscope_process_memory_pss_bytes)`, processLegend + " PSS"},
		)).
		WithPanel(timeseriesPanel("Process virtual memory (VMS)",
			"Virtual memory size of each process.",
			units.BytesIEC, 12,
			target{`sum by (` + byProcess + `) (process_memory_virtual_bytes)`, processLegend},
		)).
		WithPanel(timeseriesPanel("Memory per Redis connection (RSS / connections)",
			"Each process's RSS divided by the Redis connections it holds: an upper bound of what a connection costs (go-redis allocates 64 KiB of buffers per connection, 256 KiB per pipeline connection).",
			units.BytesIEC, 12,
			target{`sum by (` + byProcess + `) (process_memory_usage_bytes)` +
				` / (sum by (` + byProcess + `) (poolscope_process_redis_connections) > 0)`, processLegend},
		)).
		WithPanel(timeseriesPanel("Redis connections per process",
			"Redis connections each process holds, per server, as the agent counts them.",
			units.Short, 12,
			target{`sum by (` + byProcess + `, server_address) (poolscope_process_redis_connections` + serverSelector + `)`, processLegend + " to {{server_address}}"},
		))
	return b
}
