#!/usr/bin/env bash
# Invitation-store numbers: load time and RSS with N invitations, and decision latency of
# OnAttributeCollectionStart over loopback with that many loaded. Installs wrk when missing.
#
#   bash bench/invitations.sh [N] [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-1000000}
duration=${2:-10}
connections=${3:-32}

if ! command -v wrk >/dev/null; then
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
cargo build --release --locked -q
binary=$PWD/target/release/handler
workdir=$(mktemp -d)
python3 bench/make_invitations.py "$count" "$workdir/invitations.csv"
echo "invitations: $count ($(stat -c %s "$workdir/invitations.csv") bytes of CSV)"
python3 bench/startup.py "$binary" 5 "INVITATIONS_FILE=$workdir/invitations.csv"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$workdir" && exec env -i PATH="$PATH" FUNCTIONS_CUSTOMHANDLER_PORT="$port" ALLOWED_EMAIL_DOMAINS= \
  RUST_LOG="${RUST_LOG:-info}" "$binary" >/dev/null 2>&1) &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$workdir"' EXIT
for _ in $(seq 400); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.05
done
echo "RSS with $count invitations: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"

for email in user$((count / 2))@invited.example nobody@uninvited.example; do
  cat > "$workdir/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"type":"microsoft.graph.authenticationEvent.attributeCollectionStart","data":{"userSignUpInfo":{"identities":[{"signInType":"email","issuerAssignedId":"$email"}]}}}'
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  io.write(string.format("requests/s %.0f  p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  errors %d non-2xx %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
LUA
  echo "POST /api/OnAttributeCollectionStart for $email"
  wrk -t 2 -c "$connections" -d "${duration}s" -s "$workdir/post.lua" "http://127.0.0.1:$port/api/OnAttributeCollectionStart" | tail -1
done
