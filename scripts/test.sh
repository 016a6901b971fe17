#!/usr/bin/env bash
# Runs every check and test of the project on a fresh machine: formatting, lints, unit, property
# and black-box tests (which start the real `handler` binary the way the Functions host does, and
# Azurite for the Table Storage tests), the deployment build, the offline checks of the Azure
# template and the GitHub workflows, and short runs of the fuzz targets, the load benchmark and
# the soak. Installs what it needs itself (Azurite from the npm lock file,
# cargo-fuzz from crates.io, wrk from Debian, Python packages from PyPI into .tools); the Rust
# toolchain, Node.js and Python are the machine's. The short runs fail only on wrong answers,
# findings or errors, never on speed.
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
cargo fmt --manifest-path fuzz/Cargo.toml -- --check

echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --all-targets --locked

echo "== deployment build and checks (scripts/check-deployment.sh)"
bash scripts/check-deployment.sh

echo "== Azure template and GitHub workflows, offline (scripts/check-infra.sh)"
bash scripts/check-infra.sh

echo "== fuzz smoke: every target for 15 s (scripts/fuzz.sh)"
bash scripts/fuzz.sh 15

echo "== load smoke: baseline and each function for 2 s, one round (bench/load.sh)"
bash bench/load.sh 2 8

echo "== soak smoke: 70 s with a key rotation and a file rewrite every second (bench/soak.sh)"
bash bench/soak.sh 70 60
