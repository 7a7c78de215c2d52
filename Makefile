# poolscope: the two commands a user needs are `make demo` and `make test`.
GO      ?= go
# -race needs cgo; the tests run real redis-server processes, so a generous
# timeout covers a loaded 2-core machine.
TESTFLAGS ?= -race -count=1 -timeout 30m

# The product is the root module; the harness lives in modules of its own so
# that an importer of the product never sees its dependencies:
#   collector-config/  the Grafana dashboard generator (Grafana SDK, PromQL parser)
#   e2e/               the end-to-end test, the soak and the credential canary, and
#                      e2e/harness, which starts and stops their processes
#   bench/             the memory table, the benchmark tables and their report
#                      (which start the agent and collectors with e2e/harness)
#   deploy/            the image, Kubernetes manifests and systemd unit, and
#                      their test (Kubernetes API types)
MODULES := . collector-config e2e bench deploy

.PHONY: all deps build vet tidy test demo bench

all: build

## deps: install redis-server, redis-sentinel, redis-tools, prometheus and
## systemd-analyze when missing
deps:
	@scripts/install-deps.sh

# Runs "$(GO) $(1) ./..." in every module, naming the module that fails.
define each-module
	@for m in $(MODULES); do \
		(cd $$m && $(GO) $(1) ./...) || { echo "make: $(GO) $(1) failed in module $$m" >&2; exit 1; }; \
	done
endef

build:
	$(call each-module,build)

vet:
	$(call each-module,vet)

## tidy: fail, naming the module and showing the diff, when a module's go.mod
## or go.sum is not what `go mod tidy` would write
tidy:
	@for m in $(MODULES); do \
		(cd $$m && $(GO) mod tidy -diff) || { echo "make: module $$m ($$m/go.mod) is not tidy: run 'cd $$m && $(GO) mod tidy'" >&2; exit 1; }; \
	done

## test: install what is missing, check that every module is tidy, vet,
## build the collector (cached) and check collector-config/, then run every
## module's tests with the race detector (the end-to-end test in e2e/
## included, once), then every fuzz target briefly (fuzz-short)
test: deps tidy vet collector check-config
	$(call each-module,test $(TESTFLAGS))
	@$(MAKE) --no-print-directory fuzz-short

## demo: run the main job against its own redis-server
demo: deps
	$(GO) run ./cmd/poolscope demo $(DEMOFLAGS)

# --- deploy: the image, the manifests, the unit (see docs/deploy.md) ---
.PHONY: image check-deploy

## image: build the container image (deploy/Containerfile) with podman or
## buildah, installed with apt-get when missing and root: a static binary
## built here (CGO_ENABLED=0) on an empty base; IMAGE=name:tag (default
## poolscope:dev). Running it needs a runtime that may call setrlimit.
image:
	@scripts/build-image.sh

## check-deploy: build the gateway collector with the k8sattributes processor
## (deploy/collector/manifest.yaml, cached), validate
## deploy/collector/gateway-k8s.yaml with it and run its pipeline on an OTLP
## export (each process's pod on its series); not part of make test
check-deploy:
	@deploy/check-collector.sh

# --- bench/memtable: the memory table ---
.PHONY: memtable memtable-quick

## memtable: RSS/VMS/PSS of N=10,50,100 worker processes with every pool flag
## off and on, plain and TLS; memory per connection and per pool slot; the
## specification's claims next to the measurements (a few minutes). Last line
## "memtable: rss_reduction=X% vms_reduction=Y% per_conn_kib=Z tls_extra_kib=W"
MEMTABLEFLAGS ?=
memtable: deps
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	(cd bench && $(GO) build -o "$$tmp/memtable" ./memtable/cmd/memtable) && \
	"$$tmp/memtable" $(MEMTABLEFLAGS)

## memtable-quick: the same with N=4 and short sweeps, for CI (seconds)
memtable-quick: deps
	@$(MAKE) --no-print-directory memtable MEMTABLEFLAGS="-quick $(MEMTABLEFLAGS)"

