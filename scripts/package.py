#!/usr/bin/env python3
"""Writes the deployment zip from the file list on stdin (what .funcignore leaves, and the files
to include), keeping the execute bit of `handler`. Refuses to pack anything but what the
platform needs: host.json, the handler, the function folders' function.json, invitations.csv,
and the FILEs named on the command line (the invitation and policy files the settings name).

Usage: git ls-files --cached --others --exclude-from=.funcignore | package.py OUT.zip [FILE]...
"""
import os
import sys
import zipfile

ALLOWED = ("host.json", "handler", "invitations.csv")


def allowed(path, included):
    if path in ALLOWED or path in included:
        return True
    folder, _, name = path.partition("/")
    return name == "function.json" and "/" not in folder


def main():
    out = sys.argv[1]
    included = {os.path.normpath(path) for path in sys.argv[2:]}
    files = sorted({os.path.normpath(line.strip()) for line in sys.stdin
                    if line.strip() and os.path.isfile(line.strip())})
    unexpected = [path for path in files if not allowed(path, included)]
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
