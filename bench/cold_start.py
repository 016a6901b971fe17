#!/usr/bin/env python3
"""Cold start: how long a scaled-from-zero instance takes to answer its first sign-up, and how
many requests it makes to each dependency on the way, with every dependency D ms away.

Usage:
  python3 bench/cold_start.py [--binary LABEL=PATH]... [--runs N] [--burst N] [--burst-runs N]
                              [--delay-ms D] [--json PATH|-]
  bash bench/cold_start.sh ARGS...     (installs `cryptography`, builds the release binary)
  bash bench/cold_start.sh --smoke     (--runs 1 --burst 5 --burst-runs 1 --delay-ms 20; < 30 s)

Needs Python 3.11 and the `cryptography` package (bench/common.sh's ensure_cryptography puts it
in .tools/venv). Without --binary it measures target/release/handler (CARGO_TARGET_DIR is
honoured) as "current".

What one cold start is: the binary is spawned the way the Functions host spawns it (a fresh
empty working directory, an environment holding only the settings below and
FUNCTIONS_CUSTOMHANDLER_PORT), `GET /` is polled as fast as possible (the host polls it and
forwards the waiting request as soon as it answers), and then either one
`OnAttributeCollectionStart` for an invited address is sent on that connection (a single run),
or --burst N of them, each for another invited address, each on a connection of its own (a
burst run). Settings are production's: the Entra caller check on (AUTH_EVENTS_TOKEN_VALIDATION
unset, i.e. jwt) with an RS256 token minted here, and invitations in Table Storage reached with
the platform's managed identity. Three loopback stand-ins answer in place of Azure:

  keys      the tenant's OpenID metadata at <authority>/.well-known/openid-configuration, the
            authority being http://127.0.0.1:<port>/<tenant>/v2.0, whose jwks_uri is
            http://127.0.0.1:<port>/<tenant>/discovery/v2.0/keys (Entra's shape), and that set;
  identity  App Service's managed identity endpoint (IDENTITY_ENDPOINT, IDENTITY_HEADER):
            {"access_token", "expires_on" (Unix seconds, as text), "resource", "token_type",
            "client_id"}, after checking the secret header, resource and api-version;
  table     the Table service's point read, GET <endpoint>/Invitations(PartitionKey='<domain>',
            RowKey='<local part>') with the bearer token: the entity (JSON, odata=nometadata) for
            any address at invited.example, 404 with x-ms-error-code ResourceNotFound otherwise;
            the check that the table answers, GET <endpoint>/Invitations()?$top=1 with the token:
            an empty page; and any request without credentials (what a build that opens its
            connections before it has the token sends): 401 NoAuthenticationInformation.

Each stand-in sits behind its own loopback TCP proxy that delays every connection by D (bytes
the handler sends before then wait for it) and every chunk of traffic by D in each direction,
so that a request and its answer cost 3 D on a new connection and 2 D on a kept one. The
requests are counted by the stand-ins (metadata, key set, identity token, table reads, checks and
requests without credentials) and the connections by the proxies.

Reported per binary: spawn -> port open, spawn -> first answered GET /, spawn -> first answer
(min / median / max), whether each first answer was right (setPrefillValues or
continueWithDefaultBehavior for an invited address; a block, "try again later" included, is
wrong), the warm answer (the same request again on the kept connection, and on a new one), a
not-invited address on the warm process (must be blocked as not invited), and the requests and
connections per dependency up to the first answer (and, in the JSON, up to the end of the run).
A burst run reports how many of the N answers were right, their latency from the moment the
burst was sent, and the same counts. With several --binary, runs are interleaved (the order
reversed every other run) so that a slow spell of the machine hits every binary.

Exit status: 0 when every answer was right, 1 when any answer was wrong or anything failed
(a socket error, a timeout, a non-200 answer, a stand-in receiving a request it should not,
the handler exiting). Never on speed: the numbers are for people.

Not production latency. Everything here is plain http on loopback: it cannot show the TLS
handshakes that production pays on every new connection (1-2 more round trips per new
connection) nor the loading of the platform's trust store, which a warm-up before the first
request would also remove. The figures are benchmark figures for comparing builds, with D
standing in for the distance to each dependency.
"""
import argparse
import asyncio
import json
import os
import pathlib
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.dont_write_bytecode = True  # importing soak must not leave bench/__pycache__ in the tree
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from soak import CLIENT, TENANT, Keys, event_body  # noqa: E402

