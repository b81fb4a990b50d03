# The two quick-start commands are `make run` and `make test`; everything they need is
# installed by scripts/setup.sh (idempotent).
.PHONY: run test setup models lint bench bench-local

run: ## build and start the gateway (demo upstream unless UPSTREAM/MODEL or CONFIG are given)
	./scripts/run.sh

test: ## the whole test suite
	./scripts/test.sh

setup: ## install what the project needs (idempotent)
	./scripts/setup.sh

models: ## the embedding model and the test fixtures (idempotent; offline once fetched)
	./scripts/models.sh

lint: ## formatting and clippy, as CI runs them
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	python3 scripts/module_cycles.py --check

bench: ## gateway and streaming benchmarks (see bench/README.md)
	./bench/setup.sh
	cargo build --release --locked --bins
	./bench/gateway.sh
	./bench/stream.sh

bench-local: ## local engine benchmarks: generation vs llama-cpp-python, embeddings vs PyTorch
	./bench/local.sh
