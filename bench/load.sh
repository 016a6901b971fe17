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
duration=${1:-10}
connections=${2:-32}

if ! command -v wrk >/dev/null; then
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
cargo build --release --locked -q
binary=target/release/handler
echo "binary size: $(stat -c %s "$binary") bytes"
python3 bench/startup.py "$binary" 30

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
workdir=$(mktemp -d)
env -i PATH="$PATH" FUNCTIONS_CUSTOMHANDLER_PORT="$port" BASIC_AUTH_USERNAME=bench \
  BASIC_AUTH_PASSWORD=bench-password RUST_LOG="${RUST_LOG:-info}" "$PWD/$binary" >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$workdir"' EXIT
for _ in $(seq 200); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.05
done
echo "idle RSS: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"

auth=$(printf 'bench:bench-password' | base64)
for body in '{"email":"ada@fabrikam.com","jobTitle":"Engineer","step":"PostAttributeCollection"}' \
            '{"email":"ada@contoso.com","step":"PostAttributeCollection"}'; do
  cat > "$workdir/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Basic $auth"
done = function(summary, latency, requests)
  io.write(string.format("requests/s %.0f  p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  errors %d non-2xx %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
LUA
  echo "POST /api/SignUpValidation $body"
  wrk -t 2 -c "$connections" -d "${duration}s" -s "$workdir/post.lua" "http://127.0.0.1:$port/api/SignUpValidation" | tail -1
done
echo "RSS after load: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