HOST = "127.0.0.1"
IDENTITY_SECRET = "cold-start-identity-secret"
IDENTITY_CLIENT_ID = "33334444-dddd-5555-eeee-6666ffff7777"
STORAGE_TOKEN = "cold-start-storage-token"
TABLE_ACCOUNT = "gatestore"
TABLE = "Invitations"
INVITED_DOMAIN = "invited.example"
NOT_INVITED = "stranger@elsewhere.example"
FUNCTION = "OnAttributeCollectionStart"
RIGHT_ACTIONS = ("setPrefillValues", "continueWithDefaultBehavior")
# Bounds on every wait.
READY_TIMEOUT = 10.0  # spawn -> GET / answered
REQUEST_TIMEOUT = 15.0  # one request to the handler
READY_ATTEMPTS = 200_000  # connection attempts while waiting for the port
IDLE_TIMEOUT = 10.0  # proxies drained after a handler stops
STOP_TIMEOUT = 10.0  # SIGTERM -> exit, before SIGKILL
COUNTS = ("metadata", "key_set", "identity_token", "table_reads", "table_checks", "table_warm_ups",
          "key_connections", "identity_connections", "table_connections")


def now():
    return time.perf_counter()


class BenchError(Exception):
    """Something other than a wrong answer went wrong."""


# --- HTTP/1.1, just enough for the stand-ins and the host's side ----------------------------

async def read_message_body(reader, headers):
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return body
            body += chunk[:-2]
    length = int(headers.get("content-length", "0"))
    return await reader.readexactly(length) if length else b""


def parse_head(head):
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return lines[0], headers


