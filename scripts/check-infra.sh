#!/usr/bin/env bash
# Checks the deployment assets without Azure and without network access: infra/azuredeploy.json
# (the Deploy-to-Azure template) against the settings the handler reads and Flex Consumption's
# rules, the template and its parameters file against Microsoft's ARM schemas
# (tests/infra/arm-schemas), and .github/workflows against GitHub's workflow schema. Part of the
# README's test command. Installs the pinned validators (tests/infra/requirements.txt, binary
# wheels only, from PyPI) into .tools/venv when missing.
#   bash scripts/check-infra.sh
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.tools/venv
requirements=tests/infra/requirements.txt
# True when every name==version line of the requirements file is installed at that version.
installed() {
  [ -x "$venv/bin/python" ] && "$venv/bin/python" - "$requirements" <<'PY'
import sys
from importlib import metadata
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.split("#")[0].strip()
    if line:
        name, version = line.split("==")
        try:
            if metadata.version(name) != version:
                sys.exit(1)
        except metadata.PackageNotFoundError:
            sys.exit(1)
PY
}
if ! installed; then
  echo "== installing the pinned validators ($requirements) into $venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: -r "$requirements"
fi
PYTHONDONTWRITEBYTECODE=1 exec "$venv/bin/python" tests/infra/check_template.py
