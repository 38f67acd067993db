# scimsync — two commands set everything up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go
BIN := bin/scimsync
# make test fuzzes by execution count, never by duration: a duration budget hits Go's fuzz coordinator
# race under CPU load (golang/go#75804) and fails with "context deadline exceeded" and no input.
FUZZTIME ?= 3000x
LONGFUZZ ?= 2m
PKGS := ./...
# `scimsync version`, --version, the User-Agent and scimsync_build_info report these.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: all build test unit e2e fuzz fuzz-short bench bench-jobs scale lint demo clean scimmy-deps oauth-deps chaos chromium systemd-tools postgres

all: build

include internal/testenv/scimmy/npm/install.mk
include internal/testenv/oidcprovider/provider/install.mk

build: $(BIN)

$(BIN): $(shell find . -name '*.go' -not -path './node_modules/*' 2>/dev/null) go.mod go.sum
	@mkdir -p bin
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/scimsync

# The whole suite: vet, unit and integration tests (real msgraph-sdk-go against the emulated Graph,
# SCIMMY and oidc-provider from npm, SMTP on loopback, headless Chromium, systemd-analyze), the end-to-end
# test of the built binary, and short fuzz runs.
test: scimmy-deps oauth-deps chromium systemd-tools postgres build
	$(GO) vet $(PKGS)
	SCIMSYNC_BIN=$(abspath $(BIN)) $(GO) test -count=1 -timeout 15m $(PKGS)
	$(MAKE) --no-print-directory fuzz-short

# The status page test drives a real headless Chromium (Debian package chromium); it fails, never
# skips, without one.
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

fuzz-short:
	$(GO) test -run '^$$' -fuzz '^FuzzCompile$$' -fuzztime $(FUZZTIME) ./mapping
	$(GO) test -run '^$$' -fuzz '^FuzzEval$$' -fuzztime $(FUZZTIME) ./mapping
	$(GO) test -run '^$$' -fuzz '^FuzzEvaluate$$' -fuzztime $(FUZZTIME) ./scoping
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./config
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeLink$$' -fuzztime $(FUZZTIME) ./store
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./scimclient/internal/jsonmap
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeObjects$$' -fuzztime $(FUZZTIME) ./scimclient/internal/jsonmap

# The PostgreSQL state backend (store/postgres, `state export|import`) is tested against a real server
# (Debian package postgresql): each test process runs initdb and pg_ctl from /usr/lib/postgresql/<ver>/bin
# into a temporary folder, on a free 127.0.0.1 port, as the postgres user when run as root. The tests fail,
# never skip, without it.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql; }

# systemd-analyze, systemd-sysusers and systemd-tmpfiles check the files in deploy/ (Debian package systemd).
systemd-tools:
	@command -v systemd-analyze >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends systemd; }

# Longer fuzzing, by hand, by duration (a coordinator race there costs a rerun, not a red CI).
fuzz:
	$(MAKE) --no-print-directory fuzz-short FUZZTIME=$(LONGFUZZ)

# The chaos convergence test with more seeds (make test runs 2): SEEDS=n runs seeds 1..n, SEED=k
# replays one. Each seed runs against SCIMMY and the in-process target.
SEEDS ?= 20
chaos: scimmy-deps build
	SCIMSYNC_BIN=$(abspath $(BIN)) SCIMSYNC_CHAOS_SEEDS=$(SEEDS) $(if $(SEED),SCIMSYNC_CHAOS_SEED=$(SEED)) \
		$(GO) test -count=1 -timeout 0 -v -run '^TestChaosConvergence$$' ./cmd/scimsync

# Benchmarks print figures; nothing here asserts a speed. The scale benchmarks include the scale
# harness (BenchmarkScaleProcesses) at 10,000 users; LeaseTakeover and ReplicaJobs need PostgreSQL.
bench: scimmy-deps postgres build
	$(GO) test -run '^$$' -bench . -benchmem ./mapping ./scoping ./config ./store ./scimclient/... ./sync/...
	SCIMSYNC_BIN=$(abspath $(BIN)) $(GO) test -run '^$$' -bench 'Scale|LeaseTakeover|ReplicaJobs' -benchtime 1x -timeout 60m ./cmd/scimsync

# Many jobs on one daemon, then on three replicas sharing one PostgreSQL database: JOBS jobs of USERS
# generated users each (default 100 × 1,000, what make bench runs: about two minutes in all on 2 cores).
JOBS ?= 100
USERS ?= 1000
bench-jobs: postgres build
	SCIMSYNC_BIN=$(abspath $(BIN)) SCIMSYNC_BENCH_JOBS=$(JOBS) SCIMSYNC_BENCH_USERS=$(USERS) $(GO) test -count=1 -run '^$$' \
		-bench '^BenchmarkReplicaJobs$$' -benchtime 1x -timeout 0 ./cmd/scimsync

# The scale harness alone at N users (default 100,000): the emulated Graph and the SCIM target run as
# processes of their own (internal/cmd/emulate), scimsync runs one initial cycle as its own process,
# then a raw load client replays the same create bodies in the same manager waves against a fresh
# target; prints the side-by-side table of docs/performance.md. PROFILE=dir writes scimsync's CPU and
# peak-heap profiles there (go tool pprof); MEMLIMIT=256MiB gives scimsync alone that GOMEMLIMIT;
# CGROUP=256 runs it in a memory cgroup of 256 MiB (needs a writable cgroup hierarchy, e.g. root);
# GROUPS=1000 adds 1,000 security groups of 100 members each and provisions them; PAIRS=n times
# scimsync's initial cycle and the raw client side by side n times (default 3) and prints the median.
N ?= 100000
scale: build
	SCIMSYNC_BIN=$(abspath $(BIN)) SCIMSYNC_SCALE_USERS=$(N) SCIMSYNC_SCALE_PROFILE=$(if $(PROFILE),$(abspath $(PROFILE))) SCIMSYNC_SCALE_GOMEMLIMIT=$(MEMLIMIT) SCIMSYNC_SCALE_CGROUP_MIB=$(CGROUP) SCIMSYNC_SCALE_GROUPS=$(GROUPS) SCIMSYNC_SCALE_PAIRS=$(PAIRS) \
		$(GO) test -count=1 -run '^$$' -bench '^BenchmarkScaleProcesses$$' -benchtime 1x -timeout 0 ./cmd/scimsync

STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

# gofmt, go vet and staticcheck (its default checks; fetched through the Go module proxy on first use).
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)

# Runs a real sync against the embedded default: an emulated Graph tenant and a SCIM target on
# loopback, and shows what the target holds afterwards.
demo: build
	./$(BIN) demo

clean:
	rm -rf bin
