#!/usr/bin/env python3
"""A loopback stand-in for Application Insights' ingestion endpoint, for benchmarks: accepts
every upload (POST .../v2/track, a gzip'd JSON array of envelopes), answers as the service
does, counts the items it received, prints its port on one line, and serves until killed.
With --hang it reads each upload and never answers (an endpoint that hangs).

Usage: ingestion.py [--hang]
"""
import gzip
import http.server
import json
import sys
import threading


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    received = 0
    lock = threading.Lock()
    hang = False
    # Held open uploads of a hanging endpoint are released when the process is killed.
    never = threading.Event()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            body = gzip.decompress(body)
        items = len(json.loads(body or b"[]"))
        with Handler.lock:
            Handler.received += items
        if Handler.hang:
            Handler.never.wait()
            return
        answer = json.dumps({"itemsReceived": items, "itemsAccepted": items, "errors": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    if sys.argv[1:] == ["--hang"]:
        Handler.hang = True
    elif len(sys.argv) > 1:
        sys.exit(__doc__)
    main()
