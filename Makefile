# make bench: the benchmark suite on a fresh database (see README, "Benchmarks").
.PHONY: build test bench
build:
	go build -o bin/gatehouse ./cmd/gatehouse

test:
	bash scripts/test.sh

bench: build
	bash scripts/postgres.sh
	bin/gatehouse bench
