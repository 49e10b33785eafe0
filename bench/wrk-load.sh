#!/usr/bin/env bash
# Accepted-intake latency under 50 concurrent senders: wrk --latency against POST
# /hooks/registry with a new event id per request (each journaled with synchronous=FULL before
# the 200), RSS before / during / after, and the floor in the same run (GET /healthz, same
# concurrency). Goal: p99 <= 250 ms; memory plateaus during and comes back down after.
# Usage: bench/wrk-load.sh [seconds]   (PROFILE=debug to use target/debug)
seconds=${1:-30}
source "$(dirname "$0")/wrk-common.sh"
start_server "" NOTIFY_AUTH="Bearer wrk-token" RUST_LOG=error
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
rss() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$server/status"; }
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
sleep 10
echo "RSS MB 10 s after: $(rss)"
echo "journal backlog after: $(curl -fsS "http://127.0.0.1:$port/status" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("journal_backlog"))')"
