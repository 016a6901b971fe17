#!/usr/bin/env bash
# Proves the Azure deployment build: builds it (scripts/build-azure.sh, with a policy file named
# by the settings so that the packing of named files is exercised), has the packaged handler
# check its own package (`handler doctor --package`: the files the platform and the settings need,
# an x86-64 ELF needing glibc 2.28 at most, its execute bit, built from these committed sources),
# and starts the packaged binary the way the Functions host does: it must answer GET / and a
# SignUpValidation call. Part of the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v curl >/dev/null; then
  apt-get update -qq && apt-get install -y -qq curl >/dev/null
fi

workdir=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  rm -rf "$workdir"
}
trap cleanup EXIT

echo "== the build for Azure, with a policy file named by --include"
policy=deploy-check-policy.toml
printf '[default]\nallowed_domains = ["fabrikam.com"]\n' >"$policy"
trap 'rm -f "$policy"; cleanup' EXIT
bash scripts/build-azure.sh --include "$policy"

echo "== handler doctor --package dist/signup-gate.zip"
# The settings the package is deployed with: the policy file it carries, the table store (the
# package carries no invitation file).
env -i PATH="$PATH" HOME="${HOME:-/tmp}" POLICY_FILE="$policy" INVITATION_STORE=table \
  INVITATIONS_TABLE_ENDPOINT=https://account.table.core.windows.net ALLOWED_EMAIL_DOMAINS=none \
  BASIC_AUTH_USERNAME=check BASIC_AUTH_PASSWORD=check-password-long-enough \
  AUTH_EVENTS_TENANT_ID=00000000-0000-0000-0000-000000000001 AUTH_EVENTS_CLIENT_ID=00000000-0000-0000-0000-000000000002 \
  ./handler doctor --package dist/signup-gate.zip

echo "== the packaged binary starts as the host starts it"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# Unpack as the platform does, keeping the modes recorded in the zip.
python3 - dist/signup-gate.zip "$workdir/app" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as archive:
    for info in archive.infolist():
        path = archive.extract(info, sys.argv[2])
        mode = (info.external_attr >> 16) & 0o777
        if mode:
            os.chmod(path, mode)
PY
(cd "$workdir/app" && exec env -i PATH=/usr/bin:/bin FUNCTIONS_CUSTOMHANDLER_PORT="$port" \
  POLICY_FILE="$policy" BASIC_AUTH_USERNAME=check BASIC_AUTH_PASSWORD=check-password \
  ./handler >"$workdir/log" 2>&1) &
pid=$!
for _ in $(seq 200); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.05
done
curl -sf -o /dev/null "http://127.0.0.1:$port/" || { cat "$workdir/log" >&2; exit 1; }
answer=$(curl -s -u check:check-password -H 'Content-Type: application/json' \
  -d '{"email":"ada@fabrikam.com","jobTitle":"Engineer"}' "http://127.0.0.1:$port/api/SignUpValidation")
expected='{"version":"1.0.0","action":"Continue"}'
[ "$answer" = "$expected" ] || { echo "SignUpValidation answered $answer, expected $expected" >&2; exit 1; }
grep -q "loaded the policy file $policy" "$workdir/log" || { cat "$workdir/log" >&2; exit 1; }
echo "GET / and POST /api/SignUpValidation answered, with the packaged policy file"
echo "deployment checks passed"
