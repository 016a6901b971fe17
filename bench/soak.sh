#!/usr/bin/env bash
# Soak the release `handler` (see bench/soak.py): bash bench/soak.sh [SECONDS] [ROTATE_SECONDS]
# Installs wrk (Debian) and cryptography (PyPI, into .tools/venv) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
ensure_wrk
python=python3
if ! python3 -c 'import cryptography' 2>/dev/null; then
  [ -x .tools/venv/bin/python ] || python3 -m venv .tools/venv
  .tools/venv/bin/python -c 'import cryptography' 2>/dev/null ||
    .tools/venv/bin/pip install -q 'cryptography==48.0.0'
  python=.tools/venv/bin/python
fi
cargo build --release --locked -q --bin handler
"$python" bench/soak.py "$release/handler" "${1:-180}" "${2:-65}"
