#!/usr/bin/env bash
# Soak the release `handler` (see bench/soak.py): bash bench/soak.sh [SECONDS] [ROTATE_SECONDS]
# Installs wrk (Debian) and cryptography (PyPI, into .tools/venv) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
ensure_wrk
ensure_cryptography
cargo build --release --locked -q --bin handler
"$python" bench/soak.py "$release/handler" "${1:-180}" "${2:-65}"
