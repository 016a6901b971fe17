#!/usr/bin/env bash
# Runs every check and test of the project on a fresh machine: formatting, lints, unit and
# black-box tests (which start the real `handler` binary the way the Functions host does).
# Installs what it needs itself; the Rust toolchain is the machine's.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --all-targets --locked
