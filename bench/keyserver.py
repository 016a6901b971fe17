#!/usr/bin/env python3
"""A loopback Entra key server for benchmarks: serves the OpenID metadata and key set of one
fresh RS256 key, prints "AUTHORITY TOKEN" (a token for the soak's tenant and client, valid for
an hour) on one line, then serves until it is killed.

Usage: keyserver.py   (needs the `cryptography` package; see bench/soak.py for the key server)
"""
import sys
import threading

from soak import CLIENT, TENANT, Keys, key_server


def main():
    keys = Keys()
    server = key_server(keys)
    print(f"http://127.0.0.1:{server.server_address[1]} {keys.token()}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        sys.exit(__doc__)
    assert TENANT and CLIENT
    main()
