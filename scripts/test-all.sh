#!/usr/bin/env bash
# Runs every check eseg has: formatting, clippy with warnings as errors, docs, and all tests
# (unit, property, end-to-end in network namespaces, interop against strongSwan). Needs root for the
# namespace tests.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo doc -D warnings"
RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps --locked --quiet
echo "== cargo test"
cargo test --workspace --locked
