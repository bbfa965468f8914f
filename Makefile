# Bizmaat — every set-up step lives here so a fresh Debian machine needs only `make run` and
# `make test`. Each tool step checks what is installed first, so a second run installs nothing.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# Build artefacts live outside the checkout so clean clones (CI) reuse compiled dependencies.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/bizmaat/target
CARGO_LEPTOS_VERSION := 0.3.10
# The CLI must match the wasm-bindgen library version locked in Cargo.lock.
WASM_BINDGEN_VERSION := $(shell awk '/^name = "wasm-bindgen"$$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
HOST ?= 127.0.0.1
PORT ?= 3000
E2E_PORT ?= 3100
IS_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo yes)
SERVER_BIN := $(CARGO_TARGET_DIR)/release/server
# Crates that must never reach the browser bundle.
SERVER_ONLY_CRATES := sqlx|sqlx-core|sqlx-postgres|tokio|axum|reqwest|argon2|jsonwebtoken|async-openai|lettre

.PHONY: bench eval help run watch test tools tools-base tools-leptos tools-browser db lint wasm-deps-check \
        unit-integration e2e site clean-db

help: ## List the targets
	@awk 'BEGIN { FS = ":.*## " } /^[a-z][a-zA-Z_-]+:.*## / { printf "  make %-18s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

# ---------------------------------------------------------------------------------------------
# Tools (each installs only when missing or at the wrong version)

tools-base: node_modules/.package-lock.json
	@rustup target list --installed | grep -qx wasm32-unknown-unknown \
	  || rustup target add wasm32-unknown-unknown
	@# brotli: the site build's precompressed copies of /pkg (a third smaller than gzip). Optional.
	@command -v brotli >/dev/null || { if [ "$(IS_ROOT)" = yes ]; then apt-get install -y brotli >/dev/null 2>&1 || echo "note: brotli could not be installed: /pkg gets gzip copies only" >&2; \
	  else echo "note: brotli is missing (sudo apt-get install brotli): /pkg gets gzip copies only" >&2; fi; }
	@if [ "$$(wasm-bindgen --version 2>/dev/null | awk '{print $$2}')" != "$(WASM_BINDGEN_VERSION)" ]; then \
	  echo "installing wasm-bindgen-cli $(WASM_BINDGEN_VERSION) (about 7 minutes, once)"; \
	  cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION) --force; \
	fi

# Its --locked install works; LTO off makes the install several times faster.
tools-leptos: tools-base
	@if ! cargo leptos --version 2>/dev/null | grep -q "$(CARGO_LEPTOS_VERSION)"; then \
	  echo "installing cargo-leptos $(CARGO_LEPTOS_VERSION) (about 20 minutes, once)"; \
	  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
	    cargo install cargo-leptos@$(CARGO_LEPTOS_VERSION) --locked; \
	fi

# Playwright drives Debian's Chromium and never downloads a browser of its own.
tools-browser:
	@if ! command -v chromium >/dev/null; then \
	  if [ "$(IS_ROOT)" = yes ]; then apt-get install -y chromium; \
	  else echo "Chromium is missing: run  sudo apt-get install chromium" >&2; exit 1; fi; \
	fi

node_modules/.package-lock.json: package.json package-lock.json
	@command -v npm >/dev/null || { \
	  if [ "$(IS_ROOT)" = yes ]; then apt-get install -y nodejs npm; \
	  else echo "Node.js is missing: run  sudo apt-get install nodejs npm" >&2; exit 1; fi; }
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
	@touch $@

tools: tools-base tools-browser ## Install what run and test need (wasm32 target, wasm-bindgen, wasm-opt, Chromium); watch adds cargo-leptos

db: ## Start (or reuse) the local PostgreSQL under .data/ and print its URL
	@.ci/db.sh

clean-db: ## Stop and delete the local PostgreSQL cluster under .data/
	@if [ -f .data/postgres/PG_VERSION ]; then \
	  bindir=$$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1); \
	  if [ "$(IS_ROOT)" = yes ]; then runuser -u $$(stat -c %U .data/postgres) -- $$bindir/pg_ctl -D .data/postgres stop || true; \
	  else $$bindir/pg_ctl -D .data/postgres stop || true; fi; \
	fi
	rm -rf .data

# ---------------------------------------------------------------------------------------------
# Running

# DATABASE_URL when given; otherwise the local cluster's `bizmaat` database.
define database_url
$$( if [ -n "$${DATABASE_URL:-}" ]; then echo "$$DATABASE_URL"; else echo "$$(.ci/db.sh)/$(1)"; fi )
endef

