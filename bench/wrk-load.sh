#!/usr/bin/env bash
# Accepted-intake latency under 50 concurrent senders: wrk --latency against POST
# /hooks/registry with a new event id per request (each journaled with synchronous=FULL before
# the 200), RSS before / during / after, and the floor in the same run (GET /healthz, same
# concurrency). Goal: p99 <= 250 ms; memory plateaus during and comes back down after.
# REGISTRY=dead (default): the image's registry is 127.0.0.1:1, so every event stays unfinished
# and is retried every 10 s. REGISTRY=live: a real docker-registry (Debian's) without the
# pushed tags, so every event is checked and fails for good; the backlog drains.
# After the load: RSS while waiting (up to DRAIN seconds, default 120) for the backlog to
# drain, then 30 s later. HEAPTRACK=1 runs the service under heaptrack (profile kept).
# Usage: bench/wrk-load.sh [seconds]   (PROFILE=debug to use target/debug; BIN=path for another binary)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench/wrk-load.sh: install wrk (apt-get install wrk)" >&2; exit 1; }
seconds=${1:-30}
profile=${PROFILE:-release}
if [ -n "${BIN:-}" ]; then :; elif [ "$profile" = release ]; then cargo build --release --quiet; else cargo build --quiet; fi
binary=${BIN:-target/$profile/pushdeploy}
work=$(mktemp -d)
registry_pid=""
trap 'kill $(pid_of_service) $registry_pid 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
registry=127.0.0.1:1
if [ "${REGISTRY:-dead}" = live ]; then
  registry=127.0.0.1:$(free_port)
  mkdir -p "$work/storage"
  printf 'version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: %s, secret: bench}\n' \
    "$work/storage" "$registry" > "$work/registry.yml"
  docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
  registry_pid=$!
  for _ in $(seq 100); do curl -fsS "http://$registry/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
fi
cat > "$work/pushdeploy.yaml" <<YAML
dataDir: $work/data
server: {listen: 127.0.0.1:$port}
intake:
  registry: {authorization: [{fromEnv: NOTIFY_AUTH}]}
imageRepositories: [{name: app, image: $registry/app, insecure: true, interval: 1h}]
imagePolicies: [{name: app, imageRepositoryRef: {name: app}, policy: {numerical: {order: asc}}}]
YAML
wrapper=()
if [ -n "${HEAPTRACK:-}" ]; then wrapper=(heaptrack -o "${HEAPTRACK_OUT:-/tmp/pushdeploy-heaptrack}"); fi
NOTIFY_AUTH="Bearer wrk-token" RUST_LOG=error "${wrapper[@]}" "$binary" serve --config "$work/pushdeploy.yaml" 2>"$work/log" &
server=$!
for _ in $(seq 300); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
cat > "$work/post.lua" <<'LUA'
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/vnd.docker.distribution.events.v1+json"
wrk.headers["Authorization"] = "Bearer wrk-token"
request = function()
  counter = counter + 1
  local id = string.format("%d-%d", math.random(1, 1e9), counter)
  local body = '{"events":[{"id":"' .. id .. '","action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"app","tag":"' .. counter .. '-a","url":"http://127.0.0.1:1/v2/app/manifests/x"}}]}'
  return wrk.format(nil, "/hooks/registry", nil, body)
end
LUA
pid_of_service() { local child=""; [ -n "${HEAPTRACK:-}" ] && child=$(pgrep -P "$server" -f 'pushdeploy serve' | head -1); echo "${child:-$server}"; }
rss() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$(pid_of_service)/status"; }
summary() { awk '/Requests\/sec/ {rate=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Non-2xx/ {bad=$4} END {printf "p50 %s, p99 %s, %s req/s, non-2xx %s", p50, p99, rate, (bad == "" ? 0 : bad)}'; }
echo "uptime: $(uptime)"
echo "floor GET /healthz, 50 connections: $(wrk -t2 -c50 -d5s --latency "http://127.0.0.1:$port/healthz" | summary)"
before=$(rss)
wrk -t2 -c50 -d"${seconds}s" --latency -s "$work/post.lua" "http://127.0.0.1:$port" > "$work/wrk.out" &
load=$!
samples=""
while kill -0 $load 2>/dev/null; do samples="$samples $(rss)"; sleep 2; done
echo "accepted POST /hooks/registry, 50 connections, ${seconds}s: $(summary < "$work/wrk.out")"
echo "RSS MB before: $before; during (every 2 s):$samples"
peak=$(printf '%s\n' $samples | sort -n | tail -1)
echo "RSS MB peak during: $peak"
backlog() { curl -fsS "http://127.0.0.1:$port/status" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("journal_backlog"))'; }
echo "journal backlog at the end of the load: $(backlog)"
drained=""
for _ in $(seq $(( ${DRAIN:-120} / 5 ))); do
  [ "$(backlog)" = 0 ] && { drained=yes; break; }
  sleep 5
  echo "  waiting for the backlog: $(backlog) events, RSS $(rss) MB"
done
echo "backlog drained: ${drained:-no, $(backlog) events still unfinished}; RSS MB then: $(rss)"
sleep 30
echo "RSS MB 30 s after that: $(rss)"
echo "journal backlog after: $(backlog)"
