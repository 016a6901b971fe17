#!/usr/bin/env bash
# Load numbers of two or more `handler` builds side by side, interleaved so that a slow spell of
# the machine hits all of them: for each round and request every build is started fresh (as the
# Functions host starts it) and measured in turn, the order reversed every other round.
#
#   bash bench/compare.sh SECONDS CONNECTIONS ROUNDS LABEL=REV_OR_BINARY ...
#   ONLY=SignUpValidation,Start bash bench/compare.sh ...   # these requests only
#
# REV_OR_BINARY is a path to a built handler, or a git revision (a commit, `HEAD`, a tag), which
# is built in release mode from a git worktree under ${TMPDIR:-/tmp}/signup-gate-compare (outside
# this checkout, so that an old revision is its own package), with its build in target/compare;
# `worktree` is the working tree as it is. Requests: SignUpValidation, OnAttributeCollectionStart and Submit with the Entra
# caller check off, and Start and Submit under production settings (caller check on, a token
# from a loopback key server, information logs). Prints every measurement and, per request and
# build, the median [min..max] of requests/s, the median p99 and CPU microseconds per request.
# A build labelled `constant` is the yardstick (`constant=target/release/examples/baseline`,
# the warp server answering a constant body, built by `cargo build --release --example
# baseline`): each other build's requests/s is then also given as a fraction of its, round by
# round (median [min..max]). Fails on any error answer, never on speed.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
duration=$1 connections=$2 rounds=$3
shift 3
ensure_wrk
ensure_cryptography
pin_server_and_load
echo "machine: $(nproc) cores; server on ${server_pin[*]:-any CPU}, wrk on ${load_pin[*]:-any CPU}"

# build LABEL REV_OR_BINARY: sets $built to the binary.
build() {
  local spec=$2
  if [ -x "$spec" ] && [ -f "$spec" ]; then
    built=$(realpath "$spec")
  elif [ "$spec" = worktree ]; then
    cargo build --release --locked -q --bin handler
    built=$(realpath "$release/handler")
  else
    local rev tree
    rev=$(git rev-parse --short "$spec")
    tree=${TMPDIR:-/tmp}/signup-gate-compare/$rev
    [ -d "$tree" ] || git worktree add -q --detach "$tree" "$rev"
    (cd "$tree" && CARGO_TARGET_DIR=$OLDPWD/target/compare cargo build --release --locked -q --bin handler)
    built=$PWD/target/compare/release/handler-$rev
    cp "$PWD/target/compare/release/handler" "$built"
  fi
}
labels=()
binaries=()
for config in "$@"; do
  build "${config%%=*}" "${config#*=}"
  labels+=("${config%%=*}")
  binaries+=("$built")
  echo "${config%%=*}: $built ($(stat -c %s "$built") bytes)"
done

work=$(mktemp -d)
pid=""
keyserver=""
trap 'kill $pid $keyserver 2>/dev/null; rm -rf "$work"' EXIT
python3 bench/make_invitations.py 1000 "$work/invitations.csv"
start_keyserver "$work"
dev=(BASIC_AUTH_USERNAME=bench BASIC_AUTH_PASSWORD=bench-password
  ALLOWED_EMAIL_DOMAINS=fabrikam.com INVITATIONS_FILE="$work/invitations.csv"
  AUTH_EVENTS_TOKEN_VALIDATION=none)
production=("${dev[@]}" AUTH_EVENTS_TOKEN_VALIDATION=jwt
  AUTH_EVENTS_TENANT_ID=aaaabbbb-0000-cccc-1111-dddd2222eeee
  AUTH_EVENTS_CLIENT_ID=11112222-bbbb-3333-cccc-4444dddd5555 AUTH_EVENTS_AUTHORITY="$authority")
