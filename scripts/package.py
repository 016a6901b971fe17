#!/usr/bin/env python3
"""Writes the deployment zip from the file list on stdin (what .funcignore leaves), keeping the
execute bit of `handler`. Refuses to pack anything but what the platform needs.

Usage: git ls-files --cached --others --exclude-from=.funcignore | package.py OUT.zip
"""
import os
import sys
import zipfile

ALLOWED = ("host.json", "handler", "invitations.csv")


def allowed(path):
    if path in ALLOWED:
        return True
    folder, _, name = path.partition("/")
    return name == "function.json" and "/" not in folder


def main():
    out = sys.argv[1]
    files = sorted({line.strip() for line in sys.stdin if line.strip() and os.path.isfile(line.strip())})
    unexpected = [path for path in files if not allowed(path)]
    if unexpected:
        sys.exit(f".funcignore lets through files the platform does not need: {', '.join(unexpected)}")
    for required in ("host.json", "handler"):
        if required not in files:
            sys.exit(f"{required} is missing from the package")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            info = zipfile.ZipInfo.from_file(path, path)
            info.compress_type = zipfile.ZIP_DEFLATED
            mode = 0o755 if path == "handler" else 0o644
            info.external_attr = (0o100000 | mode) << 16
            with open(path, "rb") as source:
                archive.writestr(info, source.read())
    for path in files:
        print(f"  {path}")


if __name__ == "__main__":
    main()
