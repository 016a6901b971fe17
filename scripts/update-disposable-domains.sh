#!/usr/bin/env bash
# Writes src/policy/disposable/domains.txt, the list of disposable e-mail domains the handler
# embeds (BLOCK_DISPOSABLE_DOMAINS, docs/policy.md), from the disposable-email-domains project's
# PyPI package at the version pinned below (and the digest of its wheel, so the same version
# always gives the same list). The package goes into its own virtualenv, .tools/disposable-domains.
#
# To take a newer list: set VERSION and SHA256 (`pip download --no-deps disposable-email-domains==X`
# then `pip hash` on the wheel), run this, read the diff of the data file, run the tests, and say
# the new version in docs/policy.md.
#   bash scripts/update-disposable-domains.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGE=disposable-email-domains
VERSION=0.0.293
SHA256=b03e29f3a810a012c200b944ce9ef52ce975da2ea63bcf50d08767bf9e225f8e

venv=.tools/disposable-domains
out=src/policy/disposable/domains.txt

installed() {
  [ -x "$venv/bin/python" ] &&
    [ "$("$venv/bin/python" -c "from importlib import metadata; print(metadata.version('$PACKAGE'))" 2>/dev/null)" = "$VERSION" ]
}
if ! installed; then
  echo "== installing $PACKAGE $VERSION into $venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  requirements="$(mktemp)"
  trap 'rm -f "$requirements"' EXIT
  echo "$PACKAGE==$VERSION --hash=sha256:$SHA256" >"$requirements"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: \
    --no-deps --require-hashes -r "$requirements"
fi

# Written next to the data file and moved over it, so an interrupted run leaves the old list.
PYTHONDONTWRITEBYTECODE=1 "$venv/bin/python" - "$PACKAGE" "$VERSION" >"$out.new" <<'PY'
import re
import sys
from importlib import metadata

package, version = sys.argv[1], sys.argv[2]
if metadata.version(package) != version:
    sys.exit(f"{package} {metadata.version(package)} is installed, not {version}")
from disposable_email_domains import allowlist, blocklist

# What the handler accepts as an entry: a host name of at least two labels, lower case.
domain = re.compile(r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$")
bad = sorted(d for d in blocklist | allowlist if not domain.match(d))
if bad:
    sys.exit(f"entries that are not host names: {bad[:10]}")


def parents(name):
    labels = name.split(".")
    return (".".join(labels[i:]) for i in range(1, len(labels) - 1))


# The handler refuses every subdomain of a listed domain too: an allow-list entry under a listed
# domain is written as an exception (`!domain`), so it stays admitted as upstream means it.
exceptions = sorted(d for d in allowlist if d not in blocklist and any(p in blocklist for p in parents(d)))

files = metadata.files(package) or []
licence = next((f for f in files if f.name.upper().startswith("LICENSE")), None)
notice = licence.read_text(encoding="utf-8").strip().splitlines() if licence else []

print("# Disposable e-mail domains, refused with BLOCK_DISPOSABLE_DOMAINS (docs/policy.md): one domain a")
print("# line, each with its subdomains; `!domain` is an exception. Written by")
print("# scripts/update-disposable-domains.sh: do not edit by hand (a site's own additions and")
print("# exceptions go in DISPOSABLE_DOMAINS_FILE).")
print("#")
print("# source: the disposable-email-domains project,")
print("#   https://github.com/disposable-email-domains/disposable-email-domains")
print("# licence of the list: CC0 1.0 Universal (public domain dedication)")
print(f"# package: {package} {version}")
print(f"# domains: {len(blocklist)}")
print(f"# exceptions: {len(exceptions)}")
print("#")
print(f"# The list is taken from the package {package}, whose packaging carries this notice")
print(f"# (licence: {metadata.metadata(package).get('License-Expression') or metadata.metadata(package).get('License')}):")
for line in notice:
    print(f"#   {line}".rstrip())
for name in sorted(blocklist):
    print(name)
for name in exceptions:
    print(f"!{name}")
PY
mv "$out.new" "$out"
echo "== wrote $out: $PACKAGE $VERSION, $(grep -c '^[a-z0-9]' "$out") domains, $(grep -c '^!' "$out" || true) exceptions"
