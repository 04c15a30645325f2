# Targets for developers and CI. `make test` is the README's test command.
GO      ?= go
GOBIN   := $(shell $(GO) env GOPATH)/bin
export PATH := $(GOBIN):$(PATH)

BUF_VERSION            := v1.75.0
PROTOC_GEN_GO_VERSION  := v1.36.12
PROTOC_GEN_GRPC_VERSION := v1.6.2
STATICCHECK_VERSION    := v0.8.2

.PHONY: all build test race lint generate check-generated breaking baseline demo bench tools

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

## check-generated: fail when the committed generated code is stale.
check-generated: generate
	@git diff --exit-code -- proto || (echo "generated code is stale: run 'make generate' and commit"; exit 1)
	@test -z "$$(git status --porcelain -- proto)" || (git status --porcelain -- proto; echo "untracked generated files: run 'make generate' and commit"; exit 1)

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

## tools: install the pinned code generators and linters.
tools:
	$(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	$(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GRPC_VERSION)
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
