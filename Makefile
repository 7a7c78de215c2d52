# poolscope: the two commands a user needs are `make demo` and `make test`.
GO      ?= go
# -race needs cgo; the tests run real redis-server processes, so a generous
# timeout covers a loaded 2-core machine.
TESTFLAGS ?= -race -count=1 -timeout 30m

.PHONY: all deps build vet test demo bench

all: build

## deps: install redis-server, redis-sentinel, redis-tools and prometheus when missing
deps:
	@scripts/install-deps.sh

build:
	$(GO) build ./...

vet:
	$(GO) vet ./...

## test: install what is missing, vet, build the collector (cached) and check
## collector-config/, then run every test with the race detector (the
## end-to-end test in e2e/ included, once), then every fuzz target briefly
## (fuzz-short)
test: deps vet collector check-config
	$(GO) test $(TESTFLAGS) ./...
	@$(MAKE) --no-print-directory fuzz-short

## demo: run the main job against its own redis-server
demo: deps
	$(GO) run ./cmd/poolscope demo $(DEMOFLAGS)

# --- internal/memtable: the memory table ---
.PHONY: memtable memtable-quick

## memtable: RSS/VMS/PSS of N=10,50,100 worker processes with every pool flag
## off and on, plain and TLS; memory per connection and per pool slot; the
## specification's claims next to the measurements (a few minutes). Last line
## "memtable: rss_reduction=X% vms_reduction=Y% per_conn_kib=Z tls_extra_kib=W"
MEMTABLEFLAGS ?=
memtable: deps
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(GO) build -o "$$tmp/memtable" ./internal/memtable/cmd/memtable && \
	"$$tmp/memtable" $(MEMTABLEFLAGS)

## memtable-quick: the same with N=4 and short sweeps, for CI (seconds)
memtable-quick: deps
	@$(MAKE) --no-print-directory memtable MEMTABLEFLAGS="-quick $(MEMTABLEFLAGS)"

# --- collector-config: poolscope's OpenTelemetry Collector and Prometheus files ---
.PHONY: collector check-config

## collector: build otelcol-poolscope with the official builder (cached by manifest hash) and print its path
collector:
	@scripts/build-collector.sh

## check-config: validate the collector configs, Prometheus config and alert rules, run the rule unit tests and a collector smoke run
check-config: deps
	@collector-config/check.sh

## bench: the same GET/SET workload through bare go-redis, poolscope and
## redisotel against a local redis-server; prints a table and, last,
## "overhead: poolscope/bare=R1 redisotel/bare=R2 poolscope_added_allocs=N"
## (ratios from rounds interleaved within one process: see BENCHMARKS.md)
## It first prints the agent-cost and server-impact tables (bench-agent,
## bench-server: about 8 minutes together), then the hot-path tables
## (bench-hotpath), so that the summary stays the last line.
BENCHFLAGS ?= -count 3 -benchtime 500ms -rounds 150
bench:
	@$(MAKE) --no-print-directory bench-agent
	@$(MAKE) --no-print-directory bench-server
	@$(MAKE) --no-print-directory bench-hotpath

# --- internal/benchtables: agent cost, server impact, hot-path latency ---
.PHONY: bench-agent bench-server bench-hotpath
AGENTBENCHFLAGS ?= -sizes 100,1000 -window 60s
SERVERBENCHFLAGS ?= -sizes 100,1000,10000 -window 65s -calls 20
LATENCYROUNDS ?= 100

## bench-agent: CPU per pass per process, CPU share and RSS of poolscope agent
## and the Collector's hostmetrics process scraper on the same 100 and 1000
## processes in one window (builds the collector the first time: minutes)
bench-agent: deps
	@$(GO) run ./internal/benchtables/cmd/benchtables agent $(AGENTBENCHFLAGS)

## bench-server: time in CLIENT LIST at 100/1000/10000 clients and the agent's
## share of the server's CPU at its defaults
bench-server: deps
	@$(GO) run ./internal/benchtables/cmd/benchtables server $(SERVERBENCHFLAGS)

## bench-hotpath: the GET/SET table plus p50/p99 latency with 1 and 64 callers;
## last line "overhead: ..."
bench-hotpath:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(GO) test -c -o "$$tmp/instrument.test" ./instrument && \
	$(GO) test -c -o "$$tmp/benchtables.test" ./internal/benchtables && \
	$(GO) run ./instrument/internal/benchreport -bin "$$tmp/instrument.test" -latency-bin "$$tmp/benchtables.test" \
		-latency-rounds $(LATENCYROUNDS) $(BENCHFLAGS) 2>"$$tmp/raw.txt" || { cat "$$tmp/raw.txt"; exit 1; }

# --- reliability: fuzzing and the soak (see RELIABILITY.md) ---
.PHONY: fuzz fuzz-short soak

## fuzz: every fuzz target (func FuzzXxx anywhere) for FUZZTIME each, one after the other
FUZZTIME ?= 5m
fuzz:
	@FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

## fuzz-short: every fuzz target for 3 seconds (part of make test)
fuzz-short:
	@FUZZTIME=3s scripts/fuzz.sh

## soak: workload with connection churn, a collector outage of OUTAGE, redis-server
## and collector restarts for DURATION; goroutines, fds, heap and the agent's memory
## must be flat at the end (prints the figures; make test runs a 25 s version)
DURATION ?= 30m
OUTAGE ?= 1m
soak: deps
	$(GO) run ./internal/soak/cmd/soak -duration $(DURATION) -outage $(OUTAGE)

# --- e2e: the whole pipeline with real processes ---
.PHONY: e2e

## e2e: run the end-to-end test alone, verbosely: Redis master, replica,
## Sentinel and a local server, the collector built from the manifest,
## Prometheus, a workload (pools + instrument + exporters) and the agent;
## every dashboard panel query, the cross-checks and the health alerts
e2e: deps collector
	$(GO) test $(TESTFLAGS) -v -run '^TestEndToEnd$$' ./e2e/...
