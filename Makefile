# q2o: `make help` lists the targets.
#
# Postgres and Redis are looked for on Q2O_PG_HOST:Q2O_PG_PORT and
# Q2O_REDIS_HOST:Q2O_REDIS_PORT (127.0.0.1:5432 and :6379); scripts/services.sh
# starts them when they do not answer, and the test and demo URLs follow.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO      ?= go
BIN     := bin/q2o
COMPOSE ?= docker compose

Q2O_PG_HOST    ?= 127.0.0.1
Q2O_PG_PORT    ?= 5432
Q2O_REDIS_HOST ?= 127.0.0.1
Q2O_REDIS_PORT ?= 6379
export Q2O_PG_HOST Q2O_PG_PORT Q2O_REDIS_HOST Q2O_REDIS_PORT
export Q2O_TEST_DATABASE_URL ?= postgres://postgres@$(Q2O_PG_HOST):$(Q2O_PG_PORT)/postgres?sslmode=disable
export Q2O_TEST_REDIS_URL    ?= redis://$(Q2O_REDIS_HOST):$(Q2O_REDIS_PORT)
export Q2O_TEST_SMTP_ADDR    ?= 127.0.0.1:1025
export Q2O_TEST_MAILPIT_URL  ?= http://127.0.0.1:8025
export Q2O_TEST_STRIPE_MOCK_URL ?= http://127.0.0.1:12111

.PHONY: help build test fuzz bench run services services-stop lint vet fmt-check config-docs \
	compose-up compose-down clean distclean

help: ## list the targets
	@awk 'BEGIN { FS = ":.*## " } /^[a-zA-Z_-]+:.*## / { printf "  make %-14s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

# `q2o version` reports these (the environment may turn Go's own VCS stamping off).
LDFLAGS := -X main.commit=$(shell git rev-parse --short=12 HEAD 2>/dev/null) -X main.built=$(shell date -u +%Y-%m-%dT%H:%M:%SZ)

build: ## build bin/q2o and bin/q2o-cli (the tenants' command line)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/q2o
	$(GO) build -o bin/q2o-cli ./cmd/q2o-cli

.PHONY: generate
generate: ## regenerate q2o-cli's API client from api/openapi.yaml (a test fails when it is stale)
	$(GO) generate ./cmd/q2o-cli/...

services: ## make sure Postgres, Redis and the test SMTP server (mailpit) answer (start them if not)
	scripts/services.sh

services-stop: ## stop the private Postgres/Redis that scripts/services.sh started in .run/
	scripts/services.sh stop

test: services ## run every test, with the race detector, against the real Postgres and Redis
	$(GO) test -race -count=1 ./...

# The fuzz targets, as package:Target; `make test` runs their seeds.
FUZZ_TARGETS := ./api:FuzzDecode ./worker/runner:FuzzParseProgress ./worker/runner:FuzzProgressPatterns ./configs:FuzzRunnerArgs \
	./billing:FuzzWebhookEvent ./service:FuzzProjectQuery
FUZZTIME ?= 1m

fuzz: services ## run each fuzz target for FUZZTIME (default 1m), one after another
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name ($$pkg) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) "$$pkg" || exit 1; \
	done

bench: services ## run the benchmarks (no tests)
	$(GO) test -run '^$$' -bench . -benchmem ./...

# make bench-pipeline RUNS=100 RUNNER=python3 CONCURRENCY=4 BENCH_FLAGS=--json
RUNS        ?= 200
RUNNER      ?= true
CONCURRENCY ?= 4
BENCH_FLAGS ?=
ZIP_MB      ?= 32

.PHONY: bench-pipeline
bench-pipeline: build ## RUNS runs of RUNNER (python3: a do-nothing main.py) through a real api and worker at CONCURRENCY, beside raw asynq and raw exec
	$(GO) run ./cmd/q2o-bench --q2o $(BIN) --runs $(RUNS) --runner '$(RUNNER)' --concurrency $(CONCURRENCY) $(BENCH_FLAGS)
ifeq ($(findstring --json,$(BENCH_FLAGS)),)
	@echo; echo "the zip against zip -r -6 ($(ZIP_MB) MiB trees; ZIP_MB=1024 for the 1 GiB peak heap):"
	Q2O_BENCH_ZIP_MB=$(ZIP_MB) $(GO) test -run '^$$' -bench 'BenchmarkWriteZip' -benchtime 3x ./artifacts/
endif

run: services build ## start q2o (API + worker) on :8080 with a demo tenant
	scripts/run-demo.sh

config-docs: ## rewrite configs/example.yaml and README.md's settings tables from configs/settings.go
	$(GO) generate ./configs

fmt-check: ## fail if a Go file is not gofmt'ed
	@files="$$(gofmt -l $$($(GO) list -f '{{.Dir}}' ./...))"; \
	if [[ -n "$$files" ]]; then echo "not gofmt'ed (run gofmt -w):"; echo "$$files"; exit 1; fi

vet: ## go vet
	$(GO) vet ./...

lint: fmt-check vet ## gofmt check, go vet, and shellcheck on the scripts when it is installed
	@if command -v shellcheck >/dev/null; then shellcheck scripts/*.sh .ci/run; \
	else echo "shellcheck not installed: scripts not checked"; fi

compose-up: ## build the image and start everything with Docker Compose (API on :8080)
	$(COMPOSE) up -d --build

compose-down: ## stop the Docker Compose stack (its volumes are kept)
	$(COMPOSE) down

clean: ## remove build outputs
	rm -rf bin/
	rm -f *.test *.out

distclean: clean services-stop ## also stop private services and remove .run/ and data/
	rm -rf .run/ data/