# --- bench/advisebench: poolscope advise against the oracle pool size ---
.PHONY: advise-bench

## advise-bench: five workload shapes (steady, bursts, blocking, pipeline,
## slow server) against a real redis-server: sweep the master pool size to
## the oracle, run at a size too small and too large, advise on those runs'
## metrics, rerun at the advised size (a few minutes). Last line
## "advise: shapes=N within=W under=U max_over=X%"; ADVISEBENCHFLAGS=-quick
## for seconds, -v for a line per run
ADVISEBENCHFLAGS ?=
advise-bench: deps
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	(cd bench && $(GO) build -o "$$tmp/advisebench" ./advisebench/cmd/advisebench) && \
	"$$tmp/advisebench" $(ADVISEBENCHFLAGS)

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
## It first prints the agent-cost, discovery-cost and server-impact tables (bench-agent,
## bench-server: about 10 minutes together), then the hot-path tables
## (bench-hotpath), so that the summary stays the last line.
BENCHFLAGS ?= -count 3 -benchtime 500ms -rounds 150
bench:
	@$(MAKE) --no-print-directory bench-agent
	@$(MAKE) --no-print-directory bench-server
	@$(MAKE) --no-print-directory bench-hotpath

# --- bench/benchtables: agent cost, server impact, hot-path latency ---
.PHONY: bench-agent bench-agent-discovery bench-server bench-hotpath
AGENTBENCHFLAGS ?= -sizes 100,1000 -window 60s
DISCOVERYBENCHFLAGS ?= -processes 1000 -namespaces 50 -window 15s
SERVERBENCHFLAGS ?= -sizes 100,1000,10000 -window 65s -calls 20
LATENCYROUNDS ?= 100

## bench-agent: CPU per pass per process, CPU share and RSS of poolscope agent
## and the Collector's hostmetrics process scraper on the same 100 and 1000
## processes in one window (builds the collector the first time: minutes), then
## the discovery-cost table (bench-agent-discovery)
bench-agent: deps
	@cd bench && $(GO) run ./benchtables/cmd/benchtables agent $(AGENTBENCHFLAGS)
	@$(MAKE) --no-print-directory bench-agent-discovery

## bench-agent-discovery: discovery's CPU and wall time per pass and per process
## reading each process's socket table, 1000 processes in one network namespace
## and over 50 (as root; under 2 minutes)
bench-agent-discovery: deps
	@cd bench && $(GO) run ./benchtables/cmd/benchtables discovery $(DISCOVERYBENCHFLAGS)

## bench-server: time in CLIENT LIST at 100/1000/10000 clients and the agent's
## share of the server's CPU at its defaults
bench-server: deps
	@cd bench && $(GO) run ./benchtables/cmd/benchtables server $(SERVERBENCHFLAGS)

## bench-hotpath: the GET/SET table plus p50/p99 latency with 1 and 64 callers;
## last line "overhead: ..."
bench-hotpath:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(GO) test -c -o "$$tmp/instrument.test" ./instrument && \
	cd bench && $(GO) test -c -o "$$tmp/benchtables.test" ./benchtables && \
	$(GO) run ./benchreport -bin "$$tmp/instrument.test" -latency-bin "$$tmp/benchtables.test" \
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
	cd e2e && $(GO) run ./soak/cmd/soak -duration $(DURATION) -outage $(OUTAGE)

# --- e2e: the whole pipeline with real processes ---
.PHONY: e2e

## e2e: run the end-to-end test alone, verbosely: Redis master, replica,
## Sentinel and a local server, the collector built from the manifest,
## Prometheus, a workload (pools + instrument + exporters) and the agent;
## every dashboard panel query, the cross-checks and the health alerts
e2e: deps collector
	cd e2e && $(GO) test $(TESTFLAGS) -v -run '^TestEndToEnd$$' ./...
