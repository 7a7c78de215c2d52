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

## test: install what is missing, vet, then run every test with the race detector
test: deps vet
	$(GO) test $(TESTFLAGS) ./...

## demo: run the main job against its own redis-server
demo: deps
	$(GO) run ./cmd/poolscope demo $(DEMOFLAGS)

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
BENCHFLAGS ?= -count 3 -benchtime 500ms -rounds 150
bench:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(GO) test -c -o "$$tmp/instrument.test" ./instrument && \
	$(GO) run ./instrument/internal/benchreport -bin "$$tmp/instrument.test" $(BENCHFLAGS) 2>"$$tmp/raw.txt" || { cat "$$tmp/raw.txt"; exit 1; }
