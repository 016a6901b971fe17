#!/usr/bin/env bash
# Load and footprint numbers for the release `handler`, started the way the Functions host starts
# it, driven over loopback only. Installs its own load generator (wrk, from Debian) when missing.
#
#   bash bench/load.sh [SECONDS] [CONNECTIONS]
#
# Prints: release binary size, start-up time to the first answered GET /, idle RSS, and
# requests/s with latency percentiles for POST /api/SignUpValidation (one admitted and one
# blocked body).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
duration=${1:-10}
connections=${2:-32}

ensure_wrk
cargo build --release --locked -q
binary=$PWD/target/release/handler
echo "binary size: $(stat -c %s "$binary") bytes"
python3 bench/startup.py "$binary" 30

port=$(free_port)
env -i PATH="$PATH" FUNCTIONS_CUSTOMHANDLER_PORT="$port" BASIC_AUTH_USERNAME=bench \
  BASIC_AUTH_PASSWORD=bench-password RUST_LOG="${RUST_LOG:-info}" "$binary" >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
wait_ready "$port"
echo "idle RSS: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"

auth="Basic $(printf 'bench:bench-password' | base64)"
for body in '{"email":"ada@fabrikam.com","jobTitle":"Engineer","step":"PostAttributeCollection"}' \
            '{"email":"ada@contoso.com","step":"PostAttributeCollection"}'; do
  echo "POST /api/SignUpValidation $body"
  wrk_post "http://127.0.0.1:$port/api/SignUpValidation" "$body" "$duration" "$connections" "$auth"
done
echo "RSS after load: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