async def exchange(reader, writer, method, path, headers=(), body=b""):
    """One request on an open connection: (status, headers, body)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}"]
    lines += [f"{name}: {value}" for name, value in headers]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    start_line, answer_headers = parse_head(await reader.readuntil(b"\r\n\r\n"))
    status = int(start_line.split(" ", 2)[1])
    return status, answer_headers, await read_message_body(reader, answer_headers)


class StandIn:
    """A loopback HTTP/1.1 server; `route(method, path, headers)` -> (status, headers, body)."""

    def __init__(self, name, route):
        self.name, self.route = name, route
        self.problems = []  # requests it should never have been sent
        self.open = 0
        self.idle = asyncio.Event()
        self.idle.set()

    async def start(self):
        self.server = await asyncio.start_server(self.serve, HOST, 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def serve(self, reader, writer):
        self.open += 1
        self.idle.clear()
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                start_line, headers = parse_head(head)
                method, target, _ = start_line.split(" ", 2)
                await read_message_body(reader, headers)
                status, extra, body = self.route(method, target, headers)
                lines = [f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}",
                         f"Content-Length: {len(body)}"]
                lines += [f"{name}: {value}" for name, value in extra]
                writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    return
        except ConnectionError:
            return
        finally:
            writer.close()
            self.open -= 1
            if self.open == 0:
                self.idle.set()


# --- The delaying proxy ----------------------------------------------------------------------

class DelayProxy:
    """Forwards loopback connections to `upstream_port`: each connection is established D after
    it was accepted, and each chunk reaches the other side D after it was read (and not before
    the connection is established), in each direction."""

    def __init__(self, upstream_port, delay):
        self.upstream_port, self.delay = upstream_port, delay
        self.connections = 0
        self.open = 0
        self.idle = asyncio.Event()
        self.idle.set()

    async def start(self):
        self.server = await asyncio.start_server(self.handle, HOST, 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def handle(self, client_reader, client_writer):
        loop = asyncio.get_running_loop()
        self.connections += 1
        self.open += 1
        self.idle.clear()
        established = loop.time() + self.delay
        upstream = loop.create_future()

        async def connect():
            await asyncio.sleep(max(0.0, established - loop.time()))
            try:
                upstream.set_result(await asyncio.open_connection(HOST, self.upstream_port))
            except OSError as error:
                upstream.set_exception(error)

        async def pump(reader, writer_of, not_before):
            queue = asyncio.Queue()

            async def read():
                while True:
                    try:
                        data = await reader.read(65536)
                    except (ConnectionError, OSError):
                        data = b""
                    queue.put_nowait((max(loop.time(), not_before) + self.delay, data))
                    if not data:
                        return

            async def write():
                writer = await writer_of()
                while True:
                    at, data = await queue.get()
                    wait = at - loop.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    try:
                        if not data:
                            if writer.can_write_eof():
                                writer.write_eof()
                            return
                        writer.write(data)
                        await writer.drain()
                    except (ConnectionError, OSError, RuntimeError):
                        return

            await asyncio.gather(read(), write())

        async def upstream_writer():
            return (await upstream)[1]

        async def client_writer_of():
            return client_writer

        async def downstream():
            try:
                reader, _ = await upstream
            except OSError:
                return
            await pump(reader, client_writer_of, 0.0)

        connecting = asyncio.ensure_future(connect())
        try:
            await asyncio.gather(pump(client_reader, upstream_writer, established), downstream(),
                                 return_exceptions=True)
        finally:
            await connecting
            client_writer.close()
            if upstream.done() and not upstream.exception():
                upstream.result()[1].close()
            self.open -= 1
            if self.open == 0:
                self.idle.set()


# --- Azure's stand-ins -----------------------------------------------------------------------

def json_answer(status, value, extra=()):
    return status, [("Content-Type", "application/json; charset=utf-8"), *extra], json.dumps(value).encode()


class Azure:
    """The key server, the identity endpoint and the table, each behind its own DelayProxy."""

    def __init__(self, delay):
        self.delay = delay
        self.keys = Keys()
        self.counts = {}

    def count(self, what):
        self.counts[what] += 1

    def reset(self):
        self.counts = {name: 0 for name in ("metadata", "key_set", "identity_token", "table_reads",
                                            "table_checks", "table_warm_ups")}
        for proxy in self.proxies.values():
            proxy.connections = 0
        for stand_in in self.stand_ins.values():
            stand_in.problems.clear()

    def snapshot(self):
        counts = dict(self.counts)
        counts.update({f"{name}_connections": proxy.connections for name, proxy in
                       (("key", self.proxies["keys"]), ("identity", self.proxies["identity"]),
                        ("table", self.proxies["table"]))})
        return counts

    def problems(self):
        return [f"{name}: {problem}" for name, stand_in in self.stand_ins.items()
                for problem in stand_in.problems]

    @property
    def authority(self):
        return f"http://{HOST}:{self.proxies['keys'].port}/{TENANT}/v2.0"

    async def start(self):
        self.stand_ins = {"keys": StandIn("keys", self.keys_route),
                          "identity": StandIn("identity", self.identity_route),
                          "table": StandIn("table", self.table_route)}
        self.proxies = {}
        for name, stand_in in self.stand_ins.items():
            await stand_in.start()
            self.proxies[name] = DelayProxy(stand_in.port, self.delay)
            await self.proxies[name].start()
        self.reset()

    async def idle(self):
        """Waits until no connection is open (the last handler's are torn down)."""
        for server in (*self.proxies.values(), *self.stand_ins.values()):
            await asyncio.wait_for(server.idle.wait(), IDLE_TIMEOUT)

    async def close(self):
        await self.idle()
        for server in (*self.proxies.values(), *self.stand_ins.values()):
            server.server.close()
            await server.server.wait_closed()

    def keys_route(self, method, target, headers):
        path = urllib.parse.urlsplit(target).path
        if method == "GET" and path == f"/{TENANT}/v2.0/.well-known/openid-configuration":
            self.count("metadata")
            return json_answer(200, {
                "issuer": f"https://{TENANT}.ciamlogin.com/{TENANT}/v2.0",
                "authorization_endpoint": f"{self.authority}/oauth2/v2.0/authorize",
                "token_endpoint": f"{self.authority}/oauth2/v2.0/token",
                "jwks_uri": self.authority[: -len("/v2.0")] + "/discovery/v2.0/keys",
                "id_token_signing_alg_values_supported": ["RS256"],
            })
        if method == "GET" and path == f"/{TENANT}/discovery/v2.0/keys":
            self.count("key_set")
            return json_answer(200, self.keys.jwks())
        self.stand_ins["keys"].problems.append(f"unexpected {method} {path}")
        return json_answer(404, {"error": "not_found"})

    def identity_route(self, method, target, headers):
        url = urllib.parse.urlsplit(target)
        query = dict(urllib.parse.parse_qsl(url.query))
        self.count("identity_token")
        wanted = {"resource": "https://storage.azure.com/", "api-version": "2019-08-01",
                  "client_id": IDENTITY_CLIENT_ID}
        if (method, url.path) != ("GET", "/msi/token") or headers.get("x-identity-header") != IDENTITY_SECRET \
                or any(query.get(name) != value for name, value in wanted.items()):
            self.stand_ins["identity"].problems.append(f"refused {method} {url.path} {sorted(query.items())}")
            return json_answer(400, {"error": "invalid_request"})
        expires_on = int(time.time()) + 86_400
        return json_answer(200, {"access_token": STORAGE_TOKEN, "expires_on": str(expires_on),
                                 "resource": "https://storage.azure.com/", "token_type": "Bearer",
                                 "client_id": IDENTITY_CLIENT_ID})

    def table_route(self, method, target, headers):
        url = urllib.parse.urlsplit(target)
        path = urllib.parse.unquote(url.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        prefix = f"/{TABLE_ACCOUNT}/{TABLE}(PartitionKey='"
        if "authorization" not in headers:
            # What the Table service answers a request without credentials (a build that opens
            # its connections ahead of the token sends these); not an entity read.
            self.count("table_warm_ups")
            return json_answer(401, {"odata.error": {"code": "NoAuthenticationInformation"}},
                               [("x-ms-error-code", "NoAuthenticationInformation")])
        if headers.get("authorization") != f"Bearer {STORAGE_TOKEN}":
            self.stand_ins["table"].problems.append("a request with another credential than the managed identity's token")
            return json_answer(403, {"odata.error": {"code": "AuthenticationFailed"}},
                               [("x-ms-error-code", "AuthenticationFailed")])
        if method == "GET" and path == f"/{TABLE_ACCOUNT}/{TABLE}()" and query.get("$top") == "1":
            # The check that the table answers: a query of at most one row.
            self.count("table_checks")
            return 200, [("Content-Type", "application/json;odata=nometadata;streaming=true;charset=utf-8"),
                         ("x-ms-version", "2019-02-02")], json.dumps({"value": []}).encode()
        self.count("table_reads")
        if method != "GET" or not path.startswith(prefix) or "',RowKey='" not in path or not path.endswith("')"):
            self.stand_ins["table"].problems.append(f"unexpected {method} {path}")
            return json_answer(400, {"odata.error": {"code": "InvalidInput"}}, [("x-ms-error-code", "InvalidInput")])
        partition, row = path[len(prefix):-2].split("',RowKey='", 1)
        common = [("x-ms-version", "2019-02-02"), ("x-ms-request-id", "00000000-0000-0000-0000-000000000000")]
        if partition != INVITED_DOMAIN:
            return json_answer(404, {"odata.error": {"code": "ResourceNotFound", "message": {
                "lang": "en-US", "value": "The specified resource does not exist."}}},
                [("x-ms-error-code", "ResourceNotFound"), *common])
        entity = {"PartitionKey": partition, "RowKey": row, "Timestamp": "2026-01-01T00:00:00.0000000Z",
                  "Email": f"{row}@{partition}", "Attributes": json.dumps({"displayName": f"Guest {row}"}),
                  "Enforced": "{}"}
        return 200, [("Content-Type", "application/json;odata=nometadata;streaming=true;charset=utf-8"),
                     ("ETag", "W/\"datetime'2026-01-01T00%3A00%3A00.0000000Z'\""), *common], json.dumps(entity).encode()


# --- One cold start --------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def outcome_of(status, body):
    """(outcome, right) of an answer to Start for an invited address."""
    if status != 200:
        return f"HTTP {status}", False
    try:
        action = json.loads(body)["data"]["actions"][0]["@odata.type"].rsplit(".", 1)[-1]
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return "unreadable answer", False
    if action == "showBlockPage":
        return ("block: try again later" if b"try again" in body.lower() else "block"), False
    return action, action in RIGHT_ACTIONS


class ColdStart:
    def __init__(self, azure, binary, label):
        self.azure, self.binary, self.label = azure, binary, label

    def environment(self, port):
        return {
            "FUNCTIONS_CUSTOMHANDLER_PORT": str(port),
            "RUST_LOG": "info",
            "WEBSITE_SITE_NAME": "signup-gate-bench",
            "BASIC_AUTH_USERNAME": "bench",
            "BASIC_AUTH_PASSWORD": "bench-password",
            "ALLOWED_EMAIL_DOMAINS": "",
            "AUTH_EVENTS_TENANT_ID": TENANT,
            "AUTH_EVENTS_CLIENT_ID": CLIENT,
            "AUTH_EVENTS_AUTHORITY": self.azure.authority,
            "INVITATION_STORE": "table",
            "INVITATIONS_TABLE_ENDPOINT": f"http://{HOST}:{self.azure.proxies['table'].port}/{TABLE_ACCOUNT}",
            "INVITATIONS_TABLE": TABLE,
            "AzureWebJobsStorage__clientId": IDENTITY_CLIENT_ID,
            "IDENTITY_ENDPOINT": f"http://{HOST}:{self.azure.proxies['identity'].port}/msi/token",
            "IDENTITY_HEADER": IDENTITY_SECRET,
        }

    async def run(self, burst):
        await self.azure.idle()
        self.azure.reset()
        token = self.azure.keys.token()
        self.headers = [("Content-Type", "application/json"), ("Authorization", f"Bearer {token}"),
                        ("X-Azure-Functions-InvocationId", "0f9e8d7c-6b5a-4321-9876-543210fedcba")]
        port = free_port()
        result = {"label": self.label, "mode": "burst" if burst else "single", "errors": []}
        if burst:
            result["n"] = burst
        with tempfile.TemporaryDirectory(prefix="cold-start-") as work:
            # The handler's working directory is empty, like a function app root without
            # local.settings.json; its output goes beside it.
            cwd = os.path.join(work, "app")
            os.mkdir(cwd)
            stdout = open(os.path.join(work, "stdout"), "wb")
            stderr = open(os.path.join(work, "stderr"), "wb")
            spawned = now()
            process = subprocess.Popen([self.binary], env=self.environment(port), cwd=cwd,
                                       stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
            connection = None
            try:
                try:
                    connection = await self.wait_ready(process, port, spawned, result)
                    if burst:
                        await self.burst(port, spawned, burst, result)
                    else:
                        await self.single(connection, port, spawned, result)
                except (BenchError, OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as error:
                    result["errors"].append(f"{type(error).__name__}: {error}")
                if process.poll() is not None:
                    result["errors"].append(f"the handler exited with {process.returncode}")
            finally:
                if connection:
                    connection[1].close()
                await self.stop(process, result)
                stdout.close()
                stderr.close()
                warnings = pathlib.Path(work, "stderr").read_text(errors="replace").splitlines()
            result["log_warnings"] = warnings[:5]
            result["log_warning_count"] = len(warnings)
        result["errors"] += self.azure.problems()
        return result

    async def wait_ready(self, process, port, spawned, result):
        """Polls GET / as fast as it can, as the host does (without its ~25 ms pause); the open
        connection that answered is returned."""
        deadline = spawned + READY_TIMEOUT
        for _ in range(READY_ATTEMPTS):
            if process.poll() is not None:
                raise BenchError(f"the handler exited with {process.returncode} before answering GET /")
            if now() > deadline:
                break
            try:
                reader, writer = await asyncio.open_connection(HOST, port)
            except OSError:
                await asyncio.sleep(0)
                continue
            result.setdefault("port_open_ms", (now() - spawned) * 1000)
            try:
                status, _, _ = await asyncio.wait_for(exchange(reader, writer, "GET", "/"), REQUEST_TIMEOUT)
            except (OSError, asyncio.IncompleteReadError):
                writer.close()
                continue
            result["ready_ms"] = (now() - spawned) * 1000
            result["ready_status"] = status
            return reader, writer
        raise BenchError(f"GET / not answered within {READY_TIMEOUT} s")

    async def start(self, connection, address):
        reader, writer = connection
        sent = now()
        status, _, body = await asyncio.wait_for(
            exchange(reader, writer, "POST", f"/api/{FUNCTION}", self.headers, event_body(address).encode()),
            REQUEST_TIMEOUT)
        return sent, now(), status, body

    async def single(self, connection, port, spawned, result):
        address = f"first@{INVITED_DOMAIN}"
        sent, answered, status, body = await self.start(connection, address)
        result["counts_first_answer"] = self.azure.snapshot()
        result["first_answer_ms"] = (answered - spawned) * 1000
        result["first_request_ms"] = (answered - sent) * 1000
        result["outcome"], result["right"] = outcome_of(status, body)
        # Warm: the same request on the kept connection, then on a new one.
        sent, answered, status, body = await self.start(connection, address)
        result["warm_kept_ms"] = (answered - sent) * 1000
        outcome, right = outcome_of(status, body)
        if not right:
            result["errors"].append(f"warm answer on the kept connection: {outcome}")
        fresh = await asyncio.open_connection(HOST, port)
        try:
            sent, answered, status, body = await self.start(fresh, address)
            result["warm_new_ms"] = (answered - sent) * 1000
            outcome, right = outcome_of(status, body)
            if not right:
                result["errors"].append(f"warm answer on a new connection: {outcome}")
            # The stand-in must be able to say no: a not-invited address is blocked as such.
            _, _, status, body = await self.start(fresh, NOT_INVITED)
            outcome, _ = outcome_of(status, body)
            result["not_invited_outcome"] = outcome
            if outcome != "block":
                result["errors"].append(f"a not-invited address got {outcome}, not the block page")
        finally:
            fresh[1].close()
        result["counts_end"] = self.azure.snapshot()

    async def burst(self, port, spawned, n, result):
        began = now()

        async def one(i):
            connection = await asyncio.open_connection(HOST, port)
            try:
                _, answered, status, body = await self.start(connection, f"guest{i}@{INVITED_DOMAIN}")
            finally:
                connection[1].close()
            return answered, outcome_of(status, body)

        answers = await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
        result["counts"] = self.azure.snapshot()
        result["latency_ms"] = sorted((answered - began) * 1000 for answered, _ in
                                      (a for a in answers if not isinstance(a, BaseException)))
        result["spawn_to_last_ms"] = (max(answered for answered, _ in (a for a in answers if not isinstance(a, BaseException))) - spawned) * 1000 \
            if result["latency_ms"] else None
        outcomes = {}
        for answer in answers:
            if isinstance(answer, BaseException):
                result["errors"].append(f"{type(answer).__name__}: {answer}")
                continue
            outcomes[answer[1][0]] = outcomes.get(answer[1][0], 0) + 1
        result["outcomes"] = outcomes
        result["right_count"] = sum(count for outcome, count in outcomes.items() if outcome in RIGHT_ACTIONS)

    async def stop(self, process, result):
        """SIGTERM to the handler this run started (by its pid), SIGKILL if it lingers."""
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(process.wait, STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            result["errors"].append(f"the handler did not stop within {STOP_TIMEOUT} s of SIGTERM; killed")
            process.kill()
            await asyncio.to_thread(process.wait, STOP_TIMEOUT)


# --- Summaries -------------------------------------------------------------------------------

def spread(summary, digits=1):
    if not summary:
        return "-"
    return "/".join(f"{summary[k]:.{digits}f}" for k in ("min", "median", "max"))


def counts_range(runs, key, name):
    """{"min", "max"} of a count over the runs that got that far (None when none did)."""
    values = [run[key][name] for run in runs if key in run]
    return {"min": min(values), "max": max(values)} if values else None


def show_range(counts):
    if counts is None:
        return "-"
    return str(counts["min"]) if counts["min"] == counts["max"] else f"{counts['min']}-{counts['max']}"


def stats(values):
    """{"min", "median", "max", "values"} of a list of milliseconds."""
    if not values:
        return None
    return {"min": min(values), "median": statistics.median(values), "max": max(values), "values": values}


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def summarise(label, singles, bursts):
    summary = {"label": label}
    if singles:
        done = [r for r in singles if "first_answer_ms" in r]
        summary["single"] = {
            "runs": len(singles),
            "right": sum(1 for r in singles if r.get("right")),
            "port_open_ms": stats([r["port_open_ms"] for r in singles if "port_open_ms" in r]),
            "ready_ms": stats([r["ready_ms"] for r in singles if "ready_ms" in r]),
            "first_answer_ms": stats([r["first_answer_ms"] for r in done]),
            "first_request_ms": stats([r["first_request_ms"] for r in done]),
            "warm_kept_ms": stats([r["warm_kept_ms"] for r in singles if "warm_kept_ms" in r]),
            "warm_new_ms": stats([r["warm_new_ms"] for r in singles if "warm_new_ms" in r]),
            "outcomes": {o: sum(1 for r in singles if r.get("outcome", "no answer") == o)
                         for o in sorted({r.get("outcome", "no answer") for r in singles})},
            "counts_first_answer": {name: counts_range(singles, "counts_first_answer", name) for name in COUNTS},
            "counts_end": {name: counts_range(singles, "counts_end", name) for name in COUNTS},
        }
    if bursts:
        latencies = [ms for r in bursts for ms in r.get("latency_ms", [])]
        summary["burst"] = {
            "bursts": len(bursts),
            "n": bursts[0].get("n"),
            "right": [r.get("right_count", 0) for r in bursts],
            "outcomes": [r.get("outcomes", {}) for r in bursts],
            "latency_ms": {"min": min(latencies), "p50": percentile(latencies, 0.5),
                           "p90": percentile(latencies, 0.9), "max": max(latencies)} if latencies else None,
            "spawn_to_last_ms": stats([r["spawn_to_last_ms"] for r in bursts if r.get("spawn_to_last_ms")]),
            "counts": {name: counts_range(bursts, "counts", name) for name in COUNTS},
        }
    return summary


def describe_counts(counts):
    return (f"metadata {counts['metadata']}, key set {counts['key_set']}, identity token "
            f"{counts['identity_token']}, table reads {counts['table_reads']} (+ {counts['table_checks']} "
            f"check(s), {counts['table_warm_ups']} without credentials); connections: keys "
            f"{counts['key_connections']}, identity {counts['identity_connections']}, table "
            f"{counts['table_connections']}")


def table_counts(c):
    """Table requests as shown: point reads / checks that the table answers / without credentials."""
    return f"{c['table_reads']}/{c['table_checks']}/{c['table_warm_ups']}"


def print_tables(summaries, args, out):
    width = max(8, *(len(s["label"]) for s in summaries))
    if any("single" in s for s in summaries):
        print(f"\nsingle cold starts (D = {args.delay_ms:g} ms; times in ms, min/median/max; counts up to the first "
              "answer, min-max over runs)", file=out)
        print(f"{'binary':{width}}  {'runs':>4}  {'port open':>14}  {'GET / answered':>14}  "
              f"{'first answer':>22}  {'right':>5}  {'warm kept':>17}  {'warm new conn':>17}  "
              f"meta keyset ident table r/c/w  conns k/i/t", file=out)
        for s in summaries:
            single = s.get("single")
            if not single:
                continue
            c = {name: show_range(value) for name, value in single["counts_first_answer"].items()}
            print(f"{s['label']:{width}}  {single['runs']:>4}  {spread(single['port_open_ms']):>14}  "
                  f"{spread(single['ready_ms']):>14}  {spread(single['first_answer_ms']):>22}  "
                  f"{single['right']:>2}/{single['runs']:<2}  {spread(single['warm_kept_ms']):>17}  "
                  f"{spread(single['warm_new_ms']):>17}  {c['metadata']:>4} {c['key_set']:>6} "
                  f"{c['identity_token']:>5} {table_counts(c):>11}  "
                  f"{c['key_connections']}/{c['identity_connections']}/{c['table_connections']}", file=out)
        for s in summaries:
            if "single" in s:
                print(f"  {s['label']}: first answers {s['single']['outcomes']}", file=out)
    if any("burst" in s for s in summaries):
        print(f"\nbursts (D = {args.delay_ms:g} ms; N first requests sent when GET / answers; latency from "
              "the burst's start over every request, ms)", file=out)
        print(f"{'binary':{width}}  {'bursts':>6}  {'right':>11}  {'latency min/p50/p90/max':>27}  "
              f"{'spawn->last':>20}  meta keyset ident table r/c/w  conns k/i/t", file=out)
        for s in summaries:
            b = s.get("burst")
            if not b:
                continue
            lat = b["latency_ms"]
            lat_text = "/".join(f"{lat[k]:.0f}" for k in ("min", "p50", "p90", "max")) if lat else "-"
            right = ",".join(str(r) for r in b["right"]) + f" of {b['n']}"
            c = {name: show_range(value) for name, value in b["counts"].items()}
            print(f"{s['label']:{width}}  {b['bursts']:>6}  {right:>11}  {lat_text:>27}  "
                  f"{spread(b['spawn_to_last_ms'], 0):>20}  {c['metadata']:>4} {c['key_set']:>6} "
                  f"{c['identity_token']:>5} {table_counts(c):>11}  "
                  f"{c['key_connections']}/{c['identity_connections']}/{c['table_connections']}", file=out)
        for s in summaries:
            if "burst" in s:
                print(f"  {s['label']}: outcomes per burst {s['burst']['outcomes']}", file=out)


def machine():
    cpus = len(os.sched_getaffinity(0))
    model = ""
    try:
        model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                      if line.startswith("model name")), "")
    except OSError:
        pass
    return {"cpus": cpus, "cpu_model": model, "kernel": platform.release(), "python": platform.python_version()}


def default_binary():
    root = pathlib.Path(__file__).resolve().parent.parent
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", root / "target"))
    if not target.is_absolute():
        target = root / target
    return f"current={target / 'release' / 'handler'}"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", action="append", metavar="LABEL=PATH",
                        help="a handler binary to measure (repeatable; default current=target/release/handler)")
    parser.add_argument("--runs", type=int, default=10, help="single cold starts per binary (default 10)")
    parser.add_argument("--burst", type=int, default=0, metavar="N",
                        help="also cold starts that get N concurrent first requests (default: none)")
    parser.add_argument("--burst-runs", type=int, default=1, help="burst cold starts per binary (default 1)")
    parser.add_argument("--delay-ms", type=float, default=100.0,
                        help="D: added to each connect and each direction, per dependency (default 100)")
    parser.add_argument("--json", metavar="PATH", help="also write every run and the summary as JSON ('-': stdout)")
    args = parser.parse_args()
    if not (0 <= args.runs <= 1000 and 0 <= args.burst <= 1000 and 0 <= args.burst_runs <= 100
            and 0 <= args.delay_ms <= 5000):
        parser.error("--runs 0..1000, --burst 0..1000, --burst-runs 0..100, --delay-ms 0..5000")
    binaries = []
    for spec in args.binary or [default_binary()]:
        label, _, path = spec.partition("=")
        if not path:
            parser.error(f"--binary {spec!r}: expected LABEL=PATH")
        path = os.path.abspath(path)
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            parser.error(f"--binary {label}: {path} is not an executable file (build it: "
                         "nice -n 10 cargo build --release --locked --bin handler)")
        binaries.append((label, path))
    args.binaries = binaries
    return args


def print_run(result, run, out):
    label, errors = result["label"], "; ".join(result["errors"])
    if result["mode"] == "single":
        line = (f"[{label}] cold start {run}: port open {result.get('port_open_ms', float('nan')):.1f} ms, "
                f"GET / {result.get('ready_ms', float('nan')):.1f} ms, first answer "
                f"{result.get('first_answer_ms', float('nan')):.1f} ms ({result.get('outcome', 'none')}), warm "
                f"{result.get('warm_kept_ms', float('nan')):.1f} / {result.get('warm_new_ms', float('nan')):.1f} ms")
        if "counts_first_answer" in result:
            line += f"\n    by the first answer: {describe_counts(result['counts_first_answer'])}"
        if "counts_end" in result:
            line += f"\n    by the end of the run: {describe_counts(result['counts_end'])}"
    else:
        lat = result.get("latency_ms") or [float("nan")]
        line = (f"[{label}] burst {run} of {result.get('n')}: port open {result.get('port_open_ms', float('nan')):.1f} ms, "
                f"right {result.get('right_count', 0)}/{result.get('n')} {result.get('outcomes')}, latency "
                f"min {min(lat):.0f} p50 {percentile(lat, 0.5):.0f} max {max(lat):.0f} ms")
        if "counts" in result:
            line += f"\n    {describe_counts(result['counts'])}"
    if errors:
        line += f"\n    ERRORS: {errors}"
    wrong = result.get("right") is False or (result["mode"] == "burst" and result.get("right_count") != result.get("n"))
    if (errors or wrong) and result.get("log_warnings"):
        line += f"\n    handler warnings/errors ({result['log_warning_count']}): " + \
                "\n      ".join(w[:300] for w in result["log_warnings"][:3])
    print(line, file=out, flush=True)


async def main():
    args = parse_args()
    out = sys.stderr if args.json == "-" else sys.stdout
    azure = Azure(args.delay_ms / 1000)
    await azure.start()
    info = machine()
    print(f"machine: {info['cpus']} CPUs ({info['cpu_model']}), Linux {info['kernel']}, Python {info['python']}", file=out)
    print(f"D = {args.delay_ms:g} ms per connect and per direction for each of keys, identity, table; "
          f"{args.runs} single cold start(s) and {args.burst_runs if args.burst else 0} burst(s) of "
          f"{args.burst} per binary", file=out)
    for label, path in args.binaries:
        print(f"{label}: {path} ({os.path.getsize(path)} bytes)", file=out)
    results = {label: {"single": [], "burst": []} for label, _ in args.binaries}
    for mode, count, burst in (("single", args.runs, 0), ("burst", args.burst_runs if args.burst else 0, args.burst)):
        for run in range(1, count + 1):
            order = args.binaries if run % 2 else list(reversed(args.binaries))
            for label, path in order:
                result = await ColdStart(azure, path, label).run(burst)
                result["run"] = run
                results[label][mode].append(result)
                print_run(result, run, out)
    summaries = [summarise(label, results[label]["single"], results[label]["burst"]) for label, _ in args.binaries]
    print_tables(summaries, args, out)
    everything = [r for label in results for mode in results[label].values() for r in mode]
    errors = sum(1 for r in everything if r["errors"])
    wrong = sum(1 for r in everything if r["mode"] == "single" and not r.get("right")) + \
        sum(r.get("n", 0) - r.get("right_count", 0) for r in everything if r["mode"] == "burst")
    print(f"\n{wrong} wrong first answer(s), {errors} run(s) with errors", file=out)
    await azure.close()
    if args.json:
        document = {"delay_ms": args.delay_ms, "runs": args.runs, "burst": args.burst,
                    "burst_runs": args.burst_runs if args.burst else 0, "machine": info,
                    "binaries": dict(args.binaries), "summary": summaries, "results": results}
        if args.json == "-":
            json.dump(document, sys.stdout, indent=1)
            print()
        else:
            pathlib.Path(args.json).write_text(json.dumps(document, indent=1) + "\n")
    return 1 if wrong or errors else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
