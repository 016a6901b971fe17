#!/usr/bin/env bash
# Load numbers for the release `handler`, started the way the Functions host starts it and driven
# over loopback only, next to a baseline: a minimal warp server (examples/baseline.rs) answering
# a constant JSON body. Installs its own load generator (wrk, from Debian) when missing.
#
#   bash bench/load.sh [SECONDS] [CONNECTIONS]
#
# Prints the binary size, start-up time to the first answered GET /, idle RSS, then for the
# baseline and each function requests/s, p50/p99/p99.9 and the ratio to the baseline. Every
# measured request must be answered 2xx with the expected action; the script fails otherwise
# (it never fails on speed: the numbers are for people to read).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
duration=${1:-10}
connections=${2:-16}

ensure_wrk
cargo build --release --locked -q --bin handler --example baseline
binary=$release/handler
baseline=$release/examples/baseline
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); wrk with 1 thread on the same cores"
echo "binary size: $(stat -c %s "$binary") bytes"
python3 bench/startup.py "$binary" 30

work=$(mktemp -d)
pid=""
trap 'kill $pid 2>/dev/null; rm -rf "$work"' EXIT
python3 bench/make_invitations.py 1000 "$work/invitations.csv"
settings=(BASIC_AUTH_USERNAME=bench BASIC_AUTH_PASSWORD=bench-password
  ALLOWED_EMAIL_DOMAINS=fabrikam.com INVITATIONS_FILE="$work/invitations.csv"
  AUTH_EVENTS_TOKEN_VALIDATION=none)
auth="Basic $(printf 'bench:bench-password' | base64)"
event() { # event TYPE DATA_TYPE EMAIL
  printf '{"type":"microsoft.graph.authenticationEvent.%s","source":"/tenants/t/applications/a","data":{"@odata.type":"microsoft.graph.%s","tenantId":"t","authenticationContext":{"correlationId":"c","client":{"ip":"127.0.0.1","locale":"en-us","market":"en-us"},"clientServicePrincipal":{"appId":"a"},"resourceServicePrincipal":{"appId":"a"},"user":{"mail":"%s"}},"userSignUpInfo":{"attributes":{"email":{"@odata.type":"microsoft.graph.stringDirectoryAttributeValue","value":"%s","attributeType":"builtIn"}},"identities":[{"signInType":"email","issuer":"contoso.onmicrosoft.com","issuerAssignedId":"%s"}]}}}' "$1" "$2" "$3" "$3" "$3"
}
connector='{"email":"ada@fabrikam.com","jobTitle":"Engineer","step":"PostAttributeCollection"}'
start=$(event attributeCollectionStart onAttributeCollectionStartCalloutData user2@invited.example)
submit=$(event attributeCollectionSubmit onAttributeCollectionSubmitCalloutData user2@invited.example)

failed=0
# check NAME EXPECTED_ACTION URL BODY [AUTHORIZATION]: the answer is the expected one, before
# anything is measured.
check() {
  local answer
  answer=$(curl -s -X POST -H 'Content-Type: application/json' ${5:+-H "Authorization: $5"} --data "$4" "$3")
  if ! grep -q "\"$2\"" <<<"$answer"; then
    echo "$1: expected $2, got: $answer" >&2
    failed=1
  fi
}
# measure LABEL URL BODY [AUTHORIZATION]: prints the line and keeps requests/s in $rps.
measure() {
  local line
  line=$(wrk_post "$2" "$3" "$duration" "$connections" "${4:-}")
  rps=$(awk '{print $1}' <<<"$line")
  awk -v base="${base_rps:-0}" '{ if ($5 + $6 > 0) exit 1 }' <<<"$line" || {
    echo "$1: errors or non-2xx answers under load: $line" >&2
    failed=1
  }
  local ratio=""
  [ -n "${base_rps:-}" ] && ratio=$(awk -v a="$rps" -v b="$base_rps" 'BEGIN {printf "  %.2fx baseline", a / b}')
  echo "$(show_result "$1" <<<"$line")$ratio"
}

port=$(free_port)
start_handler "$baseline" "$port"
base_rps=""
measure "baseline (constant JSON, warp)" "http://127.0.0.1:$port/" "$connector"
base_rps=$rps
kill $pid; wait $pid 2>/dev/null || true

port=$(free_port)
start_handler "$binary" "$port" "${settings[@]}"
echo "idle RSS: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
url="http://127.0.0.1:$port/api"
check SignUpValidation Continue "$url/SignUpValidation" "$connector" "$auth"
check OnAttributeCollectionStart microsoft.graph.attributeCollectionStart.setPrefillValues "$url/OnAttributeCollectionStart" "$start"
check OnAttributeCollectionSubmit microsoft.graph.attributeCollectionSubmit.modifyAttributeValues "$url/OnAttributeCollectionSubmit" "$submit"
measure "SignUpValidation (allowed domain)" "$url/SignUpValidation" "$connector" "$auth"
measure "OnAttributeCollectionStart (invited)" "$url/OnAttributeCollectionStart" "$start"
measure "OnAttributeCollectionSubmit (invited)" "$url/OnAttributeCollectionSubmit" "$submit"
echo "RSS after load: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
exit $failed
