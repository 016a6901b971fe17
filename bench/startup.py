#!/usr/bin/env python3
"""Time from spawning `handler` the way the Functions host does to its first answered `GET /`.

Usage: startup.py BINARY [RUNS]   (prints min / median / max in milliseconds)
The host polls every ~25 ms; this polls as fast as it can so the number is the handler's own.
"""
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answered(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return s.recv(12).startswith(b"HTTP/1.1")
    except OSError:
        return False


def once(binary, extra_env):
    port = free_port()
    env = {"PATH": os.environ.get("PATH", ""), "FUNCTIONS_CUSTOMHANDLER_PORT": str(port),
           "BASIC_AUTH_USERNAME": "bench", "BASIC_AUTH_PASSWORD": "bench-password", "RUST_LOG": "warn"}
    env.update(extra_env)
    with tempfile.TemporaryDirectory() as cwd:
        start = time.perf_counter()
        proc = subprocess.Popen([binary], env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = start + 10
            while not answered(port):
                if proc.poll() is not None or time.perf_counter() > deadline:
                    raise SystemExit("handler did not become ready")
            return (time.perf_counter() - start) * 1000
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def main():
    binary = os.path.abspath(sys.argv[1])
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    extra = dict(item.split("=", 1) for item in sys.argv[3:])
    times = sorted(once(binary, extra) for _ in range(runs))
    print(f"start-up to first GET / over {runs} runs: min {times[0]:.1f} ms, "
          f"median {statistics.median(times):.1f} ms, max {times[-1]:.1f} ms")


if __name__ == "__main__":
    main()
