#!/usr/bin/env python3
"""Instructions, heap allocations and bytes allocated per request, counted by valgrind: numbers
that do not move with the machine's neighbours (requests/s on a shared machine move by 10-20 %
from one run to the next, and this machine's virtual CPUs expose no hardware counters to perf).

Usage:
  python3 bench/instructions.py [--function NAME] [--requests N] [--repeat R] LABEL=BINARY...

Each binary is started the way the Functions host starts it (settings in the environment only,
the Entra caller check off, the file store with 1,000 invitations, information logs to
/dev/null), under valgrind twice for callgrind (instructions) and twice for DHAT (allocations):
once answering N requests and once 2 N, one after the other on one kept connection. The
difference between the two runs, divided by N, is what one more request costs, start-up and
shutdown cancelling out. The instruction count moves by a few per cent from one pair of runs to
the next (the runtime's threads wake and park differently), so the pair is run R times (default
3) and the median and range are given; the allocation counts do not move. Every answer must be
a 200 with the expected action.

This is user-space work only (the kernel's part of a request, sending and receiving on loopback,
is not counted) and a request at a time (no load: wake-ups and batching under load differ); it
is for comparing builds and finding where a request's work goes, next to the requests/s of
bench/compare.sh, not instead of them. Valgrind's virtual CPU has no SHA extensions, so SHA-256
runs in software here: the Basic check's two digests count about 7,000 instructions that are a
few hundred on the hardware. Needs valgrind (Debian: valgrind).
"""
import argparse
import base64
import os
import pathlib
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HOST = "127.0.0.1"
USER, PASSWORD = "bench", "bench-password"
START_TIMEOUT = 120.0  # valgrind starts slowly
STOP_TIMEOUT = 120.0
REQUEST_TIMEOUT = 30.0

CONNECTOR = b'{"email":"ada@fabrikam.com","jobTitle":"Engineer","step":"PostAttributeCollection"}'


def entra_event(kind, data_type, email):
    return ('{"type":"microsoft.graph.authenticationEvent.%s","source":"/tenants/t/applications/a",'
            '"data":{"@odata.type":"microsoft.graph.%s","tenantId":"t","authenticationContext":'
            '{"correlationId":"c","client":{"ip":"127.0.0.1","locale":"en-us","market":"en-us"},'
            '"clientServicePrincipal":{"appId":"a"},"resourceServicePrincipal":{"appId":"a"},'
            '"user":{"mail":"%s"}},"userSignUpInfo":{"attributes":{"email":{"@odata.type":'
            '"microsoft.graph.stringDirectoryAttributeValue","value":"%s","attributeType":"builtIn"}},'
            '"identities":[{"signInType":"email","issuer":"contoso.onmicrosoft.com","issuerAssignedId":'
            '"%s"}]}}}' % (kind, data_type, email, email, email)).encode()


# NAME: (body, expected action in the answer)
FUNCTIONS = {
    "SignUpValidation": (CONNECTOR, b'"Continue"'),
    "OnAttributeCollectionStart": (
        entra_event("attributeCollectionStart", "onAttributeCollectionStartCalloutData",
                    "user2@invited.example"), b"setPrefillValues"),
    "OnAttributeCollectionSubmit": (
        entra_event("attributeCollectionSubmit", "onAttributeCollectionSubmitCalloutData",
                    "user2@invited.example"), b"modifyAttributeValues"),
}


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def invitations(path):
    """The invitations bench/compare.sh and bench/load.sh use."""
    maker = pathlib.Path(__file__).resolve().parent / "make_invitations.py"
    subprocess.run([sys.executable, str(maker), "1000", path], check=True)


def read_answer(stream):
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = stream.recv(4096)
        if not chunk:
            raise RuntimeError("the connection closed before an answer")
        head += chunk
    head, _, body = head.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
    while len(body) < length:
        chunk = stream.recv(4096)
        if not chunk:
            raise RuntimeError("the connection closed inside an answer")
        body += chunk
    return head.split(b" ", 2)[1], body


