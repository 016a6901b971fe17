#!/usr/bin/env bash
# Load numbers for the release `handler`, started the way the Functions host starts it and driven
# over loopback only, next to a baseline: a minimal warp server (examples/baseline.rs) answering
# a constant JSON body. Installs its own load generator (wrk, from Debian) when missing.
#
#   bash bench/load.sh [SECONDS] [CONNECTIONS] [ROUNDS]
#
# Prints the binary size, start-up time to the first answered GET /, idle RSS, then for each
# function and round the baseline, the baseline reading the body, the baseline reading it,
# checking it is JSON and logging one line (the floor of any function: BASELINE_WORK in
# examples/baseline.rs) and the function, each sent the function's request (same body, same
# headers): requests/s, p50/p99/p99.9 and the ratio to the baseline. Baseline and function
# take turns, so that a slow spell of the machine hits both; with several rounds the summary
# gives the median ratio and p99 per function. On two or more CPUs the load generator runs on a
# CPU of its own. Every measured request must be answered 2xx with the expected action; the
# script fails otherwise (it never fails on speed: the numbers are for people to read).
#
# Two settings: "dev" switches the Entra caller check off (AUTH_EVENTS_TOKEN_VALIDATION=none, as
# the example settings do); "production" is what Azure runs: the caller check on, each call
# carrying a bearer token signed by a loopback key server's key (bench/keyserver.py), information
# logs on. The summary reports each function in each setting, and Start under production
# settings with telemetry on ("telemetry": decisions and metrics sent to a loopback stand-in for
# Application Insights' ingestion endpoint, bench/ingestion.py; "telemetry-hanging": the same
# endpoint reading every upload and never answering, which must cost a decision nothing).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
duration=${1:-10}
connections=${2:-16}
rounds=${3:-1}

