# Targets for developers and CI. `make test` is the README's test command.
GO      ?= go
PYTHON  ?= /usr/bin/python3
GOBIN   := $(shell $(GO) env GOPATH)/bin
export PATH := $(GOBIN):$(PATH)

BUF_VERSION            := v1.75.0
PROTOC_GEN_GO_VERSION  := v1.36.12
PROTOC_GEN_GRPC_VERSION := v1.6.2
STATICCHECK_VERSION    := v0.8.2

.PHONY: all build test race lint generate check-generated breaking baseline demo bench bench-lime-loop soak tools python-stubs python-smoke python-client-test

all: build test lint

build:
	$(GO) build -o bin/explainer ./cmd/explainer

## test: every test, with the race detector.
test:
	$(GO) test -race -count=1 ./...

## lint: formatting, vet, staticcheck and buf lint.
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	staticcheck ./...
	buf lint
	buf format --diff --exit-code

## generate: regenerate the Go code from the .proto files (local plugins).
generate:
	buf generate

## python-stubs: regenerate the Python stubs of examples/python and those
## shipped in the Python package clients/python (local plugins: protoc from
## protobuf-compiler, grpc_python_plugin from protobuf-compiler-grpc). The
## package's stubs import each other from inside the package.
PY_CLIENT_GEN := clients/python/explainer_client/_gen
python-stubs:
	buf generate --template examples/python/buf.gen.yaml
	buf generate --template clients/python/buf.gen.yaml --path proto/explainer
	sed -i -e 's/^from explainer\.v1 import/from explainer_client._gen.explainer.v1 import/' \
	  -e "s/'explainer\.v1\.explainer_pb2'/'explainer_client._gen.explainer.v1.explainer_pb2'/" \
	  $(PY_CLIENT_GEN)/explainer/v1/*.py

## python-client-test: the Python package's tests (clients/python/tests):
## unit tests, and tests against sklearn_server.py behind a sidecar built
## from this checkout.
python-client-test:
	cd clients/python && $(PYTHON) -m unittest discover -s tests -v

## python-smoke: start the example Python model servers and check them.
python-smoke:
	$(PYTHON) examples/python/smoke_test.py

## check-generated: fail when the committed generated code (Go, and the
## Python stubs of examples/python and clients/python) is stale.
check-generated: generate python-stubs
	@git diff --exit-code -- proto examples/python/gen $(PY_CLIENT_GEN) || (echo "generated code is stale: run 'make generate python-stubs' and commit"; exit 1)
	@test -z "$$(git status --porcelain -- proto examples/python/gen $(PY_CLIENT_GEN))" || (git status --porcelain -- proto examples/python/gen $(PY_CLIENT_GEN); echo "untracked generated files: run 'make generate python-stubs' and commit"; exit 1)

## breaking: check the API against the committed baseline image.
breaking:
	buf breaking --against proto/baseline.binpb

## baseline: record the current API as the baseline for `make breaking`.
baseline:
	buf build -o proto/baseline.binpb

demo:
	$(GO) run ./cmd/explainer demo

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## bench-lime-loop: lime's own loop over 100 rows against one batch job of
## the sidecar, on the same fake model server (20 ms a call). Needs
## LIME_SRC: a directory holding marcotcr/lime's lime package (not
## installable here: no PyPI).
bench-lime-loop:
	examples/bench/lime_loop.sh

## soak: the built sidecar under concurrent streams, cancellations and
## model server restarts for SOAK_DURATION, then SIGTERM (build tag soak:
## not part of `make test`). SOAK_DURATION=30s for a short run; SOAK_RACE=1
## builds the sidecar with the race detector.
SOAK_DURATION ?= 3m
soak:
	SOAK_RACE=$(SOAK_RACE) $(GO) test -tags soak -run '^TestSoak$$' -count=1 -v -timeout 30m ./cmd/explainer -soak.duration $(SOAK_DURATION)

## tools: install the pinned code generators and linters.
tools:
	$(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	$(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GRPC_VERSION)
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
