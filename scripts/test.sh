#!/usr/bin/env bash
# Runs every check and test of the project on a fresh machine: formatting, lints, unit and
# black-box tests (which start the real `handler` binary the way the Functions host does, and
# Azurite for the Table Storage tests). Installs what it needs itself (Azurite from the npm lock
# file); the Rust toolchain and Node.js are the machine's.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== npm ci (Azurite, pinned in package-lock.json)"
if ! command -v npm >/dev/null; then
  echo "npm is missing: install Node.js 20 or later" >&2
  exit 1
fi
npm ci --no-audit --no-fund --loglevel=error

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --all-targets --locked

echo "== deployment build and checks (scripts/check-deployment.sh)"
bash scripts/check-deployment.sh
