#!/usr/bin/env bash
# Where OnAttributeCollectionStart spends its time under production settings (the Entra caller
# check on with a minted token, information logs), as `perf` samples it: a release build with
# symbols (in target/profiling), loaded over loopback by wrk while perf records the handler.
#
#   bash bench/profile.sh [SECONDS] [TOP]
#
# Prints the TOP functions by self time and by time including callees. Needs perf (Debian:
# linux-perf) and installs wrk and cryptography like the other bench scripts.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
duration=${1:-10}
top=${2:-25}
command -v perf >/dev/null || { apt-get update -qq && apt-get install -y -qq linux-perf >/dev/null; }
ensure_wrk
ensure_cryptography
export CARGO_TARGET_DIR=$PWD/target/profiling
RUSTFLAGS="-C force-frame-pointers=yes" CARGO_PROFILE_RELEASE_STRIP=none CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
  cargo build --release --locked -q --bin handler
release=$CARGO_TARGET_DIR/release
pin_server_and_load

work=$(mktemp -d)
pid=""
keyserver=""
trap 'kill $pid $keyserver 2>/dev/null; rm -rf "$work"' EXIT
python3 bench/make_invitations.py 1000 "$work/invitations.csv"
start_keyserver "$work"
port=$(free_port)
start_handler "$release/handler" "$port" INVITATIONS_FILE="$work/invitations.csv" \
  ALLOWED_EMAIL_DOMAINS=fabrikam.com AUTH_EVENTS_TOKEN_VALIDATION=jwt \
  AUTH_EVENTS_TENANT_ID=aaaabbbb-0000-cccc-1111-dddd2222eeee \
  AUTH_EVENTS_CLIENT_ID=11112222-bbbb-3333-cccc-4444dddd5555 AUTH_EVENTS_AUTHORITY="$authority"
address=user2@invited.example
start=$(printf '{"type":"microsoft.graph.authenticationEvent.attributeCollectionStart","source":"/tenants/t/applications/a","data":{"@odata.type":"microsoft.graph.onAttributeCollectionStartCalloutData","tenantId":"t","authenticationContext":{"correlationId":"c","client":{"ip":"127.0.0.1","locale":"en-us","market":"en-us"},"clientServicePrincipal":{"appId":"a"},"resourceServicePrincipal":{"appId":"a"}},"userSignUpInfo":{"attributes":{"email":{"@odata.type":"microsoft.graph.stringDirectoryAttributeValue","value":"%s","attributeType":"builtIn"}},"identities":[{"signInType":"email","issuer":"contoso.onmicrosoft.com","issuerAssignedId":"%s"}]}}}' "$address" "$address")
# Warm up (the first call fetches the keys), then record while loading.
wrk_post "http://127.0.0.1:$port/api/OnAttributeCollectionStart" "$start" 1 16 "Bearer $token" >/dev/null
perf record -F 2999 --call-graph fp -o "${PERF_DATA:-$work/perf.data}" -p "$pid" -- sleep "$duration" 2>/dev/null &
recorder=$!
line=$(wrk_post "http://127.0.0.1:$port/api/OnAttributeCollectionStart" "$start" "$duration" 16 "Bearer $token")
wait $recorder
show_result "OnAttributeCollectionStart (production)" <<<"$line"
echo "== top $top by self time"
perf report -i "${PERF_DATA:-$work/perf.data}" --no-children --sort symbol --stdio -g none 2>/dev/null |
  grep -v '^#' | grep -v '^$' | sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//' | head -n "$top"
echo "== top $top including callees"
perf report -i "${PERF_DATA:-$work/perf.data}" --children --sort symbol --stdio -g none 2>/dev/null |
  grep -v '^#' | grep -v '^$' | sed -E 's/[[:space:]]+$//' | head -n "$top"