def send(port, function, count):
    body, expected = FUNCTIONS[function]
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    request = (f"POST /api/{function} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
               f"Authorization: Basic {auth}\r\n"
               "X-Azure-Functions-InvocationId: 0f9e8d7c-6b5a-4321-9876-543210fedcba\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    with socket.create_connection((HOST, port), timeout=REQUEST_TIMEOUT) as stream:
        for _ in range(count):
            stream.sendall(request)
            status, answer = read_answer(stream)
            if status != b"200" or expected not in answer:
                raise RuntimeError(f"unexpected answer {status!r}: {answer[:200]!r}")


def wait_ready(port, process):
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the handler exited with {process.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=1) as stream:
                stream.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if stream.recv(12).startswith(b"HTTP/1.1"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the handler did not become ready")


def measure(binary, tool, function, count, work):
    """Runs the binary under valgrind's `tool`, sends `count` requests, stops it: the tool's total."""
    port = free_port()
    out = os.path.join(work, f"{tool}.out")
    env = {"PATH": os.environ.get("PATH", ""), "FUNCTIONS_CUSTOMHANDLER_PORT": str(port),
           "RUST_LOG": "info", "BASIC_AUTH_USERNAME": USER, "BASIC_AUTH_PASSWORD": PASSWORD,
           "ALLOWED_EMAIL_DOMAINS": "fabrikam.com", "AUTH_EVENTS_TOKEN_VALIDATION": "none",
           "INVITATIONS_FILE": os.path.join(work, "invitations.csv")}
    options = {"callgrind": [f"--callgrind-out-file={out}"],
               "dhat": [f"--dhat-out-file={out}"]}[tool]
    log = os.path.join(work, f"{tool}.log")
    with open(log, "wb") as errors:
        process = subprocess.Popen(["valgrind", f"--tool={tool}", *options, binary], env=env, cwd=work,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors)
        try:
            wait_ready(port, process)
            send(port, function, count)
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT)
    text = pathlib.Path(log).read_text(errors="replace")
    if tool == "callgrind":
        found = re.search(r"Collected : ([\d]+)", text) or re.search(r"I\s+refs:\s+([\d,]+)", text)
        return {"instructions": int(found.group(1).replace(",", ""))}
    found = re.search(r"Total:\s+([\d,]+) bytes in ([\d,]+) blocks", text)
    return {"bytes": int(found.group(1).replace(",", "")), "allocations": int(found.group(2).replace(",", ""))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--function", default="SignUpValidation", choices=sorted(FUNCTIONS))
    parser.add_argument("--requests", type=int, default=2000, help="N (default 2000)")
    parser.add_argument("--repeat", type=int, default=3, help="R: pairs of callgrind runs (default 3)")
    parser.add_argument("binaries", nargs="+", metavar="LABEL=BINARY")
    args = parser.parse_args()
    if not 100 <= args.requests <= 100_000 or not 1 <= args.repeat <= 20:
        parser.error("--requests 100..100000, --repeat 1..20")
    print(f"{args.function}: per request, from runs of {args.requests} and {2 * args.requests} requests")
    for spec in args.binaries:
        label, _, binary = spec.partition("=")
        binary = os.path.abspath(binary)
        with tempfile.TemporaryDirectory(prefix="instructions-") as work:
            invitations(os.path.join(work, "invitations.csv"))
            def per_request(tool):
                one = measure(binary, tool, args.function, args.requests, work)
                two = measure(binary, tool, args.function, 2 * args.requests, work)
                return {name: (two[name] - one[name]) / args.requests for name in one}
            counts = sorted(per_request("callgrind")["instructions"] for _ in range(args.repeat))
            heap = per_request("dhat")
        print(f"  {label:14} instructions {statistics.median(counts):7.0f} [{counts[0]:.0f}..{counts[-1]:.0f}]  "
              f"allocations {heap['allocations']:5.1f}  bytes allocated {heap['bytes']:6.0f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
