#!/usr/bin/env bash
# Unauthenticated floods against `pushdeploy serve`, with RSS before / during / after:
#  1. tokenless 1 MiB bodies to POST /hooks/registry (401 from the header, body never read);
#  2. unsigned 1 MiB bodies to POST /hooks/forgejo (HMAC needs the body: bounded by
#     server.maxBodiesInFlight / maxBodyBytesInFlight, past which 503 + Retry-After).
# Each flood runs wrk with 100 connections for 10 s (far more than 1,000 bodies).
# Usage: bench/wrk-flood.sh   (PROFILE=debug to use target/debug instead of a release build)
source "$(dirname "$0")/wrk-common.sh"
start_server "  bodyLimit: 1048576
  forgejo: {secrets: [{fromEnv: FORGEJO_SECRET}]}
" NOTIFY_AUTH="Bearer flood-token" FORGEJO_SECRET=flood-secret RUST_LOG=warn
rss() { awk '/VmRSS/ {printf "%.1f MB", $2/1024}' "/proc/$server/status"; }
cat > "$work/flood.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Forgejo-Event-Type"] = "package"
wrk.body = string.rep("x", 1024 * 1024 - 16)
LUA
statuses() { awk '/Requests\/sec/ {print $2 " req/s"} /Non-2xx/ {print "non-2xx: " $5}' | paste -sd' '; }
echo "RSS at start:                 $(rss)"
for route in /hooks/registry /hooks/forgejo; do
  wrk -t2 -c100 -d10s -s "$work/flood.lua" "http://127.0.0.1:$port$route" > "$work/wrk.out" &
  flood=$!
  peak=0
  while kill -0 $flood 2>/dev/null; do
    now=$(awk '/VmRSS/ {print $2}' "/proc/$server/status"); [ "$now" -gt "$peak" ] && peak=$now
    sleep 0.2
  done
  echo "$route flood: $(statuses < "$work/wrk.out"); peak RSS during: $((peak / 1024)) MB"
  sleep 5
  echo "RSS 5 s after the $route flood: $(rss)"
done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null && echo "/healthz answers after both floods"
curl -fsS "http://127.0.0.1:$port/metrics" | grep -E '^pushdeploy_http_refused_total' || true
