#!/usr/bin/env bash
# Cold start of the release `handler` with every dependency D ms away (see bench/cold_start.py):
#
#   bash bench/cold_start.sh [cold_start.py ARGS...]
#   bash bench/cold_start.sh --smoke    # 1 cold start, 1 burst of 5, D = 20 ms: under 30 s
#
# Builds the release binary (nice -n 10: the machine is shared) unless --binary is given, and
# installs `cryptography` (PyPI, into .tools/venv) when missing. Fails on wrong answers or
# errors only, never on speed.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
ensure_cryptography
args=("$@")
if [ "${1:-}" = --smoke ]; then
  args=(--runs 1 --burst 5 --burst-runs 1 --delay-ms 20 "${@:2}")
fi
case " ${args[*]} " in
  *" --binary "*) ;;
  *) nice -n 10 cargo build --release --locked -q --bin handler ;;
esac
"$python" bench/cold_start.py "${args[@]}"
