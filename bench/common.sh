# Shared by the bench scripts (sourced, not run).

# Installs wrk from Debian when it is missing.
ensure_wrk() {
  if ! command -v wrk >/dev/null; then
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
  fi
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

# wrk_post URL BODY SECONDS CONNECTIONS [AUTHORIZATION]: one line of requests/s and percentiles.
wrk_post() {
  local url=$1 body=$2 seconds=$3 connections=$4 authorization=${5:-}
  local script
  script=$(mktemp --suffix=.lua)
  {
    echo 'wrk.method = "POST"'
    printf 'wrk.body = [==[%s]==]\n' "$body"
    echo 'wrk.headers["Content-Type"] = "application/json"'
    [ -n "$authorization" ] && printf 'wrk.headers["Authorization"] = "%s"\n' "$authorization"
    cat <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format("requests/s %.0f  p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  errors %d non-2xx %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
LUA
  } > "$script"
  wrk -t 2 -c "$connections" -d "${seconds}s" -s "$script" "$url" | tail -1
  rm -f "$script"
}
