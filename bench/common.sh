# Shared by the bench scripts (sourced, not run).

# Installs wrk from Debian when it is missing.
ensure_wrk() {
  if ! command -v wrk >/dev/null; then
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
  fi
}

# Sets $python to a Python that has the `cryptography` package, installing it (PyPI, into
# .tools/venv) when missing.
ensure_cryptography() {
  python=python3
  if ! python3 -c 'import cryptography' 2>/dev/null; then
    [ -x .tools/venv/bin/python ] || python3 -m venv .tools/venv
    .tools/venv/bin/python -c 'import cryptography' 2>/dev/null ||
      .tools/venv/bin/pip install -q 'cryptography==48.0.0'
    python=.tools/venv/bin/python
  fi
}

# start_keyserver DIR: starts the loopback key server (bench/keyserver.py, with $python from
# ensure_cryptography), its pid in $keyserver; reads its authority and a token it signed into
# $authority and $token.
start_keyserver() {
  "$python" bench/keyserver.py >"$1/keyserver" &
  keyserver=$!
  for _ in $(seq 200); do [ -s "$1/keyserver" ] && break; sleep 0.05; done
  read -r authority token <"$1/keyserver"
}

# A free loopback port.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits (at most ~20 s) until GET / on the port answers, as the Functions host does.
wait_ready() {
  for _ in $(seq 400); do
    curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
    sleep 0.05
  done
  echo "handler on port $1 did not become ready" >&2
  return 1
}

# wrk_post URL BODY SECONDS CONNECTIONS [AUTHORIZATION]: one line
# "requests/s p50_ms p99_ms p99.9_ms errors non-2xx".
wrk_post() {
  local url=$1 body=$2 seconds=$3 connections=$4 authorization=${5:-}
  local script
  script=$(mktemp --suffix=.lua)
  {
    echo 'wrk.method = "POST"'
    printf 'wrk.body = [==[%s]==]\n' "$body"
    echo 'wrk.headers["Content-Type"] = "application/json"'
    # The host names every invocation; without this the handler makes up a correlation id.
    echo 'wrk.headers["X-Azure-Functions-InvocationId"] = "0f9e8d7c-6b5a-4321-9876-543210fedcba"'
    [ -n "$authorization" ] && printf 'wrk.headers["Authorization"] = "%s"\n' "$authorization"
    cat <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format("%.0f %.3f %.3f %.3f %d %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
LUA
  } > "$script"
  # One wrk thread: the machine has two cores, and the server under test needs them more.
  "${load_pin[@]}" wrk -t 1 -c "$connections" -d "${seconds}s" -s "$script" "$url" | tail -1
  rm -f "$script"
}

# show_result LABEL < wrk_post line: the line for people.
show_result() {
  awk -v label="$1" '{printf "%-44s %8d req/s  p50 %6.3f ms  p99 %6.3f ms  p99.9 %6.3f ms  errors %d  non-2xx %d\n", label, $1, $2, $3, $4, $5, $6}'
}

# start_handler BINARY PORT [NAME=VALUE...]: starts BINARY as the Functions host does (in the
# current directory, settings in the environment only); sets $pid.
start_handler() {
  local binary=$1 port=$2
  shift 2
  "${server_pin[@]}" env -i PATH="$PATH" FUNCTIONS_CUSTOMHANDLER_PORT="$port" \
    RUST_LOG="${RUST_LOG:-info}" "$@" "$binary" >/dev/null 2>&1 &
  pid=$!
  wait_ready "$port"
}

# Commands that put the server and the load generator on CPUs of their own (set by
# pin_server_and_load; empty otherwise).
server_pin=()
load_pin=()

# On a machine with two or more CPUs, gives the load generator the last CPU and the server the
# others, so that the two do not take turns on the same cores (which shows up as milliseconds
# of p99 that belong to the scheduler, not to the server).
pin_server_and_load() {
  local cpus
  cpus=$(nproc)
  if [ "$cpus" -ge 2 ] && command -v taskset >/dev/null; then
    server_pin=(taskset -c "0-$((cpus - 2))")
    [ "$cpus" -eq 2 ] && server_pin=(taskset -c 0)
    load_pin=(taskset -c "$((cpus - 1))")
  fi
}

# Where cargo puts release builds (CARGO_TARGET_DIR is honoured).
release=$(realpath -m "${CARGO_TARGET_DIR:-target}")/release
