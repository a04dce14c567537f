# aios — build, test and check. `make test` is the command CI runs.
GO          ?= go
BIN         ?= bin
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
export CGO_ENABLED ?= 0

.PHONY: all build test test-race check fmt vet staticcheck tidy demo bench fuzz gpu-test clean

all: build

build:
	$(GO) build -trimpath -o $(BIN)/aios ./cmd/aios

# The whole suite (small ring degrees where a test says -short is not needed,
# real parameters in the end-to-end tests), then the concurrency tests under
# the race detector (which needs cgo). Both run under a throwaway PostgreSQL
# cluster when its server is installed (scripts/with-postgres.sh sets
# AIOS_TEST_POSTGRES), so that the store, ledger, jobs and API suites run on
# both backends; without it those runs skip, saying why.
test:
	./scripts/with-postgres.sh $(GO) test -count=1 -timeout 25m ./...
	$(MAKE) test-race

test-race:
	CGO_ENABLED=1 ./scripts/with-postgres.sh $(GO) test -count=1 -race -short -timeout 15m -run 'Concurrent|Race' ./...

check: fmt vet staticcheck tidy

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) run $(STATICCHECK) ./...

tidy:
	$(GO) mod tidy
	@git diff --exit-code -- go.mod go.sum || (echo "go mod tidy changed go.mod/go.sum"; exit 1)

# The main job on the embedded defaults.
demo: build
	./scripts/demo.sh $(BIN)/aios

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Fuzz every decoder for FUZZTIME each (default 60s).
FUZZTIME ?= 60s
fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

# Static test and benchmark binaries for a GPU machine (which needs no Go):
# copy the repository with .gpu/ there and run scripts/gpu-check.sh from its
# root. .gpu/ is ignored.
gpu-test:
	mkdir -p .gpu
	CGO_ENABLED=0 $(GO) test -c -o .gpu/ ./accel/...
	CGO_ENABLED=0 $(GO) test -c -o .gpu/inference.test ./inference

clean:
	rm -rf $(BIN) .gpu demo-out
