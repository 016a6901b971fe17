#!/usr/bin/env python3
"""Soak: the release `handler` under load on loopback for SECONDS while the invitation file is
rewritten every second and the Entra key server rotates its signing keys.

Usage: soak.py BINARY SECONDS [ROTATE_SECONDS]   (needs wrk and the `cryptography` package)

Three load streams run at once against OnAttributeCollectionStart, each with a bearer token
signed by the key in use: an address invited in every version of the file (must be admitted),
one never invited (must see the block page), and one invited in every other version (either,
but always a valid answer). The key server publishes the current and the previous key; at every
rotation a new key becomes current and the tokens switch to it, so the handler must fetch the
new set when it first sees the new kid (the harder case: Entra publishes keys ahead of use). (The handler forces that at most once a minute, so rotations
are at least 60 s apart, as Entra's are far more.)

Fails (exit 1) on any error answer or socket error, any wrong action, any admit of the
never-invited address, fewer than half the file versions loaded, the every-other-version address
never admitted or never blocked (so only some versions are ever taken), or RSS growth of 10 % or more after
warm-up (the first fifth of the run). Never on speed.
"""
import base64
import http.server
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import threading
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

TENANT = "aaaabbbb-0000-cccc-1111-dddd2222eeee"
CLIENT = "11112222-bbbb-3333-cccc-4444dddd5555"
EVENTS_APP = "99045fe1-7639-4a75-9d4a-577b6ca3810f"
SEGMENT = 5  # seconds per wrk run; tokens switch between runs
STREAMS = {
    # name: (address, expected action, or None for "either admitted or blocked")
    "invited": ("core@invited.example", "setPrefillValues"),
    "never_invited": ("stranger@elsewhere.example", "showBlockPage"),
    "sometimes_invited": ("flip@invited.example", None),
}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Keys:
    """Signing keys 0, 1, 2, ...: key n is current from rotation n on, published until n + 1."""

    def __init__(self):
        self.keys = [rsa.generate_private_key(public_exponent=65537, key_size=2048)]
        self.current = 0
        self.fetches = 0
        self.lock = threading.Lock()

    def rotate(self):
        with self.lock:
            self.keys.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
            self.current += 1

    def jwks(self):
        with self.lock:
            self.fetches += 1
            first = max(0, self.current - 1)
            published = self.keys[first:self.current + 1]
        def jwk(n, key):
            numbers = key.public_key().public_numbers()
            as_bytes = lambda v: v.to_bytes((v.bit_length() + 7) // 8, "big")
            return {"kty": "RSA", "use": "sig", "kid": f"soak-{n}",
                    "n": b64url(as_bytes(numbers.n)), "e": b64url(as_bytes(numbers.e))}
        return {"keys": [jwk(first + i, key) for i, key in enumerate(published)]}

    def token(self):
        with self.lock:
            n, key = self.current, self.keys[self.current]
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "kid": f"soak-{n}"}
        claims = {"aud": CLIENT, "azp": EVENTS_APP, "tid": TENANT,
                  "iss": f"https://{TENANT}.ciamlogin.com/{TENANT}/v2.0",
                  "iat": now, "nbf": now - 60, "exp": now + 3600}
        signed = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
        return signed + "." + b64url(key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256()))


def key_server(keys):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            port = self.server.server_address[1]
            if self.path.endswith("/.well-known/openid-configuration"):
                body = {"jwks_uri": f"http://127.0.0.1:{port}/keys"}
            elif self.path == "/keys":
                body = keys.jwks()
            else:
                self.send_error(404)
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def write_invitations(path, version):
    rows = ["email,application_id,expires_at,displayName"]
    rows.append(f"core@invited.example,,,Core {version}")
    if version % 2:
        rows.append(f"flip@invited.example,,,Flip {version}")
    rows += [f"filler{version}-{i}@invited.example,,,Filler" for i in range(1000)]
    temporary = path.with_suffix(".tmp")
    temporary.write_text("\n".join(rows) + "\n")
    os.replace(temporary, path)  # a reader sees the old file or the new one


def event_body(address):
    text = lambda value: {"@odata.type": "microsoft.graph.stringDirectoryAttributeValue",
                          "value": value, "attributeType": "builtIn"}
    return json.dumps({
        "type": "microsoft.graph.authenticationEvent.attributeCollectionStart",
        "source": f"/tenants/{TENANT}/applications/a",
        "data": {"@odata.type": "microsoft.graph.onAttributeCollectionStartCalloutData",
                 "tenantId": TENANT,
                 "authenticationContext": {"correlationId": "c", "client": {"ip": "127.0.0.1", "locale": "en-us", "market": "en-us"},
                                           "clientServicePrincipal": {"appId": "a"}, "resourceServicePrincipal": {"appId": "a"},
                                           "user": {"mail": address}},
                 "userSignUpInfo": {"attributes": {"email": text(address)},
                                    "identities": [{"signInType": "email", "issuer": "contoso.onmicrosoft.com", "issuerAssignedId": address}]}},
    })


