#!/usr/bin/env bash
# Builds what `func azure functionapp publish` (or the VS Code extension) deploys: a release
# `handler` for Linux x64 that runs on every Functions Linux image (glibc 2.28 or later), placed
# at the project root as host.json expects, and dist/signup-gate.zip with exactly the files the
# platform needs (what .funcignore leaves).
#
#   bash scripts/build-azure.sh [--include FILE]...
#
# The invitation file and the policy file are app settings (INVITATIONS_FILE, POLICY_FILE),
# unknown at build time: the package takes the ones local.settings.json names (when they exist),
# and every FILE given with --include. Then `handler doctor --package dist/signup-gate.zip` checks
# what was packed.
#
# Uses cargo-zigbuild and zig (from PyPI, installed into .tools/venv when missing), so no
# cross toolchain or extra Rust target has to be downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."

includes=()
while [ $# -gt 0 ]; do
  case $1 in
    --include) includes+=("$2"); shift 2 ;;
    *) echo "usage: bash scripts/build-azure.sh [--include FILE]..." >&2; exit 2 ;;
  esac
done
# The files local.settings.json names, relative to the project root, that exist.
if [ -f local.settings.json ]; then
  while IFS= read -r named; do
    [ -n "$named" ] && [ -f "$named" ] && includes+=("$named")
  done < <(python3 - <<'PY'
import json
values = json.load(open("local.settings.json")).get("Values", {})
lower = {key.lower(): value for key, value in values.items()}
if lower.get("invitation_store", "file").strip().lower() == "file":
    print(str(lower.get("invitations_file") or "invitations.csv").strip())
print(str(lower.get("policy_file") or "").strip())
PY
  )
fi

zig_target=x86_64-unknown-linux-gnu.2.28
rust_target=x86_64-unknown-linux-gnu
if ! command -v cargo-zigbuild >/dev/null || ! python3 -m ziglang version >/dev/null 2>&1; then
  if [ ! -x .tools/venv/bin/cargo-zigbuild ]; then
    echo "== installing ziglang and cargo-zigbuild into .tools/venv"
    python3 -m venv .tools/venv
    .tools/venv/bin/pip install --quiet --disable-pip-version-check ziglang==0.15.1 cargo-zigbuild==0.20.1
  fi
  export PATH="$PWD/.tools/venv/bin:$PATH"
fi

echo "== cargo zigbuild --release --target $zig_target"
cargo zigbuild --release --locked --target "$zig_target"
install -m 0755 "${CARGO_TARGET_DIR:-target}/$rust_target/release/handler" handler

echo "== packaging dist/signup-gate.zip"
mkdir -p dist
rm -f dist/signup-gate.zip
# Everything .funcignore does not exclude, as the publish command would pack it: tracked and
# untracked files, less those its patterns match (git applies them to tracked files only with
# --ignored, hence the difference of two listings).
listing=$(mktemp -d)
git ls-files --cached --others --exclude-from=.funcignore | sort -u > "$listing/all"
git ls-files --cached --others --ignored --exclude-from=.funcignore | sort -u > "$listing/ignored"
{ comm -23 "$listing/all" "$listing/ignored"; printf '%s\n' ${includes[@]+"${includes[@]}"}; } |
  sort -u | python3 scripts/package.py dist/signup-gate.zip ${includes[@]+"${includes[@]}"}
rm -rf "$listing"
echo "built: handler ($(stat -c %s handler) bytes) and dist/signup-gate.zip"
