#!/usr/bin/env bash
# Invitation-store numbers: load time and RSS with N invitations, and decision latency of
# OnAttributeCollectionStart over loopback with that many loaded. Installs wrk when missing.
#
#   bash bench/invitations.sh [N] [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
count=${1:-1000000}
duration=${2:-10}
connections=${3:-32}

ensure_wrk
cargo build --release --locked -q
binary=$release/handler
workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
python3 bench/make_invitations.py "$count" "$workdir/invitations.csv"
echo "invitations: $count ($(stat -c %s "$workdir/invitations.csv") bytes of CSV)"
python3 bench/startup.py "$binary" 5 "INVITATIONS_FILE=$workdir/invitations.csv"

port=$(free_port)
(cd "$workdir" && exec env -i PATH="$PATH" FUNCTIONS_CUSTOMHANDLER_PORT="$port" ALLOWED_EMAIL_DOMAINS= \
  AUTH_EVENTS_TOKEN_VALIDATION=none RUST_LOG="${RUST_LOG:-info}" "$binary" >/dev/null 2>&1) &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$workdir"' EXIT
wait_ready "$port"
echo "RSS with $count invitations: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"

# user<i> with i % 10 == 2: no application scope, no expiry, attributes to prefill.
for email in "user$((count / 2 / 10 * 10 + 2))@invited.example" nobody@uninvited.example; do
  body='{"type":"microsoft.graph.authenticationEvent.attributeCollectionStart","data":{"userSignUpInfo":{"identities":[{"signInType":"email","issuerAssignedId":"'$email'"}]}}}'
  echo "POST /api/OnAttributeCollectionStart for $email"
  # Measure only the answer meant to be measured.
  answer=$(curl -s -X POST -H 'Content-Type: application/json' --data "$body" "http://127.0.0.1:$port/api/OnAttributeCollectionStart")
  case "$email:$answer" in
    nobody@*showBlockPage*|user*setPrefillValues*) ;;
    *) echo "unexpected answer for $email: $answer" >&2; exit 1 ;;
  esac
  wrk_post "http://127.0.0.1:$port/api/OnAttributeCollectionStart" "$body" "$duration" "$connections" | show_result "Start"
done
