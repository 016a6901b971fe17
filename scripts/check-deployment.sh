#!/usr/bin/env bash
# Proves the Azure deployment build: builds it (scripts/build-azure.sh), then checks that the
# binary needs at most glibc 2.28, that it starts the way the Functions host starts it and
# answers GET / and a SignUpValidation call, and that the package holds exactly the expected
# files. Part of the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/build-azure.sh

echo "== glibc symbol versions"
if ! command -v objdump >/dev/null || ! command -v curl >/dev/null; then
  apt-get update -qq && apt-get install -y -qq binutils curl >/dev/null
fi
highest=$(objdump -T handler | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)
echo "highest required glibc: $highest"
if [ "$(printf '%s\n2.28\n' "$highest" | sort -V | tail -1)" != "2.28" ]; then
  echo "handler needs glibc $highest, newer than the 2.28 every Functions Linux image has" >&2
  exit 1
fi

echo "== the packaged binary starts as the host starts it"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
workdir=$(mktemp -d)
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
[ -x "$workdir/app/handler" ] || { echo "handler lost its execute bit in the package" >&2; exit 1; }
(cd "$workdir/app" && exec env -i PATH=/usr/bin:/bin FUNCTIONS_CUSTOMHANDLER_PORT="$port" \
  BASIC_AUTH_USERNAME=check BASIC_AUTH_PASSWORD=check-password ./handler >"$workdir/log" 2>&1) &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$workdir"' EXIT
for _ in $(seq 200); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.05
done
curl -sf -o /dev/null "http://127.0.0.1:$port/" || { cat "$workdir/log" >&2; exit 1; }
answer=$(curl -s -u check:check-password -H 'Content-Type: application/json' \
  -d '{"email":"ada@fabrikam.com","jobTitle":"Engineer"}' "http://127.0.0.1:$port/api/SignUpValidation")
expected='{"version":"1.0.0","action":"Continue"}'
[ "$answer" = "$expected" ] || { echo "SignUpValidation answered $answer, expected $expected" >&2; exit 1; }
echo "GET / and POST /api/SignUpValidation answered"

echo "== package contents"
contents=$(python3 -c 'import zipfile,sys; print("\n".join(sorted(zipfile.ZipFile(sys.argv[1]).namelist())))' dist/signup-gate.zip)
expected_contents=$(printf '%s\n' OnAttributeCollectionStart/function.json OnAttributeCollectionSubmit/function.json OnTokenIssuanceStart/function.json \
  SignUpValidation/function.json handler host.json $( [ -f invitations.csv ] && echo invitations.csv ) | sort)
if [ "$contents" != "$expected_contents" ]; then
  printf 'package holds:\n%s\nexpected:\n%s\n' "$contents" "$expected_contents" >&2
  exit 1
fi
echo "$contents"
echo "deployment checks passed"