LUA = r"""
wrk.method = "POST"
wrk.body = [==[%(body)s]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) wrong = 0; admitted = 0; blocked = 0; sample = "" end
function response(status, headers, body)
  if status ~= 200 then wrong = wrong + 1; sample = status .. " " .. body; return end
  if string.find(body, "setPrefillValues", 1, true) or string.find(body, "continueWithDefaultBehavior", 1, true) then
    admitted = admitted + 1
  elseif string.find(body, "showBlockPage", 1, true) then
    blocked = blocked + 1
  else
    wrong = wrong + 1; sample = body
  end
end
function done(summary, latency, requests)
  local w, a, b, s = 0, 0, 0, ""
  for _, t in ipairs(threads) do
    w = w + t:get("wrong"); a = a + t:get("admitted"); b = b + t:get("blocked")
    if t:get("sample") ~= "" then s = t:get("sample") end
  end
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %%d %%d %%d %%d %%d %%.3f %%s\n", summary.requests, errors + summary.errors.status, w, a, b,
    latency:percentile(99) / 1000, s))
end
"""


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def main():
    binary, seconds = sys.argv[1], int(sys.argv[2])
    rotate_every = max(60, int(sys.argv[3])) if len(sys.argv) > 3 else 65
    work = pathlib.Path(tempfile.mkdtemp(prefix="soak-"))
    keys = Keys()
    server = key_server(keys)
    invitations = work / "invitations.csv"
    version = 0
    write_invitations(invitations, version)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"PATH": os.environ["PATH"], "FUNCTIONS_CUSTOMHANDLER_PORT": str(port), "RUST_LOG": "info",
           "INVITATIONS_FILE": str(invitations), "ALLOWED_EMAIL_DOMAINS": "",
           "AUTH_EVENTS_TOKEN_VALIDATION": "jwt", "AUTH_EVENTS_TENANT_ID": TENANT,
           "AUTH_EVENTS_CLIENT_ID": CLIENT,
           "AUTH_EVENTS_AUTHORITY": f"http://127.0.0.1:{server.server_address[1]}"}
    log = open(work / "handler.log", "w")
    handler = subprocess.Popen([binary], env=env, cwd=work, stdout=log, stderr=subprocess.STDOUT)
    failures = []
    try:
        for _ in range(400):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.05)
        stop = threading.Event()

        def rewrite():
            nonlocal version
            while not stop.wait(1.0):
                version += 1
                write_invitations(invitations, version)

        threading.Thread(target=rewrite, daemon=True).start()
        started = time.time()
        next_rotation = started + rotate_every
        totals = {name: [0, 0, 0, 0, 0] for name in STREAMS}
        samples = []  # (elapsed, rss)
        rotations = 0
        while time.time() - started < seconds:
            if time.time() >= next_rotation:
                keys.rotate()
                rotations += 1
                next_rotation += rotate_every
            token = keys.token()
            runs = {}
            for name, (address, _) in STREAMS.items():
                script = work / f"{name}.lua"
                script.write_text(LUA % {"body": event_body(address), "token": token})
                runs[name] = subprocess.Popen(
                    ["wrk", "-t", "1", "-c", "8", "-d", f"{SEGMENT}s", "-s", str(script),
                     f"http://127.0.0.1:{port}/api/OnAttributeCollectionStart"],
                    stdout=subprocess.PIPE, text=True)
            for name, run in runs.items():
                out, _ = run.communicate(timeout=SEGMENT + 30)
                line = next((l for l in out.splitlines() if l.startswith("RESULT ")), None)
                if line is None:
                    failures.append(f"{name}: wrk printed no result: {out[-500:]}")
                    continue
                fields = line.split(" ", 7)
                requests, errors, wrong, admitted, blocked = map(int, fields[1:6])
                for i, value in enumerate([requests, errors, wrong, admitted, blocked]):
                    totals[name][i] += value
                expected = STREAMS[name][1]
                if errors or wrong:
                    failures.append(f"{name}: {errors} error answers, {wrong} wrong; e.g. {fields[7] if len(fields) > 7 else ''}")
                if expected == "showBlockPage" and admitted:
                    failures.append(f"{name}: {admitted} admits of a never-invited address")
                if expected == "setPrefillValues" and blocked:
                    failures.append(f"{name}: {blocked} blocks of an always-invited address")
            samples.append((time.time() - started, rss_kib(handler.pid)))
        stop.set()
        elapsed = time.time() - started
        warm = [rss for at, rss in samples if at >= seconds / 5]
        baseline, final = (warm[0], samples[-1][1]) if warm else (samples[0][1], samples[-1][1])
        growth = (final - baseline) / baseline * 100
        reloads = (work / "handler.log").read_text().count("reloaded ")
        print(f"soak: {elapsed:.0f} s, {rotations} key rotations, {keys.fetches} key-set fetches, "
              f"{version} file versions written, {reloads} reloaded by the handler")
        for name, (requests, errors, wrong, admitted, blocked) in totals.items():
            print(f"  {name:18} {requests:9d} requests ({requests / elapsed:7.0f}/s)  admitted {admitted}  "
                  f"blocked {blocked}  errors {errors}  wrong {wrong}")
        print(f"  RSS after warm-up {baseline} KiB, at the end {final} KiB ({growth:+.1f} %); "
              f"samples: {' '.join(str(rss) for _, rss in samples)}")
        if growth >= 10:
            failures.append(f"RSS grew {growth:.1f} % after warm-up")
        if reloads < version / 2:
            failures.append(f"only {reloads} of {version} file versions were loaded")
        _, _, _, flip_admitted, flip_blocked = totals["sometimes_invited"]
        if version >= 4 and not (flip_admitted and flip_blocked):
            failures.append(f"the address invited in every other version was admitted {flip_admitted} "
                            f"and blocked {flip_blocked} times: only some versions are ever loaded")
        if rotations and keys.fetches < rotations + 1:
            failures.append(f"{rotations} rotations but only {keys.fetches} key-set fetches")
    finally:
        handler.terminate()
        handler.wait(timeout=15)
        server.shutdown()
    for failure in failures:
        print("FAIL:", failure)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
