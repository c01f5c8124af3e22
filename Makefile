# certrescue: `make test` is what CI runs (.ci/run) and what a fresh machine needs.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -s -w -X github.com/certrescue/certrescue/internal/cli.Version=$(VERSION)
PKGS := ./...
FUZZTIME ?= 10s

.PHONY: build test test-deps lint bench fuzz kit manifests clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/certrescue ./cmd/certrescue

# test installs what it needs (Debian packages, the real peers built from the Go
# module proxy, database servers), then runs every test with the peers required.
# The database servers test-deps starts are stopped afterwards, pass or fail.
test: test-deps
	$(GO) vet $(PKGS)
	status=0; CERTRESCUE_REQUIRE_TESTBED=1 $(GO) test -count=1 -timeout 60m $(PKGS) || status=$$?; \
	  scripts/test-services-stop.sh; exit $$status

test-deps:
	scripts/test-deps.sh

# lint: gofmt, go vet, then golangci-lint with .golangci.yml (errcheck, errorlint,
# govet, staticcheck, gosec, forbidigo, promlinter, nolintlint). scripts/lint.sh
# builds golangci-lint from test/tools/lint once per version, cached like the testbed.
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt: $$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)
	scripts/lint.sh

bench: test-deps
	$(GO) test -run '^$$' -bench . -benchtime 1x -count 1 $(PKGS)
	scripts/bench.sh

# fuzz runs every Fuzz target for FUZZTIME each.
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

kit:
	scripts/kit.sh $(VERSION)

# manifests builds deploy/ with kubectl kustomize and applies it to a real API
# server (server-side dry run), checking RBAC with kubectl auth can-i.
manifests: test-deps
	CERTRESCUE_REQUIRE_TESTBED=1 $(GO) test -count=1 -run '^TestManifests' ./deploy/

clean:
	rm -rf bin dist