# The release is built with the same plain-cargo recipe as the tests (.ci/site.sh), so a new
# machine serves after about 6 minutes of building instead of also installing cargo-leptos.
run: tools-base ## Build a release and serve the demo shop on http://127.0.0.1:3000
	.ci/site.sh
	@db=$(call database_url,bizmaat); \
	emb=$${EMBEDDINGS_BASE_URL:-$$(.ci/embedder.sh)}; \
	echo; echo "  Bizmaat on http://$(HOST):$(PORT)   demo login: demo@bizmaat.local / demo-shop-2026"; \
	echo "  Semantic search: $${emb:-off (words only)}"; \
	echo "  Email (signup and reset links) appears at http://$(HOST):$(PORT)/dev/mailbox"; echo; \
	APP_ENV=$${APP_ENV:-development} SEED_DEMO=$${SEED_DEMO:-true} DEV_MAILBOX=$${DEV_MAILBOX:-true} \
	  DATABASE_URL="$$db" HOST=$(HOST) PORT=$(PORT) EMBEDDINGS_BASE_URL="$$emb" \
	  LEPTOS_SITE_ROOT=target/site LEPTOS_HASH_FILES=true LEPTOS_OUTPUT_NAME=bizmaat \
	  exec $(SERVER_BIN)

watch: tools-leptos ## Live-reloading development server (cargo leptos watch)
	@db=$(call database_url,bizmaat); \
	APP_ENV=development SEED_DEMO=$${SEED_DEMO:-true} DEV_MAILBOX=$${DEV_MAILBOX:-true} \
	  DATABASE_URL="$$db" HOST=$(HOST) PORT=$(PORT) exec cargo leptos watch

# The agent's scenario suite through the simulator (server/benches/eval.rs): retrieval recall@5,
# orders in the chat, escalation precision/recall, language, grounding against a fake model
# stating wrong prices; with LLM_BASE_URL and LLM_MODEL set, also the real model's pass^k.
eval: ## The agent's scenario suite and its figures (not part of make test)
	@url=$${TEST_DATABASE_URL:-$${DATABASE_URL:-$$(.ci/db.sh)/postgres}}; \
	TEST_DATABASE_URL="$$url" cargo test -p server --bench eval

bench: tools-base ## Storefront req/s and latency against nginx serving the same pages (not a test)
	@for tool in nginx wrk brotli curl python3; do command -v $$tool >/dev/null || missing="$${missing:-} $$tool"; done; \
	if [ -n "$${missing:-}" ]; then \
	  pkgs=$$(echo $$missing | sed 's/nginx/nginx-light/'); \
	  if [ "$(IS_ROOT)" = yes ]; then apt-get install -y $$pkgs; \
	  else echo "missing:$$missing — run  sudo apt-get install $$pkgs" >&2; exit 1; fi; \
	fi
	.ci/site.sh
	.ci/bench.sh

# ---------------------------------------------------------------------------------------------
# Testing

test: tools-base tools-browser ## Format, clippy (server + WASM), WASM dependency check, unit + integration + end-to-end tests
	@$(MAKE) --no-print-directory lint wasm-deps-check unit-integration site e2e
	@echo; echo "== test counts"; cat $(CARGO_TARGET_DIR)/bizmaat-test-counts.txt

lint:
	cargo fmt --all --check
	cargo clippy -p app -p server -p wasm-split-build --all-targets -- -D warnings
	cargo clippy -p frontend --lib --target wasm32-unknown-unknown -- -D warnings

wasm-deps-check: ## Prove the browser bundle carries no server-only crate
	@found=$$(cargo tree -p frontend --target wasm32-unknown-unknown -e normal --prefix none \
	  | awk '{print $$1}' | sort -u | grep -xE '$(SERVER_ONLY_CRATES)' || true); \
	if [ -n "$$found" ]; then echo "server-only crates in the WASM tree: $$found" >&2; exit 1; fi; \
	echo "wasm-deps-check: none of $(SERVER_ONLY_CRATES) in the WASM dependency tree"

unit-integration:
	@url=$${TEST_DATABASE_URL:-$${DATABASE_URL:-$$(.ci/db.sh)/postgres}}; \
	TEST_DATABASE_URL="$$url" cargo test -p app -p server 2>&1 | tee $(CARGO_TARGET_DIR)/bizmaat-cargo-test.log; \
	awk '/^test result:/ { p += $$4; f += $$6; i += $$8 } END { printf "unit + integration: %d passed, %d failed, %d ignored\n", p, f, i }' \
	  $(CARGO_TARGET_DIR)/bizmaat-cargo-test.log > $(CARGO_TARGET_DIR)/bizmaat-test-counts.txt

site: tools-base ## Release build of the site and server with plain cargo (used by the tests)
	.ci/site.sh

# Fresh database per run; the server creates and migrates it, Playwright starts and stops it.
e2e: tools-browser
	@url=$${TEST_DATABASE_URL:-$${DATABASE_URL:-$$(.ci/db.sh)/postgres}}; \
	server=$${url%/*}; \
	psql "$$url" -qc "drop database if exists bizmaat_e2e with (force)" >/dev/null; \
	E2E_DATABASE_URL="$$server/bizmaat_e2e" E2E_PORT=$(E2E_PORT) SERVER_BIN=$(SERVER_BIN) \
	  npx playwright test --config end2end/playwright.config.ts 2>&1 | tee $(CARGO_TARGET_DIR)/bizmaat-e2e.log; \
	grep -E '^\s+[0-9]+ (passed|failed|flaky|skipped)' $(CARGO_TARGET_DIR)/bizmaat-e2e.log \
	  | sed 's/^ */end-to-end: /' | awk '!seen[$$0]++' >> $(CARGO_TARGET_DIR)/bizmaat-test-counts.txt
