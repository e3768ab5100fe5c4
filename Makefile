# Renga's tasks. `make test` is what CI and the README run.
#
# Pinned tool versions run with `go run pkg@version`, so they stay out of go.mod.
STATICCHECK   := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOLANGCI_LINT := github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
FUZZTIME      ?= 30s
BENCHCOUNT    ?= 6
KERNEL        := ./miner/internal/kernel/

# Signatures are verified by Bitcoin Core's libsecp256k1 (through cgo) when
# its library is installed (Debian: libsecp256k1-dev and pkg-config), and by
# the pure-Go verifier otherwise; set CGO_ENABLED to choose. The race
# detector needs cgo: without the library it runs the pure-Go build by tag.
HAVE_SECP := $(shell pkg-config --exists libsecp256k1 2>/dev/null && echo yes)
ifeq ($(HAVE_SECP),yes)
export CGO_ENABLED ?= 1
RACE_TAGS :=
else
export CGO_ENABLED ?= 0
RACE_TAGS := -tags purego
endif

.PHONY: all build test race fuzz bench compare lint generate check-generated devnet

all: build

## build: compile everything and put the renga binary in bin/
build:
	go build ./...
	cd fuzz && go build ./...
	go build -o bin/renga ./cmd/renga

## devnet: four nodes on this machine that find each other on lo, mine and pay each other,
## shown live until Ctrl-C (e.g. make devnet DEVNET_FLAGS="-n 6 --fresh")
DEVNET_FLAGS ?= -n 4
devnet:
	go run ./cmd/renga devnet $(DEVNET_FLAGS)

## test: every test of both modules (the main module and fuzz/)
test:
	go test -timeout 20m ./...
	cd fuzz && go test -timeout 20m ./...

## race: the main module's tests under the race detector (-short: the
## end-to-end tests, which run nodes as processes the detector cannot see
## into, are left to make test)
race:
	CGO_ENABLED=1 go test -race -short $(RACE_TAGS) -timeout 30m ./...

## fuzz: every fuzz target for FUZZTIME each (e.g. make fuzz FUZZTIME=30s)
fuzz:
	FUZZTIME=$(FUZZTIME) .ci/fuzz-all

## bench: every benchmark, BENCHCOUNT times, in benchstat's format
bench:
	go test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) ./... | tee bench.txt

## compare: Renga and btcd side by side on the same bytes (medians of 5 runs),
## the import with both signature verifiers (libsecp256k1 and pure Go)
compare:
	cd fuzz && go run ./compare -count 5 -purego

## lint: gofmt, go vet, staticcheck and golangci-lint on both modules
lint:
	@test -z "$$(gofmt -l .)" || { echo "gofmt would change:"; gofmt -l .; exit 1; }
	go vet ./...
	cd fuzz && go vet ./...
	cd miner/internal/kernel/_asm && go vet ./...
	go run $(STATICCHECK) ./...
	cd fuzz && go run $(STATICCHECK) ./...
	go run $(GOLANGCI_LINT) run ./...
	cd fuzz && go run $(GOLANGCI_LINT) run ./...

## generate: regenerate the kernels' assembly with avo
generate:
	go generate $(KERNEL)

## check-generated: fail if the committed assembly is not what the generator writes
check-generated: generate
	@git diff --exit-code -- miner/internal/kernel || \
		{ echo "generated assembly is stale: run make generate and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- miner/internal/kernel)" || \
		{ echo "make generate left untracked files:"; git status --porcelain -- miner/internal/kernel; exit 1; }
