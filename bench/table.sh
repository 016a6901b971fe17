#!/usr/bin/env bash
# Table Storage numbers against Azurite on loopback: import throughput for N invitations, and
# OnAttributeCollectionStart decision latency with the table store. Installs wrk and Azurite
# (npm ci) when missing.
#
#   bash bench/table.sh [N] [SECONDS] [CONNECTIONS] [DOMAINS]
#
# Invitations are spread over DOMAINS domains (default 1000), i.e. table partitions: Azurite
# scans a partition for every read and write, so one huge partition measures Azurite, not us.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
count=${1:-100000}
duration=${2:-10}
connections=${3:-8}
domains=${4:-1000}

ensure_wrk
[ -x node_modules/.bin/azurite-table ] || npm ci --no-audit --no-fund --loglevel=error
cargo build --release --locked -q
binary=$release/handler
workdir=$(mktemp -d)
azurite_port=$(free_port)
node_modules/.bin/azurite-table --tableHost 127.0.0.1 --tablePort "$azurite_port" --disableTelemetry \
  --location "$workdir/azurite" >/dev/null 2>&1 &
azurite=$!
trap 'kill $azurite 2>/dev/null; rm -rf "$workdir"' EXIT
for _ in $(seq 200); do (echo > /dev/tcp/127.0.0.1/"$azurite_port") 2>/dev/null && break; sleep 0.05; done

key='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
connection="AccountName=devstoreaccount1;AccountKey=$key;TableEndpoint=http://127.0.0.1:$azurite_port/devstoreaccount1"
python3 bench/make_invitations.py "$count" "$workdir/invitations.csv" "$domains"
started=$(date +%s.%N)
INVITATION_STORE=table INVITATIONS_TABLE_CONNECTION="$connection" "$binary" invitations import "$workdir/invitations.csv" 2>/dev/null
finished=$(date +%s.%N)
python3 -c "print(f'import: $count invitations in {$finished - $started:.1f} s = {$count / ($finished - $started):.0f}/s')"

port=$(free_port)
(cd "$workdir" && exec env -i PATH="$PATH" FUNCTIONS_CUSTOMHANDLER_PORT="$port" ALLOWED_EMAIL_DOMAINS= \
  INVITATION_STORE=table INVITATIONS_TABLE_CONNECTION="$connection" AUTH_EVENTS_TOKEN_VALIDATION=none \
  RUST_LOG="${RUST_LOG:-info}" "$binary" >/dev/null 2>&1) &
pid=$!
trap 'kill $pid $azurite 2>/dev/null; rm -rf "$workdir"' EXIT
wait_ready "$port"
for email in "user$((count / 2))@d$((count / 2 % domains)).invited.example" nobody@uninvited.example; do
  body='{"type":"microsoft.graph.authenticationEvent.attributeCollectionStart","data":{"userSignUpInfo":{"identities":[{"signInType":"email","issuerAssignedId":"'$email'"}]}}}'
  echo "POST /api/OnAttributeCollectionStart for $email (table store)"
  wrk_post "http://127.0.0.1:$port/api/OnAttributeCollectionStart" "$body" "$duration" "$connections" | show_result "Start"
done
