#!/usr/bin/env bash
# Runs every check and test of the workspace: formatting, clippy with
# warnings denied, the doc tests, all unit and integration tests (real tansu
# broker processes, real RocksDB directories, real HTTP) with cargo-nextest,
# then the container tests (scripts/itests.sh: a cluster of containers per
# test, broken in the ways operators meet).
#
# The cargo target directory lives outside the checkout so that a fresh clone
# reuses earlier builds (RocksDB and librdkafka take minutes from cold).
set -euo pipefail
cd "$(dirname "$0")/.."

"$(dirname "$0")/setup.sh"
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --doc --locked -q
# Every test but the container ones, which scripts/itests.sh runs next.
cargo nextest run --workspace --locked --no-fail-fast -E 'not package(itests)'
./scripts/itests.sh