auth="Basic $(printf 'bench:bench-password' | base64)"
event() { # event TYPE DATA_TYPE EMAIL
  printf '{"type":"microsoft.graph.authenticationEvent.%s","source":"/tenants/t/applications/a","data":{"@odata.type":"microsoft.graph.%s","tenantId":"t","authenticationContext":{"correlationId":"c","client":{"ip":"127.0.0.1","locale":"en-us","market":"en-us"},"clientServicePrincipal":{"appId":"a"},"resourceServicePrincipal":{"appId":"a"},"user":{"mail":"%s"}},"userSignUpInfo":{"attributes":{"email":{"@odata.type":"microsoft.graph.stringDirectoryAttributeValue","value":"%s","attributeType":"builtIn"}},"identities":[{"signInType":"email","issuer":"contoso.onmicrosoft.com","issuerAssignedId":"%s"}]}}}' "$1" "$2" "$3" "$3" "$3"
}
connector='{"email":"ada@fabrikam.com","jobTitle":"Engineer","step":"PostAttributeCollection"}'
start=$(event attributeCollectionStart onAttributeCollectionStartCalloutData user2@invited.example)
submit=$(event attributeCollectionSubmit onAttributeCollectionSubmitCalloutData user2@invited.example)
# ID|FUNCTION|BODY|AUTHORIZATION|SETTINGS
requests=(
  "SignUpValidation|SignUpValidation|$connector|$auth|dev"
  "Start|OnAttributeCollectionStart|$start||dev"
  "Submit|OnAttributeCollectionSubmit|$submit||dev"
  "Start/production|OnAttributeCollectionStart|$start|Bearer $token|production"
  "Submit/production|OnAttributeCollectionSubmit|$submit|Bearer $token|production"
)
if [ -n "${ONLY:-}" ]; then
  chosen=()
  for entry in "${requests[@]}"; do
    case ",$ONLY," in *",${entry%%|*},"*) chosen+=("$entry") ;; esac
  done
  [ ${#chosen[@]} -gt 0 ] || { echo "ONLY=$ONLY names no request" >&2; exit 2; }
  requests=("${chosen[@]}")
fi
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
summary=$work/summary
failed=0
for round in $(seq "$rounds"); do
  order=$(seq 0 $((${#binaries[@]} - 1)))
  [ $((round % 2)) -eq 0 ] && order=$(seq $((${#binaries[@]} - 1)) -1 0)
  for entry in "${requests[@]}"; do
    IFS='|' read -r id function body authorization mode <<<"$entry"
    for i in $order; do
      [ -n "$pid" ] && { kill "$pid"; wait "$pid" 2>/dev/null || true; }
      port=$(free_port)
      if [ "$mode" = production ]; then
        start_handler "${binaries[$i]}" "$port" "${production[@]}"
        # The first call fetches the keys.
        curl -s -o /dev/null -X POST -H "Authorization: $authorization" --data "$body" "http://127.0.0.1:$port/api/$function"
      else
        start_handler "${binaries[$i]}" "$port" "${dev[@]}"
      fi
      before=$(cpu_ticks "$pid")
      line=$(wrk_post "http://127.0.0.1:$port/api/$function" "$body" "$duration" "$connections" "$authorization")
      after=$(cpu_ticks "$pid")
      read -r rps p50 p99 _ errors non2xx <<<"$line"
      cpu=$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v r="$rps" -v s="$duration" \
        'BEGIN {printf "%.1f", t * 1e6 / hz / (r * s)}')
      [ $((errors + non2xx)) -gt 0 ] && { echo "${labels[$i]} $id: errors or non-2xx: $line" >&2; failed=1; }
      printf "round %d  %-18s %-12s %7d req/s  p50 %6.3f ms  p99 %6.3f ms  cpu %5.1f us/req\n" \
        "$round" "$id" "${labels[$i]}" "$rps" "$p50" "$p99" "$cpu"
      echo "$id ${labels[$i]} $rps $p99 $cpu $round" >>"$summary"
    done
  done
done
echo "summary over $rounds round(s): median [min..max]"
for entry in "${requests[@]}"; do
  id=${entry%%|*}
  for label in "${labels[@]}"; do
    stats() {
      awk -v f="$id" -v l="$label" -v c="$1" '$1 == f && $2 == l {print $c}' "$summary" | sort -g |
        awk '{v[NR] = $1} END {printf "%s [%s..%s]", v[int((NR + 1) / 2)], v[1], v[NR]}'
    }
    printf "  %-18s %-12s req/s %s  p99 ms %s  cpu us/req %s\n" "$id" "$label" "$(stats 3)" "$(stats 4)" "$(stats 5)"
  done
done
if [[ " ${labels[*]} " == *" constant "* ]]; then
  echo "requests/s as a fraction of constant's in the same round: median [min..max]"
  for entry in "${requests[@]}"; do
    id=${entry%%|*}
    for label in "${labels[@]}"; do
      [ "$label" = constant ] && continue
      awk -v f="$id" -v l="$label" '$1 == f && $2 == "constant" {base[$6] = $3}
        $1 == f && $2 == l {mine[$6] = $3}
        END {for (r in mine) if (r in base) print mine[r] / base[r]}' "$summary" | sort -g |
        awk -v f="$id" -v l="$label" '{v[NR] = $1} END {printf "  %-18s %-12s %.2fx [%.2f..%.2f]\n", f, l, v[int((NR + 1) / 2)], v[1], v[NR]}'
    done
  done
fi
exit $failed