ensure_wrk
ensure_cryptography
cargo build --release --locked -q --bin handler --example baseline
binary=$release/handler
baseline=$release/examples/baseline
pin_server_and_load
placement="wrk with 1 thread on the same cores"
[ ${#load_pin[@]} -gt 0 ] && placement="server on CPUs ${server_pin[2]}, wrk (1 thread) on CPU ${load_pin[2]}"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); $placement"
echo "binary size: $(stat -c %s "$binary") bytes"
python3 bench/startup.py "$binary" 30

work=$(mktemp -d)
pid=""
keyserver=""
ingestion=""
hanging=""
trap 'kill $pid $keyserver $ingestion $hanging 2>/dev/null; rm -rf "$work"' EXIT
python3 bench/make_invitations.py 1000 "$work/invitations.csv"
settings=(BASIC_AUTH_USERNAME=bench BASIC_AUTH_PASSWORD=bench-password
  ALLOWED_EMAIL_DOMAINS=fabrikam.com INVITATIONS_FILE="$work/invitations.csv"
  AUTH_EVENTS_TOKEN_VALIDATION=none)
auth="Basic $(printf 'bench:bench-password' | base64)"
# The production settings: a key server on loopback and a token it signed.
start_keyserver "$work"
bearer="Bearer $token"
python3 bench/ingestion.py >"$work/ingestion" &
ingestion=$!
for _ in $(seq 200); do [ -s "$work/ingestion" ] && break; sleep 0.05; done
telemetry=(APPLICATIONINSIGHTS_CONNECTION_STRING="InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:$(cat "$work/ingestion")/")
python3 bench/ingestion.py --hang >"$work/hanging" &
hanging=$!
for _ in $(seq 200); do [ -s "$work/hanging" ] && break; sleep 0.05; done
telemetry_hanging=(APPLICATIONINSIGHTS_CONNECTION_STRING="InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:$(cat "$work/hanging")/")
production=("${settings[@]}" AUTH_EVENTS_TOKEN_VALIDATION=jwt
  AUTH_EVENTS_TENANT_ID=aaaabbbb-0000-cccc-1111-dddd2222eeee
  AUTH_EVENTS_CLIENT_ID=11112222-bbbb-3333-cccc-4444dddd5555
  AUTH_EVENTS_AUTHORITY="$authority")
event() { # event TYPE DATA_TYPE EMAIL
  printf '{"type":"microsoft.graph.authenticationEvent.%s","source":"/tenants/t/applications/a","data":{"@odata.type":"microsoft.graph.%s","tenantId":"t","authenticationContext":{"correlationId":"c","client":{"ip":"127.0.0.1","locale":"en-us","market":"en-us"},"clientServicePrincipal":{"appId":"a"},"resourceServicePrincipal":{"appId":"a"},"user":{"mail":"%s"}},"userSignUpInfo":{"attributes":{"email":{"@odata.type":"microsoft.graph.stringDirectoryAttributeValue","value":"%s","attributeType":"builtIn"}},"identities":[{"signInType":"email","issuer":"contoso.onmicrosoft.com","issuerAssignedId":"%s"}]}}}' "$1" "$2" "$3" "$3" "$3"
}
connector='{"email":"ada@fabrikam.com","jobTitle":"Engineer","step":"PostAttributeCollection"}'
start=$(event attributeCollectionStart onAttributeCollectionStartCalloutData user2@invited.example)
submit=$(event attributeCollectionSubmit onAttributeCollectionSubmitCalloutData user2@invited.example)
token_event=$(event tokenIssuanceStart onTokenIssuanceStartCalloutData user2@invited.example)

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
# measure LABEL URL BODY [AUTHORIZATION]: prints the line and keeps requests/s in $rps, p99 in
# $p99 and the server's CPU time per request (user + system, microseconds) in $cpu. CPU time per
# request varies less than requests/s when the machine's neighbours are busy.
measure() {
  local line before after
  before=$(cpu_ticks "$pid")
  line=$(wrk_post "$2" "$3" "$duration" "$connections" "${4:-}")
  after=$(cpu_ticks "$pid")
  read -r rps _ p99 _ <<<"$line"
  cpu=$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v r="$rps" -v s="$duration" \
    'BEGIN {printf "%.1f", t * 1e6 / hz / (r * s)}')
  awk '{ if ($5 + $6 > 0) exit 1 }' <<<"$line" || {
    echo "$1: errors or non-2xx answers under load: $line" >&2
    failed=1
  }
  local versus=""
  [ -n "${base_rps:-}" ] && versus=$(printf "  %.2fx baseline" "$(ratio "$rps")")
  echo "$(show_result "$1" <<<"$line")  cpu ${cpu} us/req$versus"
}
# ratio REQUESTS_PER_SECOND: that many requests/s as a fraction of the baseline's ($base_rps).
ratio() { awk -v a="$1" -v b="$base_rps" 'BEGIN {print a / b}'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# serve BINARY [NAME=VALUE...]: stops the server running, if any, and starts BINARY on a fresh
# port with those settings; sets $url.
serve() {
  local server=$1
  shift
  [ -n "$pid" ] && { kill "$pid"; wait "$pid" 2>/dev/null || true; }
  port=$(free_port)
  start_handler "$server" "$port" "$@"
  url="http://127.0.0.1:$port"
}

serve "$binary" "${settings[@]}"
echo "idle RSS: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
check SignUpValidation Continue "$url/api/SignUpValidation" "$connector" "$auth"
check OnAttributeCollectionStart microsoft.graph.attributeCollectionStart.setPrefillValues "$url/api/OnAttributeCollectionStart" "$start"
check OnAttributeCollectionSubmit microsoft.graph.attributeCollectionSubmit.modifyAttributeValues "$url/api/OnAttributeCollectionSubmit" "$submit"
check OnTokenIssuanceStart microsoft.graph.tokenIssuanceStart.provideClaimsForToken "$url/api/OnTokenIssuanceStart" "$token_event"
serve "$binary" "${production[@]}"
check "OnAttributeCollectionStart (production)" microsoft.graph.attributeCollectionStart.setPrefillValues "$url/api/OnAttributeCollectionStart" "$start" "$bearer"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data "$start" "$url/api/OnAttributeCollectionStart")
[ "$code" = 401 ] || { echo "production settings: a call without a token got $code, not 401" >&2; failed=1; }

# ID|FUNCTION|LABEL|BODY|AUTHORIZATION|SETTINGS (dev or production)
functions=(
  "SignUpValidation|SignUpValidation|SignUpValidation (allowed domain)|$connector|$auth|dev"
  "Start|OnAttributeCollectionStart|OnAttributeCollectionStart (invited)|$start||dev"
  "Submit|OnAttributeCollectionSubmit|OnAttributeCollectionSubmit (invited)|$submit||dev"
  "Token|OnTokenIssuanceStart|OnTokenIssuanceStart (invited)|$token_event||dev"
  "Start/production|OnAttributeCollectionStart|OnAttributeCollectionStart (production)|$start|$bearer|production"
  "Submit/production|OnAttributeCollectionSubmit|OnAttributeCollectionSubmit (production)|$submit|$bearer|production"
  "Token/production|OnTokenIssuanceStart|OnTokenIssuanceStart (production)|$token_event|$bearer|production"
  "Start/telemetry|OnAttributeCollectionStart|OnAttributeCollectionStart (production, telemetry)|$start|$bearer|telemetry"
  "Start/telemetry-hanging|OnAttributeCollectionStart|OnAttributeCollectionStart (production, telemetry endpoint hangs)|$start|$bearer|telemetry-hanging"
)
summary=$(mktemp -p "$work")
for round in $(seq "$rounds"); do
  [ "$rounds" -gt 1 ] && echo "round $round of $rounds"
  for entry in "${functions[@]}"; do
    IFS='|' read -r id function label body authorization mode <<<"$entry"
    serve "$baseline"
    base_rps=""
    measure "  baseline, same request" "$url/" "$body" "$authorization"
    base_rps=$rps
    base_cpu=$cpu
    serve "$baseline" BASELINE_WORK=read
    measure "  baseline reading the body" "$url/" "$body" "$authorization"
    read_rps=$rps
    serve "$baseline" BASELINE_WORK=read-check-log
    measure "  baseline reading, checking JSON, logging" "$url/" "$body" "$authorization"
    floor_rps=$rps
    if [ "$mode" = production ]; then
      serve "$binary" "${production[@]}"
    elif [ "$mode" = telemetry ]; then
      serve "$binary" "${production[@]}" "${telemetry[@]}"
    elif [ "$mode" = telemetry-hanging ]; then
      serve "$binary" "${production[@]}" "${telemetry_hanging[@]}"
    else
      serve "$binary" "${settings[@]}"
    fi
    measure "  $label" "$url/api/$function" "$body" "$authorization"
    # ID RATIO P99 READ_RATIO CPU BASELINE_CPU FLOOR_RATIO FUNCTION/FLOOR FUNCTION_RPS
    echo "$id $(ratio "$rps") $p99 $(ratio "$read_rps") $cpu $base_cpu $(ratio "$floor_rps") $(awk -v a="$rps" -v b="$floor_rps" 'BEGIN {print a / b}') $rps" >>"$summary"
  done
done
echo "RSS after the last function's load: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
echo "summary over $rounds round(s), medians. Each ratio is the function's requests/s divided by another"
echo "server's, both sent the function's request in the same round: 'constant' answers a fixed body;"
echo "'floor' reads the body, checks it is JSON and logs one line, the least any function does."
echo "'production': the Entra caller check on, a bearer token on every call, information logs."
# median COLUMN: the median of that column of $summary over the rounds of $id.
median() {
  awk -v f="$id" -v c="$1" '$1 == f {print $c}' "$summary" | sort -g |
    awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
for entry in "${functions[@]}"; do
  id=${entry%%|*}
  printf "  %-28s %7.0f req/s  function/floor %.2fx  function/constant %.2fx  (floor/constant %.2fx, reading alone/constant %.2fx)  p99 %.3f ms  cpu %.1f us/req (constant %.1f)\n" \
    "$id" "$(median 9)" "$(median 8)" "$(median 2)" "$(median 7)" "$(median 4)" "$(median 3)" "$(median 5)" "$(median 6)"
done
exit $failed
