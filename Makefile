# make test   the one test command: gofmt check, go vet, batch schedulers up,
#             go test -race, schedulers down
# make build  bin/tuplebroker
# make bench  the space benchmarks

# Go installed at /usr/local/go works without a PATH change.
ifeq ($(shell command -v go 2>/dev/null),)
export PATH := /usr/local/go/bin:$(PATH)
endif

GO ?= go
GOFMT ?= gofmt
# The race detector needs cgo and a C compiler; `make test RACE=` runs
# the tests without it.
RACE ?= -race

.PHONY: test fmt-check vet race-check build bench

# The schedulers (two Slurm clusters, one Grid Engine cell) are installed
# and started for the tests by integration/schedulers/with-schedulers.sh.
# Packages that use the live schedulers run one at a time, after the rest:
# some of their tests stop a scheduler's controller for a few seconds.
SCHED_PKGS := ./agents/slurm ./agents/gridengine ./integration
test: race-check fmt-check vet
	integration/schedulers/with-schedulers.sh sh -c '\
		$(GO) test $(RACE) -count=1 -timeout 20m $$($(GO) list ./... | grep -v -e /agents/slurm -e /agents/gridengine -e /integration) && \
		$(GO) test $(RACE) -count=1 -timeout 20m -p 1 $(SCHED_PKGS)'

fmt-check:
	@out="$$($(GOFMT) -l .)" || exit 1; \
	if [ -n "$$out" ]; then echo "gofmt -l: not formatted:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

race-check:
ifneq ($(RACE),)
	@if ! command -v "$$($(GO) env CC)" >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing gcc for the race detector (cgo)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc >/dev/null; \
		else \
			echo "go test -race needs a C compiler: sudo apt-get install gcc  (or: make test RACE=)"; exit 1; \
		fi; \
	fi
endif

build:
	$(GO) build -o bin/tuplebroker ./cmd/tuplebroker

bench:
	$(GO) test -run '^$$' -bench . -benchtime=2s ./space/
